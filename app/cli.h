/* Shared pieces of the rotbench subcommands: option parsing helpers, model
 * and tokenizer resolution, threads, progress.  Only app/ prints and exits. */
#ifndef RB_APP_CLI_H
#define RB_APP_CLI_H

#include <getopt.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "core/calib.h"
#include "base/error.h"
#include "core/model.h"
#include "core/quant.h"
#include "core/tokenizer.h"
#include "eval/records.h"
#include "methods/method.h"

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

/* Checks value against the eval flag `name` (without "--") of
 * eval/eval_flags.h or exits with status 2 and its message; returns the
 * integer for INT and BITS flags (else 0). */
long long rb_cli_flag(const char *name, const char *value);

/* Whether a getopt table (ending with a zero entry) and the eval flag table
 * list the same flags, switches as switches ("help" aside): 0, or 70 after
 * printing the difference (an internal error). */
int rb_cli_check_flag_table(const struct option *opts);

/* Applies --threads (0 = all cores) to OpenMP and OpenBLAS; returns it. */
int rb_cli_set_threads(int threads);

/* Prints "error: <msg>" to stderr and returns exit status 1. */
int rb_cli_fail(const rb_error *err);

/* Progress callback for rb_perplexity (ctx: rb_cli_progress_state): a line
 * on stderr at most every 2 s, and one at the end. */
typedef struct rb_cli_progress_state {
    const char *label;
    double last;
    const char *unit; /* "item", ...; NULL = "window" */
} rb_cli_progress_state;
void rb_cli_progress(void *state, size_t done, size_t total, double seconds);

/* Parses one --where AXIS=LABEL (in place: text must outlive where) into
 * where[*n] (capacity cap) and counts it; prints the error and returns
 * nonzero when it is malformed or there are too many. */
int rb_cli_add_where(rb_where *where, size_t *n, size_t cap, char *text);

/* Re-executes the program with OPENBLAS_CORETYPE=SkylakeX when the CPU has
 * AVX-512 and no core type was chosen (see app/blas_kernels.c). */
void rb_cli_choose_blas_kernels(char **argv);

/* ---- flags shared by the commands that prepare a model (eval, stats) ------
 *
 * The pipeline, the seed, the calibration set and the quantizers.  A command
 * puts the groups it accepts into its getopt_long table with the
 * RB_CLI_*_OPTIONS macros, hands every option value to rb_cli_prep_flag
 * (which says whether it was one of these), prints the matching
 * RB_CLI_HELP_* texts in its --help, and after loading the model calls
 * rb_cli_prep_finish and rb_cli_build_calib. */
typedef struct rb_cli_prep {
    const char *pipeline;                 /* --pipeline ("" = none) */
    const char *calib;                    /* --calib (NULL = the command's default) */
    long seed, calib_windows, calib_len;  /* 0, 32, 256 */
    long calib_skip;                      /* --calib-skip: leading tokens not drawn from (0) */
    int allow_long_ctx;                   /* --allow-long-ctx: windows past the model's
                                             maximum context are allowed (recorded) */
    const char *w_gran, *a_gran, *kv_gran, *w_clip, *a_clip; /* as given */
    rb_quant_config quant;                /* bits and switches as parsed; owned */
} rb_cli_prep;

enum {
    RB_CLI_O_PIPE = 1000, RB_CLI_O_SEED, RB_CLI_O_CAL, RB_CLI_O_CALW, RB_CLI_O_CALL,
    RB_CLI_O_CALS, RB_CLI_O_LONG,
    RB_CLI_O_WB, RB_CLI_O_WG, RB_CLI_O_WA, RB_CLI_O_WC,
    RB_CLI_O_AB, RB_CLI_O_AG, RB_CLI_O_AS, RB_CLI_O_AD, RB_CLI_O_AA, RB_CLI_O_AC,
    RB_CLI_O_KB, RB_CLI_O_KG, RB_CLI_O_KS, RB_CLI_O_KA, RB_CLI_O_QC,
    RB_CLI_O_END /* first value free for a command's own options */
};

/* --pipeline, --seed, --calib, --calib-windows, --calib-len, --calib-skip,
 * --allow-long-ctx */
#define RB_CLI_PIPELINE_OPTIONS                                                          \
    {"pipeline", required_argument, 0, RB_CLI_O_PIPE},                                   \
    {"seed", required_argument, 0, RB_CLI_O_SEED},                                       \
    {"calib", required_argument, 0, RB_CLI_O_CAL},                                       \
    {"calib-windows", required_argument, 0, RB_CLI_O_CALW},                              \
    {"calib-len", required_argument, 0, RB_CLI_O_CALL},                                  \
    {"calib-skip", required_argument, 0, RB_CLI_O_CALS},                                 \
    {"allow-long-ctx", no_argument, 0, RB_CLI_O_LONG}
/* --w-bits, --w-gran, --w-asym, --w-clip */
#define RB_CLI_WEIGHT_OPTIONS                                                            \
    {"w-bits", required_argument, 0, RB_CLI_O_WB},                                       \
    {"w-gran", required_argument, 0, RB_CLI_O_WG},                                       \
    {"w-asym", no_argument, 0, RB_CLI_O_WA},                                             \
    {"w-clip", required_argument, 0, RB_CLI_O_WC}
