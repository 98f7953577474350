/* The scalar pieces of kernels/qgemm.h: weight packing, activation
 * quantization, the shape check, and the reference GEMM (a triple loop per
 * segment) that the fast path is tested against. */
#include <stdlib.h>
#include <string.h>

#include "kernels/qgemm.h"
#include "kernels/qgemm_common.h"
#include "kernels/quant_common.h"

/* Columns per parameter group of s for a matrix with `cols` columns. */
static int group_width(const rb_quant_spec *s, int cols) {
    return s->gran == RB_GRAN_GROUP ? s->group : cols;
}

/* Index into s's parameters of element (r, c). */
static int check_spec(const rb_quant_spec *s, int cols, const char *what, rb_error *err) {
    if (rb_quant_spec_off(s))
        return rb_error_set(err, RB_EINVAL, "integer kernels: %s are not quantized", what);
    int rc = rb_quant_spec_check(s, cols, what, err);
    if (rc) return rc;
    if (s->gran == RB_GRAN_GROUP && cols % s->group)
        return rb_error_set(err, RB_EINVAL,
                            "integer kernels: %s group size %d does not divide the %d columns",
                            what, s->group, cols);
    return RB_OK;
}

void rb_qweight_free(rb_qweight *w) {
    free(w->codes);
    free(w->zero);
    free(w->scale);
    free(w->vnni);
    free(w->vnni_zero);
    free(w->vnni_scale);
    memset(w, 0, sizeof *w);
}

size_t rb_qweight_bytes(const rb_qweight *w) {
    size_t ng = (size_t)w->rows * (size_t)(w->cols / (w->group ? w->group : 1));
    size_t n = (size_t)w->rows * w->stride + ng * (sizeof(int16_t) + sizeof(float));
    if (w->vnni) {
        size_t rows32 = ((size_t)w->rows + 31) / 32 * 32, ngv = rows32 * (w->cols / w->group);
        n += rows32 * (size_t)w->cols / (w->bits == 8 ? 1 : 2) + ngv * (sizeof(int32_t) + sizeof(float));
    }
    return n;
}

int rb_qweight_pack(rb_qweight *out, const float *w, int rows, int cols, const rb_quant_spec *s,
                    const float *scale, const float *zero, rb_error *err) {
    memset(out, 0, sizeof *out);
    int rc = check_spec(s, cols, "weights", err);
    if (rc) return rc;
    int G = group_width(s, cols), ng = cols / G;
    rb_qweight q = {.rows = rows, .cols = cols, .bits = s->bits > 4 ? 8 : 4, .group = G};
    q.stride = q.bits == 8 ? (size_t)cols : (size_t)(cols + 1) / 2;
    q.codes = calloc((size_t)rows * q.stride, 1);
    q.zero = malloc(sizeof(int16_t) * (size_t)rows * ng);
    q.scale = malloc(sizeof(float) * (size_t)rows * ng);
    if (!q.codes || !q.zero || !q.scale) {
        rb_qweight_free(&q);
        return rb_error_set(err, RB_ENOMEM, "out of memory for %dx%d integer weights", rows, cols);
    }
    float qmax = s->asym ? rb_qmax_asym(s->bits) : rb_qmax_sym(s->bits);
    /* stored code = q + shift, stored zero = z + shift */
    int shift = q.bits == 8 ? (s->asym ? -128 : 0) : (s->asym ? 0 : 8);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            size_t p = rb_quant_param_index(s, cols, r, c);
            float sc = scale[p], z = s->asym ? zero[p] : 0.0f, v = w[(size_t)r * cols + c];
            float qv = nearbyintf(v * (1.0f / sc)) + z;
            qv = qv < (s->asym ? 0 : -qmax) ? (s->asym ? 0 : -qmax) : qv > qmax ? qmax : qv;
            if ((qv - z) * sc != v) {
                rb_qweight_free(&q);
                return rb_error_set(err, RB_EINVAL,
                                    "integer kernels: weight [%d][%d] = %g is not on the "
                                    "quantizer's grid (scale %g, zero %g): weights changed after "
                                    "quantization, or quantized with other parameters",
                                    r, c, (double)v, (double)sc, (double)z);
            }
            int code = (int)qv + shift;
            uint8_t *row = q.codes + (size_t)r * q.stride;
            if (q.bits == 8)
                row[c] = (uint8_t)(int8_t)code;
            else
                row[c >> 1] |= (uint8_t)(code << ((c & 1) * 4));
            if (c % G == 0) {
                size_t g = (size_t)r * ng + (size_t)(c / G);
                q.zero[g] = (int16_t)((int)z + shift);
                q.scale[g] = sc;
            }
        }
    const char *path = rb_qgemm_kernel();
    int copy = !strcmp(path, "avx512-vnni") || !strcmp(path, "amx") ||
               (q.bits == 4 && !strcmp(path, "avx2")); /* avx2's u8 tiles read it */
    if (copy && (rc = rb_qweight_prepack(&q, err))) {
        rb_qweight_free(&q);
        return rc;
    }
    *out = q;
    return RB_OK;
}

