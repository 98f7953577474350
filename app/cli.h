/* Shared pieces of the rotbench subcommands: option parsing helpers, the run
 * flags as getopt options, printing the library's reports.  Only app/ prints
 * and exits. */
#ifndef RB_APP_CLI_H
#define RB_APP_CLI_H

#include <getopt.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "eval/records.h"
#include "run/flags.h"
#include "run/prepare.h"
#include "run/report.h"
#include "run/spec.h"

typedef rb_run_model rb_cli_model;

/* rb_run_load (run/prepare.h) of --model (name or file; default stories260K)
 * and, when want_tokenizer, --tokenizer (default: the named model's). */
int rb_cli_load(const char *model, const char *tokenizer, const char *data_dir,
                int want_tokenizer, int want_hashes, rb_cli_model *out, rb_error *err);
void rb_cli_unload(rb_cli_model *cm);

/* Parses a decimal integer in [lo, hi] or exits with a message naming flag. */
long rb_cli_int(const char *flag, const char *value, long lo, long hi);

/* Parses a number in (0, 1) (a confidence level) or exits with status 2. */
double rb_cli_fraction(const char *flag, const char *value);

/* --output-format (NULL or "lm-eval") and --output-path must come together,
 * and --log-samples (log_samples 1) needs them: 0, or prints the error and
 * returns 2. */
int rb_cli_check_output_format(const char *format, const char *path, int log_samples);

/* Parses a bit width: 2..8, or 16 (off). */
long rb_cli_bits(const char *flag, const char *value);

/* Applies --threads (0 = all cores) to OpenMP and OpenBLAS; returns it. */
int rb_cli_set_threads(int threads);

/* Prints "error: <msg>" to stderr and returns exit status 1. */
int rb_cli_fail(const rb_error *err);

/* The library's log lines, printed on stderr one per line. */
extern const rb_log rb_cli_log;

/* Parses one --where AXIS=LABEL (in place: text must outlive where) into
 * where[*n] (capacity cap) and counts it; prints the error and returns
 * nonzero when it is malformed or there are too many. */
int rb_cli_add_where(rb_where *where, size_t *n, size_t cap, char *text);

/* Reads the results files sources[0..n) (paths or globs, merged:
 * eval/records_merge.h) into *recs, printing their ignored lines as
 * warnings and a note on dropped duplicates.  With n == 0 the default is
 * results (a config's file) and its shards' files (x.shard-*-of-*.jsonl),
 * whichever exist.  *label: how messages name the sources (static or one of
 * the arguments).  Prints the error and returns 1 on failure. */
int rb_cli_load_results(char *const *sources, size_t n, const char *results, rb_records *recs,
                        const char **label);

/* Re-executes the program with OPENBLAS_CORETYPE=SkylakeX when the CPU has
 * AVX-512 and no core type was chosen (see app/blas_kernels.c). */
void rb_cli_choose_blas_kernels(char **argv);

/* ---- the run flags (run/flags.h) -------------------------------------------
 *
 * A command that takes run flags (eval: all; stats: load, pipeline and
 * weights) builds its getopt_long table with rb_cli_run_options, hands each
 * option to rb_cli_run_flag (which says whether it was one of them), and
 * prints the matching RB_CLI_HELP_* texts in its --help. */

/* The getopt_long table of the run flags in groups followed by extra
 * (terminated by a zero entry); malloc'd, free() it.  A run flag's val is
 * RB_CLI_O_RUN + its index in rb_run_flags(). */
enum { RB_CLI_O_RUN = 1000, RB_CLI_O_END = 1200 /* first value free for a command */ };
struct option *rb_cli_run_options(unsigned groups, const struct option *extra);

/* Sets spec from getopt_long's ch and optarg when ch is a run flag: returns
 * 1 (exits with status 2 and a message on a bad value), else 0. */
int rb_cli_run_flag(rb_run_spec *spec, int ch, const char *arg);

