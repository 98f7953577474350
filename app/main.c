/* rotbench: command-line entry point; dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "app/cli.h"

/* app/cmd_sweep.c, app/cmd_table.c, app/cmd_plot.c, app/cmd_hadamard.c */
int rb_cmd_sweep(int argc, char **argv);
int rb_cmd_table(int argc, char **argv);
int rb_cmd_plot(int argc, char **argv);
int rb_cmd_tokenize(int argc, char **argv); /* app/cmd_tokenize.c */
int rb_cmd_hadamard(int argc, char **argv);
int rb_cmd_compare(int argc, char **argv); /* app/cmd_compare.c */

static void usage(FILE *f) {
    fputs("usage: rotbench COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  eval      perplexity of a model on a corpus (--help for options)\n"
          "  generate  greedy generation, a quick sanity check\n"
          "  synth     write a llama2.c model of any shape with seeded random weights\n"
          "  sweep     run a config's grid of evals, appending JSON lines to a results file\n"
          "  table     Markdown/CSV tables (mean ± std over seeds) from a results file\n"
          "  compare   two methods over the same seeds and windows: paired t-test, bootstrap\n"
          "            interval, verdict (--expect 'a<b': exit 0 holds, 3 within noise,\n"
          "            4 contradicted)\n"
          "  plot      gnuplot line plots (.gp, .png, .svg) from a results file\n"
          "  stats     outlier statistics of the quantizer inputs per layer, before/after a pipeline\n"
          "  tokenize  the token ids the evaluator feeds the model (text, corpus or task)\n"
          "  hadamard  which Hadamard construction a transform size uses (--size N [--json])\n"
          "\n"
          "Data (models, corpora) is found in --data-dir, $ROTBENCH_DATA, or ../shared.\n",
          f);
}

int main(int argc, char **argv) {
    rb_cli_choose_blas_kernels(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "eval")) return rb_cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "generate")) return rb_cmd_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "synth")) return rb_cmd_synth(argc - 1, argv + 1);
    if (!strcmp(cmd, "sweep")) return rb_cmd_sweep(argc - 1, argv + 1);
    if (!strcmp(cmd, "table")) return rb_cmd_table(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare")) return rb_cmd_compare(argc - 1, argv + 1);
    if (!strcmp(cmd, "plot")) return rb_cmd_plot(argc - 1, argv + 1);
    if (!strcmp(cmd, "stats")) return rb_cmd_stats(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return rb_cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "hadamard")) return rb_cmd_hadamard(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
