/* rotbench generate: greedy decoding from BOS (or a prompt), a sanity check.
 * Each step re-runs the whole prefix through the batched forward (no
 * incremental KV cache), which is plenty for a check of a few hundred steps. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "core/forward.h"

static void generate_usage(FILE *f) {
    fputs("usage: rotbench generate [options]\n"
          "  --model NAME|FILE       model (default stories260K)\n"
          "  --tokenizer NAME|FILE   tokenizer (default: the named model's)\n"
          "  --steps N               tokens to generate (default 256, at most seq_len - 1)\n"
          "  --prompt TEXT           start from BOS + TEXT instead of BOS alone\n"
          "  --threads N             threads (default: all cores)\n"
          "  --data-dir DIR          data directory\n",
          f);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int rb_cmd_generate(int argc, char **argv) {
    const char *model = NULL, *tokenizer = NULL, *prompt = "", *data_dir = NULL;
    long steps = 256, threads = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"tokenizer", required_argument, 0, 'k'},
        {"steps", required_argument, 0, 's'}, {"prompt", required_argument, 0, 'p'},
        {"threads", required_argument, 0, 'j'}, {"data-dir", required_argument, 0, 'd'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'k': tokenizer = optarg; break;
        case 's': steps = rb_cli_int("--steps", optarg, 1, 1 << 20); break;
        case 'p': prompt = optarg; break;
        case 'j': threads = rb_cli_int("--threads", optarg, 0, 1024); break;
        case 'd': data_dir = optarg; break;
        case 'h': generate_usage(stdout); return 0;
        default: generate_usage(stderr); return 2;
        }
    }
    rb_cli_set_threads((int)threads);
    rb_error err = {0};
    rb_cli_model cm;
    if (rb_cli_load(model, tokenizer, data_dir, 1, 0, &cm, &err)) {
        rb_cli_unload(&cm);
        return rb_cli_fail(&err);
    }
    const rb_config *c = &cm.model->cfg;
    int32_t *prompt_tokens = NULL;
    size_t n_prompt = 0;
    int rc = rb_tokenizer_encode(cm.tokenizer, prompt, strlen(prompt), 1, 0, &prompt_tokens,
                                 &n_prompt, &err);
    if (!rc && n_prompt + (size_t)steps > (size_t)c->seq_len) {
        steps = c->seq_len - (long)n_prompt;
        fprintf(stderr, "generate: limiting to %ld steps (the model's seq_len is %d)\n", steps,
                c->seq_len);
    }
    int32_t *seq = NULL;
    rb_workspace ws = {0};
    if (!rc && steps > 0) {
        seq = malloc(sizeof(int32_t) * (n_prompt + (size_t)steps));
        memcpy(seq, prompt_tokens, sizeof(int32_t) * n_prompt);
        rc = rb_workspace_init(&ws, c, (int)(n_prompt + (size_t)steps), &err);
    }
    size_t n = n_prompt;
    for (size_t i = 1; !rc && i < n_prompt; i++) {
        size_t len;
        const char *piece = rb_tokenizer_decode(cm.tokenizer, seq[i - 1], seq[i], &len);
        fwrite(piece, 1, len, stdout);
    }
    for (long s = 0; !rc && s < steps; s++) {
        if ((rc = rb_forward(cm.model, &ws, seq, (int)n, NULL, &err))) break;
        int next = argmax(ws.logits + (size_t)(n - 1) * c->vocab_size, c->vocab_size);
        if (next == rb_tokenizer_bos(cm.tokenizer) || next == rb_tokenizer_eos(cm.tokenizer)) break;
        size_t len;
        const char *piece = rb_tokenizer_decode(cm.tokenizer, seq[n - 1], next, &len);
        fwrite(piece, 1, len, stdout);
        fflush(stdout);
        seq[n++] = next;
    }
    putchar('\n');
    rb_workspace_free(&ws);
    free(seq);
    free(prompt_tokens);
    rb_cli_unload(&cm);
    return rc ? rb_cli_fail(&err) : 0;
}
