/* libFuzzer target: the tokenizer.json reader and the encoder it builds.
 *
 * Input: tokenizer.json bytes, then optionally a NUL and tokenizer_config.json
 * bytes, then optionally a NUL and a text to encode.  A file the reader
 * accepts must encode the text without crashing: ids inside the vocabulary,
 * or an error with a message.  A refused file must say why.
 * Self-contained (no fuzz_util): the reader is called on memory through
 * core/tok_json.h, so no file is written. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tok_json.h"

/* The next part of data[*at..size): up to a NUL (consumed) or the end. */
static const char *part(const uint8_t *data, size_t size, size_t *at, size_t *len) {
    const char *p = (const char *)data + *at;
    const uint8_t *nul = *at < size ? memchr(data + *at, 0, size - *at) : NULL;
    *len = nul ? (size_t)(nul - (data + *at)) : size - *at;
    *at += *len + (nul != NULL);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t at = 0, nj, nc, nt;
    const char *json = part(data, size, &at, &nj);
    const char *cfg = part(data, size, &at, &nc);
    const char *text = part(data, size, &at, &nt);
    rb_hf *h = NULL;
    rb_hf_specials sp;
    rb_error err = {0};
    int rc = rb_tok_json_parse("fuzz.json", json, nj, nc ? cfg : NULL, nc, &h, &sp, &err);
    if (rc != RB_OK) {
        if (!err.msg[0] || h) abort();
        return 0;
    }
    int32_t size_ids = rb_hf_size(h);
    if (sp.bos < -1 || sp.bos >= size_ids || sp.eos < -1 || sp.eos >= size_ids) abort();
    rb_ids ids = {0};
    rb_error e2 = {0};
    if (rb_hf_encode(h, text, nt, &ids, &e2) != RB_OK) {
        if (!e2.msg[0]) abort();
    } else {
        for (size_t i = 0; i < ids.n; i++)
            if (ids.a[i] < 0 || ids.a[i] >= size_ids) abort();
        for (size_t i = 0; i < ids.n; i++) {
            size_t l;
            (void)rb_hf_decode(h, sp.bos, i ? ids.a[i - 1] : -1, ids.a[i], &l);
        }
    }
    free(ids.a);
    rb_hf_free(h);
    return 0;
}
