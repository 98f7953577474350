/* libFuzzer target: the JSON description of raw rotation arrays
 * (rb_rotation_desc_parse, methods/rotation_desc.h).  The input is the
 * description's text (not NUL-terminated).  On success the description must
 * hold what the parser promises: 1..65536 matrices with non-empty, distinct
 * names, sides in 1..65536, an element size of 4 or 8, a tolerance in
 * (0, 0.1] and a non-empty data path.  Self-contained. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "methods/rotation_desc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rb_rotation_desc d;
    rb_error err = {0};
    int rc = rb_rotation_desc_parse((const char *)data, size, "fuzz/R.json", &d, &err);
    if (rc == RB_OK) {
        if (d.n < 1 || d.n > 65536 || (d.elem_bytes != 4 && d.elem_bytes != 8) || !d.data[0] ||
            !(d.tolerance > 0 && d.tolerance <= 0.1))
            abort();
        for (int i = 0; i < d.n; i++) {
            if (!d.m[i].name[0] || d.m[i].rows < 1 || d.m[i].rows > 65536 || d.m[i].cols < 1 ||
                d.m[i].cols > 65536)
                abort();
            for (int j = 0; j < i; j++)
                if (!strcmp(d.m[i].name, d.m[j].name)) abort();
        }
        rb_rotation_desc_free(&d);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
