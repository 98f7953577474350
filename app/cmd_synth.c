/* rotbench synth: write a model of any shape with seeded random weights, as a
 * llama2.c v0 file, a Hugging Face directory or a GGUF file (for tests and
 * for speed measurements at real model sizes). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "core/model_save.h"

static void synth_usage(FILE *f) {
    fputs("usage: rotbench synth --out PATH [options]\n"
          "  --dim N (default 4096)  --hidden N (11008)  --layers N (2)  --heads N (32)\n"
          "  --kv-heads N (= heads)  --vocab N (32000)  --seq-len N (2048)  --seed N (1)\n"
          "  --shared-classifier     tie the classifier to the embedding (the default is a\n"
          "                          separate one: a tied random embedding makes each\n"
          "                          token predict itself, so ppl overflows)\n"
          "  --format F              llama2c | hf | gguf (default: gguf for a path ending\n"
          "                          in .gguf, else llama2c); hf writes a directory\n"
          "  --dtype T               f32 | bf16 | f16 (hf, gguf; default f32)\n"
          "  --shards N              hf: N safetensors files + model.safetensors.index.json\n"
          "  --qkv-bias              q/k/v biases (written as Qwen2: HF Qwen2ForCausalLM,\n"
          "                          GGUF qwen2)\n"
          "  --rope-theta X          RoPE base (default 10000)\n"
          "  --rope-scaling S        linear:FACTOR | llama3:FACTOR:LOW:HIGH:ORIG_MAX_POS (hf)\n"
          "                          | freqs (gguf rope_freqs.weight factors)\n"
          "Defaults are Llama-2-7B layer shapes.\n",
          f);
}

static int parse_scaling(const char *s, rb_config *c) {
    double f, lo, hi;
    int orig;
    if (strcmp(s, "freqs") == 0) {
        c->rope_scaling = RB_ROPE_SCALING_FREQ_FACTORS;
        return 1;
    }
    if (sscanf(s, "linear:%lf", &f) == 1 && f > 0) {
        c->rope_scaling = RB_ROPE_SCALING_LINEAR;
        c->rope_factor = (float)f;
        return 1;
    }
    if (sscanf(s, "llama3:%lf:%lf:%lf:%d", &f, &lo, &hi, &orig) == 4 && f > 0 && hi > lo &&
        orig > 0) {
        c->rope_scaling = RB_ROPE_SCALING_LLAMA3;
        c->rope_factor = (float)f;
        c->rope_low_freq_factor = (float)lo;
        c->rope_high_freq_factor = (float)hi;
        c->rope_orig_max_pos = orig;
        return 1;
    }
    return 0;
}

int rb_cmd_synth(int argc, char **argv) {
    const char *out = NULL, *format = NULL, *dtype = "f32";
    rb_config c = {.dim = 4096, .hidden_dim = 11008, .n_layers = 2, .n_heads = 32,
                   .n_kv_heads = 0, .vocab_size = 32000, .seq_len = 2048,
                   .norm_eps = 1e-5f, .rope_theta = 10000.0f};
    long seed = 1, shards = 1;
    int shared = 0;
    enum { O_FORMAT = 300, O_DTYPE, O_SHARDS, O_BIAS, O_THETA, O_SCALING };
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},    {"dim", required_argument, 0, 'D'},
        {"hidden", required_argument, 0, 'H'}, {"layers", required_argument, 0, 'L'},
        {"heads", required_argument, 0, 'h'},  {"kv-heads", required_argument, 0, 'K'},
        {"vocab", required_argument, 0, 'V'},  {"seq-len", required_argument, 0, 'S'},
        {"seed", required_argument, 0, 's'},   {"shared-classifier", no_argument, 0, 'C'},
        {"format", required_argument, 0, O_FORMAT}, {"dtype", required_argument, 0, O_DTYPE},
        {"shards", required_argument, 0, O_SHARDS}, {"qkv-bias", no_argument, 0, O_BIAS},
        {"rope-theta", required_argument, 0, O_THETA},
        {"rope-scaling", required_argument, 0, O_SCALING},
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
        case O_FORMAT: format = optarg; break;
        case O_DTYPE: dtype = optarg; break;
        case O_SHARDS: shards = rb_cli_int("--shards", optarg, 1, 200); break;
        case O_BIAS: c.qkv_bias = 1; break;
        case O_THETA: {
            char *end;
            c.rope_theta = strtof(optarg, &end);
            if (*end || !(c.rope_theta > 0)) {
                fprintf(stderr, "error: --rope-theta expects a positive number, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case O_SCALING:
            if (!parse_scaling(optarg, &c)) {
                fprintf(stderr, "error: --rope-scaling expects linear:F, llama3:F:LOW:HIGH:ORIG "
                                "or freqs, got '%s'\n", optarg);
                return 2;
            }
            break;
        case '?' + 256: synth_usage(stdout); return 0;
        default: synth_usage(stderr); return 2;
        }
    }
    if (!out) {
        synth_usage(stderr);
        return 2;
    }
    rb_save_options so = {.format = RB_FORMAT_LLAMA2C, .dtype = RB_DTYPE_F32, .shards = (int)shards};
    size_t ol = strlen(out);
    if (!format) format = ol > 5 && strcmp(out + ol - 5, ".gguf") == 0 ? "gguf" : "llama2c";
    if (strcmp(format, "hf") == 0) so.format = RB_FORMAT_HF;
    else if (strcmp(format, "gguf") == 0) so.format = RB_FORMAT_GGUF;
    else if (strcmp(format, "llama2c") != 0) {
        fprintf(stderr, "error: --format expects llama2c, hf or gguf, got '%s'\n", format);
        return 2;
    }
    if (strcmp(dtype, "bf16") == 0) so.dtype = RB_DTYPE_BF16;
    else if (strcmp(dtype, "f16") == 0) so.dtype = RB_DTYPE_F16;
    else if (strcmp(dtype, "f32") != 0) {
        fprintf(stderr, "error: --dtype expects f32, bf16 or f16, got '%s'\n", dtype);
        return 2;
    }
    if (!c.n_kv_heads) c.n_kv_heads = c.n_heads;
    c.head_dim = c.dim / c.n_heads;
    rb_error err = {0};
    rb_model *m = NULL;
    int rc = rb_model_synthetic(&c, shared, (uint64_t)seed, &m, &err);
    if (!rc) rc = rb_model_save_as(m, out, &so, &err);
    rb_model_free(m);
    if (rc) return rb_cli_fail(&err);
    fprintf(stderr, "synth: wrote %s (%s, %s; dim %d, hidden %d, layers %d, heads %d/%d, vocab %d)\n",
            out, format, dtype, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
            c.vocab_size);
    return 0;
}
