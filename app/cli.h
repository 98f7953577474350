/* Shared pieces of the rotbench subcommands: option parsing helpers, model
 * and tokenizer resolution, threads, progress.  Only app/ prints and exits. */
#ifndef RB_APP_CLI_H
#define RB_APP_CLI_H

#include <stdint.h>

#include "core/error.h"
#include "core/model.h"
#include "core/tokenizer.h"

typedef struct rb_cli_model {
    char model_path[1024];
    char tokenizer_path[1024];
    char model_sha256[65];
    char tokenizer_sha256[65];
    rb_model *model;
    rb_tokenizer *tokenizer; /* NULL when not requested */
} rb_cli_model;

/* Resolves and loads --model (name or file; default stories260K) and, when
 * want_tokenizer, --tokenizer (name or file; default: the named model's). */
int rb_cli_load(const char *model, const char *tokenizer, const char *data_dir,
                int want_tokenizer, int want_hashes, rb_cli_model *out, rb_error *err);
void rb_cli_unload(rb_cli_model *cm);

/* Parses a decimal integer in [lo, hi] or exits with a message naming flag. */
long rb_cli_int(const char *flag, const char *value, long lo, long hi);

/* Parses a bit width: 2..8, or 16 (off). */
long rb_cli_bits(const char *flag, const char *value);

/* Applies --threads (0 = all cores) to OpenMP and OpenBLAS; returns it. */
int rb_cli_set_threads(int threads);

/* Prints "error: <msg>" to stderr and returns exit status 1. */
int rb_cli_fail(const rb_error *err);

/* Progress callback for rb_perplexity (ctx: rb_cli_progress_state): a line
 * on stderr at most every 2 s, and one at the end. */
typedef struct rb_cli_progress_state {
    const char *label;
    double last;
} rb_cli_progress_state;
void rb_cli_progress(void *state, size_t done, size_t total, double seconds);

/* Re-executes the program with OPENBLAS_CORETYPE=SkylakeX when the CPU has
 * AVX-512 and no core type was chosen (see app/blas_kernels.c). */
void rb_cli_choose_blas_kernels(char **argv);

int rb_cmd_eval(int argc, char **argv);
int rb_cmd_generate(int argc, char **argv);
int rb_cmd_synth(int argc, char **argv);

#endif
