/* libFuzzer target: the llama2.c tokenizer loader (rb_tokenizer_load).  A
 * file that loads is then used: every piece decoded, and a short text with
 * multi-byte UTF-8 encoded with the fuzzed vocabulary (duplicate, empty or
 * byte-less pieces must not break the merge loop). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    if (fd < 0) abort();
    rb_tokenizer *t = NULL;
    rb_error err = {0};
    if (rb_tokenizer_load(path, &t, &err) == RB_OK) {
        int n = rb_tokenizer_vocab_size(t);
        volatile size_t total = 0;
        for (int i = -1; i <= n; i++) {
            size_t len;
            rb_tokenizer_decode(t, RB_TOKEN_BOS, i, &len);
            total += len;
            rb_tokenizer_piece(t, i, &len);
            total += len;
        }
        (void)total;
        static const char text[] = "Once upon a time, a caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80 \xff!";
        int32_t *tok = NULL;
        size_t n_tok = 0;
        if (rb_tokenizer_encode(t, text, sizeof text - 1, 1, 1, &tok, &n_tok, &err) == RB_OK) {
            for (size_t i = 0; i < n_tok; i++)
                if (tok[i] < 0 || tok[i] >= n) abort(); /* an id outside the vocabulary */
            free(tok);
        }
        rb_tokenizer_free(t);
    } else if (!err.msg[0]) {
        abort();
    }
    close(fd);
    return 0;
}
