/* libFuzzer target: the GGUF parser (rb_gguf_parse) and its lookups.
 *
 * The input is the whole file image.  On success every tensor's data and
 * every metadata value is touched through the public accessors, so a count,
 * length or offset the validation let through faults here (under ASan).
 * Self-contained: parses from memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rb_gguf g;
    rb_error err = {0};
    if (rb_gguf_parse(data, size, "fuzz.gguf", &g, &err) != RB_OK) {
        if (err.msg[0] == '\0') abort();
        return 0;
    }
    volatile unsigned sum = 0;
    for (size_t i = 0; i < g.n_t; i++) {
        const rb_gguf_tensor *t = &g.t[i];
        if (t->offset + t->bytes > size) abort();
        for (uint64_t b = 0; b < t->bytes; b++) sum += data[t->offset + b];
    }
    for (size_t i = 0; i < g.n_kv; i++) {
        const rb_gguf_kv *kv = &g.kv[i];
        char key[300];
        size_t kl = kv->key_len < sizeof key - 1 ? kv->key_len : sizeof key - 1;
        memcpy(key, kv->key, kl);
        key[kl] = '\0';
        int64_t iv;
        double fv;
        const char *s;
        size_t sl;
        rb_gguf_get_int(&g, key, &iv);
        rb_gguf_get_float(&g, key, &fv);
        if (rb_gguf_get_string(&g, key, &s, &sl) == 1)
            for (size_t j = 0; j < sl; j++) sum += (unsigned char)s[j];
        if (kv->type == RB_GGUF_ARRAY && kv->elem_type == RB_GGUF_STRING && kv->count < (1u << 20)) {
            const char **ss = malloc(sizeof *ss * (kv->count ? kv->count : 1));
            size_t *ls = malloc(sizeof *ls * (kv->count ? kv->count : 1));
            if (!ss || !ls) abort();
            rb_gguf_array_strings(kv, ss, ls);
            for (uint64_t j = 0; j < kv->count; j++)
                if (ls[j]) sum += (unsigned char)ss[j][ls[j] - 1];
            free(ss);
            free(ls);
        }
    }
    rb_gguf_close(&g);
    return 0;
}
