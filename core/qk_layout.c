/* q/k row layouts: rotate_half (HALVES) ↔ interleaved pairs (see core/formats.h). */
#include <stdlib.h>
#include <string.h>

#include "core/formats.h"

int rb_qk_relayout(float *w, int n_heads, int head_dim, int64_t cols, int to_interleaved,
                   const char *what, rb_error *err) {
    int half = head_dim / 2;
    size_t row = (size_t)cols, head = (size_t)head_dim * row;
    float *tmp = malloc(sizeof(float) * (head ? head : 1));
    if (!tmp) return rb_error_set(err, RB_ENOMEM, "%s: cannot allocate a q/k head", what);
    for (int h = 0; h < n_heads; h++) {
        float *hw = w + (size_t)h * head;
        memcpy(tmp, hw, sizeof(float) * head);
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < half; i++) {
                size_t inter = (size_t)(2 * i + s), halves = (size_t)(s * half + i);
                if (to_interleaved)
                    memcpy(hw + inter * row, tmp + halves * row, sizeof(float) * row);
                else
                    memcpy(hw + halves * row, tmp + inter * row, sizeof(float) * row);
            }
    }
    free(tmp);
    return RB_OK;
}
