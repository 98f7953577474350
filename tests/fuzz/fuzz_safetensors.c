/* libFuzzer target: the safetensors header parser (rb_safetensors_parse).
 *
 * The input is the whole file image.  On success every tensor's range is
 * read, so an offset the validation let through that points outside the
 * image faults here (under ASan).  Self-contained: parses from memory. */
#include <stdint.h>
#include <stdlib.h>

#include "core/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rb_safetensors st;
    rb_error err = {0};
    if (rb_safetensors_parse(data, size, "fuzz.safetensors", &st, &err) == RB_OK) {
        volatile unsigned sum = 0;
        for (size_t i = 0; i < st.n; i++) {
            const rb_st_tensor *t = &st.t[i];
            if (t->begin > t->end || t->end > size) abort();
            for (uint64_t b = t->begin; b < t->end; b++) sum += data[b];
        }
        rb_safetensors_close(&st);
    } else if (err.msg[0] == '\0') {
        abort(); /* an error must say what is wrong */
    }
    return 0;
}
