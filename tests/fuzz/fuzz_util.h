/* Helpers shared by the libFuzzer targets of tests/fuzz.
 *
 * Loaders that take a path get the fuzz input through a file: an anonymous
 * memfd reached as /proc/self/fd/N (no disk, nothing to clean up), or, for a
 * loader that derives a second path from the first (piqa's X-labels.lst), a
 * file in a per-process temporary directory removed at exit.
 */
#ifndef RB_FUZZ_UTIL_H
#define RB_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes data[0..size) to a fresh memfd and puts "/proc/self/fd/N" into
 * path[cap].  Returns the fd (close it when done) or -1 (then abort: the
 * harness, not the input, is broken). */
int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t cap);

/* Writes data[0..size) to <tempdir>/<name> (replacing it) and puts that path
 * into path[cap].  Aborts if it cannot. */
void fuzz_temp_file(const char *name, const uint8_t *data, size_t size, char *path, size_t cap);

/* $ROTBENCH_DATA/<rel>, else RB_SOURCE_ROOT/../shared/<rel>, into path[cap]. */
void fuzz_data_path(const char *rel, char *path, size_t cap);

/* Splits data at its first NUL byte: [0, *first) and [*second, size).
 * Without a NUL, the second part is empty. */
void fuzz_split(const uint8_t *data, size_t size, size_t *first, size_t *second);

/* Opens path (a file or a checkpoint directory) with rb_model_open and
 * rb_tokenizer_open and frees what opened; aborts when a model opens with an
 * invalid configuration or a refusal has no message. */
void fuzz_open_model_and_tokenizer(const char *path);

#endif
