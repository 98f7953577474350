/* libFuzzer target: the --w-override rules (core/quant_override.h).  Input:
 * the rule text.  Aborts when a refusal has no message naming the flag, or
 * when an accepted text's canonical form does not parse back to the same
 * rules (and the same canonical text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant_override.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0; /* stops at the first NUL, as in argv */
    rb_quant_overrides o, back;
    rb_error err = {0};
    if (rb_quant_overrides_parse(text, &o, "--w-override", &err) == RB_OK) {
        char canon[8192], again[8192];
        rb_quant_overrides_text(&o, canon, sizeof canon);
        if (rb_quant_overrides_parse(canon, &back, "--w-override", &err) != RB_OK) abort();
        rb_quant_overrides_text(&back, again, sizeof again);
        if (strcmp(canon, again) || back.n != o.n) abort();
        for (int l = 0; l < 40; l++)
            for (int id = 0; id < RB_LINEAR_COUNT; id++) {
                rb_quant_spec base = {4, 0, RB_GRAN_ROW, 0, 1.0f};
                rb_quant_spec a = rb_quant_overrides_spec(&o, &base, l, 40, (rb_linear_id)id);
                rb_quant_spec b = rb_quant_overrides_spec(&back, &base, l, 40, (rb_linear_id)id);
                if (a.bits != b.bits || a.gran != b.gran || a.group != b.group ||
                    a.asym != b.asym || a.clip != b.clip)
                    abort();
            }
    } else if (!strstr(err.msg, "--w-override")) {
        abort();
    }
    free(text);
    return 0;
}
