/* rotbench synth: write a llama2.c v0 model of any shape with seeded random
 * weights (for tests and for speed measurements at real model sizes). */
#include <getopt.h>
#include <stdio.h>

#include "app/cli.h"

static void synth_usage(FILE *f) {
    fputs("usage: rotbench synth --out FILE [options]\n"
          "  --dim N (default 4096)  --hidden N (11008)  --layers N (2)  --heads N (32)\n"
          "  --kv-heads N (= heads)  --vocab N (32000)  --seq-len N (2048)  --seed N (1)\n"
          "  --shared-classifier     tie the classifier to the embedding (the default is a\n"
          "                          separate one: a tied random embedding makes each\n"
          "                          token predict itself, so ppl overflows)\n"
          "Defaults are Llama-2-7B layer shapes.\n",
          f);
}

int rb_cmd_synth(int argc, char **argv) {
    const char *out = NULL;
    rb_config c = {.dim = 4096, .hidden_dim = 11008, .n_layers = 2, .n_heads = 32,
                   .n_kv_heads = 0, .vocab_size = 32000, .seq_len = 2048,
                   .norm_eps = 1e-5f, .rope_theta = 10000.0f};
    long seed = 1;
    int shared = 0;
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},    {"dim", required_argument, 0, 'D'},
        {"hidden", required_argument, 0, 'H'}, {"layers", required_argument, 0, 'L'},
        {"heads", required_argument, 0, 'h'},  {"kv-heads", required_argument, 0, 'K'},
        {"vocab", required_argument, 0, 'V'},  {"seq-len", required_argument, 0, 'S'},
        {"seed", required_argument, 0, 's'},   {"shared-classifier", no_argument, 0, 'C'},
        {"help", no_argument, 0, '?' + 256},   {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'D': c.dim = (int)rb_cli_int("--dim", optarg, 2, 1 << 16); break;
        case 'H': c.hidden_dim = (int)rb_cli_int("--hidden", optarg, 1, 1 << 18); break;
        case 'L': c.n_layers = (int)rb_cli_int("--layers", optarg, 1, 1024); break;
        case 'h': c.n_heads = (int)rb_cli_int("--heads", optarg, 1, 1 << 16); break;
        case 'K': c.n_kv_heads = (int)rb_cli_int("--kv-heads", optarg, 1, 1 << 16); break;
        case 'V': c.vocab_size = (int)rb_cli_int("--vocab", optarg, 3, 1 << 22); break;
        case 'S': c.seq_len = (int)rb_cli_int("--seq-len", optarg, 1, 1 << 20); break;
        case 's': seed = rb_cli_int("--seed", optarg, 0, 1L << 62); break;
        case 'C': shared = 1; break;
        case '?' + 256: synth_usage(stdout); return 0;
        default: synth_usage(stderr); return 2;
        }
    }
    if (!out) {
        synth_usage(stderr);
        return 2;
    }
    if (!c.n_kv_heads) c.n_kv_heads = c.n_heads;
    c.head_dim = c.dim / c.n_heads;
    rb_error err = {0};
    rb_model *m = NULL;
    int rc = rb_model_synthetic(&c, shared, (uint64_t)seed, &m, &err);
    if (!rc) rc = rb_model_save(m, out, &err);
    rb_model_free(m);
    if (rc) return rb_cli_fail(&err);
    fprintf(stderr, "synth: wrote %s (dim %d, hidden %d, layers %d, heads %d/%d, vocab %d)\n", out,
            c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size);
    return 0;
}
