/* Pieces shared by the HF and GGUF writers: one tensor in a file's layout
 * and dtype. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats.h"

uint64_t rb_tensor_file_bytes(const rb_config *c, rb_tensor_kind k, rb_dtype dt) {
    int nd;
    int64_t d[2];
    rb_tensor_shape(c, k, &nd, d);
    return rb_dtype_bytes(dt, (uint64_t)d[0] * (uint64_t)d[1]);
}

int rb_write_tensor(FILE *f, const rb_model *m, rb_tensor_kind k, int l, int halves, rb_dtype dt,
                    const char *path, rb_error *err) {
    const rb_config *c = &m->cfg;
    int nd;
    int64_t d[2];
    rb_tensor_shape(c, k, &nd, d);
    size_t n = (size_t)d[0] * (size_t)d[1];
    if (dt == RB_DTYPE_Q8_0)
        return rb_error_set(err, RB_EUNSUPPORTED, "%s: writing Q8_0 is not supported", path);
    float *w = malloc(sizeof(float) * (n ? n : 1));
    uint16_t *h = dt == RB_DTYPE_F32 ? NULL : malloc(sizeof(uint16_t) * (n ? n : 1));
    if (!w || (dt != RB_DTYPE_F32 && !h)) {
        free(w);
        free(h);
        return rb_error_set(err, RB_ENOMEM, "%s: cannot allocate %s", path, rb_tensor_kind_name(k));
    }
    memcpy(w, *rb_model_tensor_slot((rb_model *)m, k, l), sizeof(float) * n);
    int heads = k == RB_TENSOR_WQ || k == RB_TENSOR_BQ ? c->n_heads
                : k == RB_TENSOR_WK || k == RB_TENSOR_BK ? c->n_kv_heads
                                                         : 0;
    int rc = RB_OK;
    if (halves && heads) rc = rb_qk_relayout(w, heads, c->head_dim, d[1], 0, path, err);
    const void *out = w;
    size_t bytes = sizeof(float) * n;
    if (!rc && dt != RB_DTYPE_F32) {
        for (size_t i = 0; i < n; i++)
            h[i] = dt == RB_DTYPE_BF16 ? rb_f32_to_bf16(w[i]) : rb_f32_to_f16(w[i]);
        out = h;
        bytes = sizeof(uint16_t) * n;
    }
    if (!rc && fwrite(out, 1, bytes, f) != bytes)
        rc = rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    free(w);
    free(h);
    return rc;
}