/* Parses argv: the run flags of groups into spec, --help (usage on stdout),
 * and the command's own options (extra, ending with a zero entry) through
 * own(ctx, ch, optarg), which returns 0 for an option it does not know.
 * Returns -1 when parsing succeeded, else the exit status: 0 after --help,
 * 2 after an unknown option (usage on stderr) or a stray argument. */
int rb_cli_parse(int argc, char **argv, unsigned groups, const struct option *extra,
                 rb_run_spec *spec, int (*own)(void *ctx, int ch, const char *arg), void *ctx,
                 void (*usage)(FILE *f));

/* Prints a run's log lines and progress on stderr (progress: a line at most
 * every 2 s per label, and one at the end). */
typedef struct rb_cli_reporter {
    rb_run_report report;
    const char *what; /* the label of the last progress line */
    double last;
} rb_cli_reporter;
void rb_cli_reporter_init(rb_cli_reporter *r);

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
    "  --w-clip C              clip ratio in (0,1] or mse (default 1)\n"            \
    "  --w-override RULES      per-layer / per-linear weight settings, ';'-separated\n"   \
    "                          rules of ':'-separated items: linears (wq..w3 or\n"        \
    "                          q_proj..down_proj), layer=0,-1 / A..B, bits=N, gran=,\n"   \
    "                          group=G, asym=0|1, clip=R|mse, skip; e.g.\n"               \
    "                          'down_proj:bits=8;layer=0,-1:skip'\n"   \
    "  --w-scale-f16           round weight scales to fp16, as GGUF Q8_0/Q4_0 store them\n"
#define RB_CLI_HELP_ACT                                                                  \
    "  --a-bits N              activation bits at every linear input (16 = off)\n"         \
    "  --a-gran G              tensor | token   (default token)\n"                         \
    "  --a-static              static activation scales (calibrated max; per-tensor)\n"    \
    "  --a-dynamic             dynamic scales per window (default)\n"                      \
    "  --a-asym, --a-clip C    as for weights\n"                                           \
    "  --a-override RULES      per-layer / per-linear activation settings, rules as\n"    \
    "                          --w-override's at each linear's input ('down_proj:bits=8';\n" \
    "                          naming wq, wk or wv selects their shared input)\n"          \
    "  --kv-bits N             K/V cache bits (16 = off)\n"                                \
    "  --kv-gran G             tensor | token | head (per token and head)  (default head)\n" \
    "  --kv-static, --kv-asym  static per-tensor KV scales; asymmetric KV\n"               \
    "  --kv-clip C             K/V clip ratio in (0, 1] (default 1)\n"                    \
    "  --k-bits N, --k-gran G, --k-asym, --k-clip C   K alone (after RoPE / R3),\n"        \
    "                          overriding the --kv-* value (QuaRot's --k_*)\n"              \
    "  --v-bits N, --v-gran G, --v-asym, --v-clip C   V alone, likewise (--v_*);\n"         \
    "                          K/V groups G must divide head_dim (or be whole heads)\n"    \
    "  --quantize-classifier   also quantize the classifier's input and weight\n"
#define RB_CLI_HELP_SEED "  --seed N                seed of the run (calibration sampling, rotations)\n"
#define RB_CLI_HELP_CALIB_SIZE                                                           \
    "  --calib-windows N       calibration windows (default 32)\n"                         \
    "  --calib-len N           tokens per calibration window (default 256)\n"          \
    "  --calib-skip N          draw windows only after the corpus's first N tokens\n"      \
    "                          (calibrate on a scored corpus's unscored tail)\n"      \
    "  --allow-long-ctx        allow windows longer than the model's maximum context\n"  \
    "                          (refused by default; recorded in the result)\n"

int rb_cmd_eval(int argc, char **argv);
int rb_cmd_generate(int argc, char **argv);
int rb_cmd_synth(int argc, char **argv);
int rb_cmd_stats(int argc, char **argv);

#endif
