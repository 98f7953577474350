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
    int block = rb_dtype_is_block(dt);
    if (block && d[1] % 32)
        return rb_error_set(err, RB_EINVAL, "%s: %s rows of %lld are not a multiple of %s's 32",
                            path, rb_tensor_kind_name(k), (long long)d[1], rb_dtype_name(dt));
    float *w = malloc(sizeof(float) * (n ? n : 1));
    void *h = dt == RB_DTYPE_F32 ? NULL : malloc(block ? rb_dtype_bytes(dt, n) + 1 : sizeof(uint16_t) * (n ? n : 1));
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
    if (!rc && block) {
        long bad = rb_dtype_encode_exact(dt, w, n, h);
        if (bad >= 0) {
            long per_row = (long)(d[1] / 32);
            rc = rb_error_set(err, RB_EINVAL,
                              "%s: %s of layer %d, row %ld, columns %ld..%ld: the weights are not "
                              "d·q with one binary16 scale d and integers q in %s; quantize them "
                              "with --w-bits %s --w-gran group:32 --w-scale-f16 (symmetric) first",
                              path, rb_tensor_kind_name(k), l, bad / per_row, bad % per_row * 32,
                              bad % per_row * 32 + 31,
                              dt == RB_DTYPE_Q4_0 ? "-8..7 (Q4_0)" : "-127..127 (Q8_0)",
                              dt == RB_DTYPE_Q4_0 ? "2..4" : "2..8");
        }
        out = h;
        bytes = rb_dtype_bytes(dt, n);
    } else if (!rc && dt != RB_DTYPE_F32) {
        uint16_t *hh = h;
        for (size_t i = 0; i < n; i++)
            hh[i] = dt == RB_DTYPE_BF16 ? rb_f32_to_bf16(w[i]) : rb_f32_to_f16(w[i]);
        out = h;
        bytes = sizeof(uint16_t) * n;
    }
    if (!rc && fwrite(out, 1, bytes, f) != bytes)
        rc = rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    free(w);
    free(h);
    return rc;
}

int rb_write_f32(FILE *f, const float *x, size_t n, const char *path, rb_error *err) {
    if (fwrite(x, sizeof(float), n, f) != n)
        return rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    return RB_OK;
}