/* --a-*, --kv-*, --quantize-classifier */
#define RB_CLI_ACT_OPTIONS                                                               \
    {"a-bits", required_argument, 0, RB_CLI_O_AB},                                       \
    {"a-gran", required_argument, 0, RB_CLI_O_AG},                                       \
    {"a-static", no_argument, 0, RB_CLI_O_AS},                                           \
    {"a-dynamic", no_argument, 0, RB_CLI_O_AD},                                          \
    {"a-asym", no_argument, 0, RB_CLI_O_AA},                                             \
    {"a-clip", required_argument, 0, RB_CLI_O_AC},                                       \
    {"kv-bits", required_argument, 0, RB_CLI_O_KB},                                      \
    {"kv-gran", required_argument, 0, RB_CLI_O_KG},                                      \
    {"kv-static", no_argument, 0, RB_CLI_O_KS},                                          \
    {"kv-asym", no_argument, 0, RB_CLI_O_KA},                                            \
    {"quantize-classifier", no_argument, 0, RB_CLI_O_QC}

/* --help lines of the groups (--calib's default differs per command and is
 * documented by each). */
#define RB_CLI_HELP_PIPELINE                                                             \
    "  --pipeline STAGES       e.g. \"outliers:scale=20,smoothquant:alpha=0.5,gptq\"\n"     \
    "                          (stages: name:key=value:...; see README \"Methods\")\n"
#define RB_CLI_HELP_WEIGHTS                                                              \
    "  --w-bits N              weight bits 2..8 (16 = off, default); RTN unless a\n"        \
    "                          stage quantizes weights itself (gptq)\n"                     \
    "  --w-gran G              tensor | channel | group:G   (default channel)\n"           \
    "  --w-asym                asymmetric weights (default symmetric)\n"                   \
    "  --w-clip C              clip ratio in (0,1] or mse (default 1)\n"
#define RB_CLI_HELP_ACT                                                                  \
    "  --a-bits N              activation bits at every linear input (16 = off)\n"         \
    "  --a-gran G              tensor | token   (default token)\n"                         \
    "  --a-static              static activation scales (calibrated max; per-tensor)\n"    \
    "  --a-dynamic             dynamic scales per window (default)\n"                      \
    "  --a-asym, --a-clip C    as for weights\n"                                           \
    "  --kv-bits N             K/V cache bits (16 = off)\n"                                \
    "  --kv-gran G             tensor | token | head (per token and head)  (default head)\n" \
    "  --kv-static, --kv-asym  static per-tensor KV scales; asymmetric KV\n"               \
    "  --quantize-classifier   also quantize the classifier's input and weight\n"
#define RB_CLI_HELP_SEED "  --seed N                seed of the run (calibration sampling, rotations)\n"
#define RB_CLI_HELP_CALIB_SIZE                                                           \
    "  --calib-windows N       calibration windows (default 32)\n"                         \
    "  --calib-len N           tokens per calibration window (default 256)\n"          \
    "  --calib-skip N          draw windows only after the corpus's first N tokens\n"      \
    "                          (calibrate on a scored corpus's unscored tail)\n"      \
    "  --allow-long-ctx        allow windows longer than the model's maximum context\n"  \
    "                          (refused by default; recorded in the result)\n"

/* Defaults: no pipeline, seed 0, 32 windows of 256 tokens, quantizers off. */
void rb_cli_prep_init(rb_cli_prep *p);
void rb_cli_prep_free(rb_cli_prep *p);

/* Takes getopt_long's value ch (and optarg) when it is one of the shared
 * flags: returns 1 (exits with status 2 on a bad number, like rb_cli_int),
 * else 0. */
int rb_cli_prep_flag(rb_cli_prep *p, int ch, const char *arg);

/* Parses the granularities and clip settings into p->quant (against the
 * model's shape c), parses p->pipeline into pipe and appends rtn when
 * weights are quantized and no stage quantizes them. */
int rb_cli_prep_finish(rb_cli_prep *p, const rb_config *c, rb_pipeline *pipe, rb_error *err);

/* Tokenizes the calibration corpus (p->calib, else default_corpus: a name
 * or a file) with cm's tokenizer and draws p->calib_windows windows of
 * p->calib_len tokens with p->seed (refused past the model's maximum
 * context unless p->allow_long_ctx: rb_ctx_check).  The corpus's path goes
 * to path[cap]. */
int rb_cli_build_calib(const rb_cli_prep *p, const rb_cli_model *cm, const char *default_corpus,
                       const char *data_dir, rb_calib *out, char *path, size_t cap,
                       rb_error *err);

/* A quantizer's settings as JSON ({"bits": 16} when off; "static" only
 * with with_static), as eval's record writes them. */
json_object *rb_cli_quant_spec_json(const rb_quant_spec *s, int is_static, int with_static);

int rb_cmd_eval(int argc, char **argv);
int rb_cmd_generate(int argc, char **argv);
int rb_cmd_synth(int argc, char **argv);
int rb_cmd_stats(int argc, char **argv);

#endif
