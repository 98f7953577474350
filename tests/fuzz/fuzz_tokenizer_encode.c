/* libFuzzer target: rb_tokenizer_encode on arbitrary bytes, with the real
 * vocabularies: the first input byte picks stories260K's tok512.bin (even)
 * or the Llama 2 tokenizer.bin (odd) from $ROTBENCH_DATA/models; the rest
 * is the text.  Checks what encode promises: ids inside the vocabulary, BOS
 * first and EOS last, and that decoding the ids gives the text back (with the
 * dummy-prefix space), byte fallback included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

static rb_tokenizer *toks[2];

static rb_tokenizer *load(const char *rel) {
    char path[1024];
    fuzz_data_path(rel, path, sizeof path);
    rb_tokenizer *t = NULL;
    rb_error err = {0};
    if (rb_tokenizer_load(path, &t, &err) != RB_OK) {
        fprintf(stderr, "fuzz_tokenizer_encode: %s (set ROTBENCH_DATA)\n", err.msg);
        exit(1);
    }
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    toks[0] = load("models/stories260K/tok512.bin");
    toks[1] = load("models/llama2-tokenizer/tokenizer.bin");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const rb_tokenizer *t = toks[data[0] & 1];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *tok = NULL;
    size_t n = 0;
    rb_error err = {0};
    if (rb_tokenizer_encode(t, text, len, 1, 1, &tok, &n, &err) != RB_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    int vocab = rb_tokenizer_vocab_size(t);
    if (n < 2 || tok[0] != RB_TOKEN_BOS || tok[n - 1] != RB_TOKEN_EOS) abort();
    /* decode ids 1..n-2: the leading dummy space is dropped after BOS */
    char *back = malloc(len + 1);
    size_t at = 0;
    int ok = back != NULL;
    for (size_t i = 1; ok && i + 1 < n; i++) {
        if (tok[i] < 0 || tok[i] >= vocab) abort();
        size_t l;
        const char *s = rb_tokenizer_decode(t, tok[i - 1], tok[i], &l);
        if (at + l > len) ok = 0;
        else memcpy(back + at, s, l), at += l;
    }
    if (!ok || at != len || (len && memcmp(back, text, len) != 0)) {
        fprintf(stderr, "fuzz_tokenizer_encode: decode(encode(text)) differs from the text\n");
        abort();
    }
    free(back);
    free(tok);
    return 0;
}