void rb_qact_free(rb_qact *a) {
    free(a->q);
    free(a->scale);
    memset(a, 0, sizeof *a);
}

int rb_qact_quantize(rb_qact *a, const float *x, int rows, int cols, const rb_quant_spec *s,
                     const float *scale, const float *zero, rb_error *err) {
    int rc = check_spec(s, cols, "activations", err);
    if (rc) return rc;
    int G = group_width(s, cols), ng = cols / G;
    size_t np = rb_quant_n_params(s, rows, cols);
    if (rows > a->cap_rows || cols != a->cols || G != a->group) {
        free(a->q);
        free(a->scale);
        a->q = malloc(sizeof(int16_t) * (size_t)rows * cols);
        a->scale = malloc(sizeof(float) * (size_t)rows * ng);
        a->cap_rows = a->q && a->scale ? rows : 0;
        if (!a->cap_rows) {
            rb_qact_free(a);
            return rb_error_set(err, RB_ENOMEM, "out of memory for %dx%d integer activations",
                                rows, cols);
        }
    }
    a->rows = rows, a->cols = cols, a->group = G;
    float stack[2 * 256], *p = stack;
    if (!scale) {
        if (np > 256 && !(p = malloc(sizeof(float) * 2 * np)))
            return rb_error_set(err, RB_ENOMEM, "out of memory for quantization parameters");
        rb_quant_params(x, rows, cols, s, p, p + np);
        scale = p, zero = p + np;
    }
#pragma omp parallel for schedule(static) if ((long)rows * cols > 65536)
    for (int r = 0; r < rows; r++)
        for (int c0 = 0; c0 < cols; c0 += G) {
            size_t pi = rb_quant_param_index(s, cols, r, c0);
            rb_quant_codes(a->q + (size_t)r * cols + c0, x + (size_t)r * cols + c0, G, s,
                           scale[pi], s->asym ? zero[pi] : 0.0f);
            a->scale[(size_t)r * ng + (size_t)(c0 / G)] = scale[pi];
        }
    if (p != stack) free(p);
    return RB_OK;
}

int rb_qgemm_check(const rb_qact *a, const rb_qweight *w, rb_error *err) {
    if (a->cols != w->cols)
        return rb_error_set(err, RB_EINVAL, "integer GEMM: activations have %d columns, weights %d",
                            a->cols, w->cols);
    int lo = rb_qgemm_segment(a, w), hi = a->group > w->group ? a->group : w->group;
    if (lo < 1 || hi % lo || w->cols % hi)
        return rb_error_set(err, RB_EINVAL,
                            "integer GEMM: activation groups of %d and weight groups of %d columns "
                            "do not nest (one must divide the other and the %d columns)",
                            a->group, w->group, w->cols);
    if (lo > 32768)
        return rb_error_set(err, RB_EINVAL,
                            "integer GEMM: segments of %d columns could overflow int32 (at most "
                            "32768)", lo);
    if (w->bits == 4 && lo % 2)
        return rb_error_set(err, RB_EINVAL,
                            "integer GEMM: 4-bit weights need an even segment width, not %d", lo);
    return RB_OK;
}

void rb_qgemm_ref(float *y, const rb_qact *a, const rb_qweight *w, int accumulate) {
    int T = a->rows, K = w->cols, N = w->rows, S = rb_qgemm_segment(a, w);
    int nga = K / a->group, ngw = K / w->group;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < N; o++) {
            float acc = accumulate ? y[(size_t)t * N + o] : 0.0f;
            for (int k0 = 0; k0 < K; k0 += S) {
                int gw = k0 / w->group;
                int32_t z = w->zero[(size_t)o * ngw + gw], dot = 0;
                for (int k = k0; k < k0 + S; k++)
                    dot += (int32_t)a->q[(size_t)t * K + k] * (rb_qweight_code(w, o, k) - z);
                acc = rb_qgemm_rescale(acc, dot, a->scale[(size_t)t * nga + k0 / a->group],
                                       w->scale[(size_t)o * ngw + gw]);
            }
            y[(size_t)t * N + o] = acc;
        }
}
