/* Small file helpers. */
#ifndef RB_IO_H
#define RB_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees).
 * Refuses files over max_bytes (0 = 4 GiB) with a clear error. */
int rb_read_file(const char *path, size_t max_bytes, char **data, size_t *len, rb_error *err);

/* Maps a whole regular file read-only (shared).  On success *map is the
 * mapping (NULL for an empty file, which is not mapped) and *size its length
 * in bytes; the caller releases it with rb_unmap_file.  On failure nothing is
 * left mapped and *map is NULL. */
int rb_map_file(const char *path, void **map, uint64_t *size, rb_error *err);

/* Releases a mapping from rb_map_file; a NULL map is a no-op. */
void rb_unmap_file(void *map, uint64_t size);

/* Atomic writes: the output is written under a temporary name in the same
 * directory (".NAME.tmp.XXXXXX", so a rename cannot cross file systems),
 * flushed to disk, then renamed over `path`; on any failure the temporary
 * is removed, so a reader never sees a partial file.
 *
 * rb_atomic_create opens the temporary for writing (its name in tmp[cap]);
 * rb_atomic_commit fflush/fsync/fclose's it and renames it to path (on
 * failure it removes it: RB_EIO naming path); rb_atomic_abort closes and
 * removes it (f may be NULL). */
int rb_atomic_create(const char *path, char *tmp, size_t cap, FILE **f, rb_error *err);
int rb_atomic_commit(FILE *f, const char *tmp, const char *path, rb_error *err);
void rb_atomic_abort(FILE *f, const char *tmp);

/* The same for a directory: rb_atomic_mkdir makes an empty temporary
 * directory beside path; rb_atomic_dir_commit fsyncs its files and renames
 * it to path, which must not exist or be an empty directory (else RB_EIO
 * "exists and is not empty", and the temporary is removed);
 * rb_atomic_dir_abort removes the temporary and the plain files in it. */
int rb_atomic_mkdir(const char *path, char *tmp, size_t cap, rb_error *err);
int rb_atomic_dir_commit(const char *tmp, const char *path, rb_error *err);
void rb_atomic_dir_abort(const char *tmp);

/* Copies the file src to dst (created or truncated). */
int rb_copy_file(const char *src, const char *dst, rb_error *err);

/* Monotonic wall clock in seconds. */
double rb_now(void);

#endif
