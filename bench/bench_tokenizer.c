/* Encodes the wikitext-2 test corpus with each tokenizer and reports speed
 * (encoding only; the load time is printed separately).
 *
 * usage: bench_tokenizer [DATA_DIR]   (default $ROTBENCH_DATA, else
 * RB_SOURCE_ROOT/../shared) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/io.h"
#include "core/tokenizer.h"

static const char *const CORPUS = "datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt";
static const char *const VOCABS[] = {
    "models/stories260K/tok512.bin",
    "models/llama2-tokenizer/tokenizer.bin",
    "models/stories260K-hf/tokenizer.json",
    "models/tokenizers/mistral/tokenizer.json",
    "models/tokenizers/llama3/tokenizer.json",
};

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench_one(const char *dir, const char *vocab, const char *text, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, vocab);
    rb_error err = {0};
    rb_tokenizer *t;
    double t_load = rb_now(), c_load = cpu_seconds();
    if (rb_tokenizer_open(path, &t, &err)) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        return 1;
    }
    t_load = rb_now() - t_load;
    c_load = cpu_seconds() - c_load;
    int32_t *tokens;
    size_t n;
    double t0 = rb_now(), c0 = cpu_seconds();
    int rc = rb_tokenizer_encode(t, text, len, 1, 0, &tokens, &n, &err);
    double dt = rb_now() - t0, cpu = cpu_seconds() - c0;
    if (rc) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        rb_tokenizer_free(t);
        return 1;
    }
    printf("%-42s vocab %6d: %zu bytes -> %zu tokens in %.3f s wall, %.3f s CPU, %.2f MB/s "
           "(load %.3f s wall, %.3f s CPU)\n",
           vocab, rb_tokenizer_vocab_size(t), len, n, dt, cpu, len / dt / 1e6, t_load, c_load);
    free(tokens);
    rb_tokenizer_free(t);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("ROTBENCH_DATA");
    if (!dir || !*dir) dir = RB_SOURCE_ROOT "/../shared";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, CORPUS);
    rb_error err = {0};
    char *text;
    size_t len;
    if (rb_read_file(path, 0, &text, &len, &err)) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof VOCABS / sizeof *VOCABS; i++)
        bad |= bench_one(dir, VOCABS[i], text, len);
    free(text);
    return bad;
}
