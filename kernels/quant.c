/* Fast paths of kernels/quant.h: the same per-value formulas as the
 * reference (quant_common.h), with vectorised row loops (run-time dispatched
 * clones) and OpenMP over rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"
#include "kernels/quant_common.h"
#include "kernels/simd.h"

int rb_quant_spec_off(const rb_quant_spec *s) { return s->bits == RB_QUANT_OFF || s->bits == 0; }

size_t rb_quant_n_params(const rb_quant_spec *s, int rows, int cols) {
    switch (s->gran) {
    case RB_GRAN_TENSOR: return 1;
    case RB_GRAN_ROW: return (size_t)rows;
    case RB_GRAN_GROUP: {
        int g = s->group > 0 ? s->group : 1;
        return (size_t)rows * (size_t)((cols + g - 1) / g);
    }
    }
    return 1;
}

int rb_quant_spec_check(const rb_quant_spec *s, int cols, const char *what, rb_error *err) {
    if (rb_quant_spec_off(s)) return RB_OK;
    if (s->bits < 2 || s->bits > 8)
        return rb_error_set(err, RB_EINVAL, "%s: %d bits is outside 2..8 (16 = off)", what, s->bits);
    if (s->gran != RB_GRAN_TENSOR && s->gran != RB_GRAN_ROW && s->gran != RB_GRAN_GROUP)
        return rb_error_set(err, RB_EINVAL, "%s: unknown granularity %d", what, (int)s->gran);
    if (s->gran == RB_GRAN_GROUP && (s->group < 1 || s->group > cols))
        return rb_error_set(err, RB_EINVAL, "%s: group size %d is outside 1..%d (the columns)",
                            what, s->group, cols);
    if (s->clip != RB_CLIP_MSE && !(s->clip > 0 && s->clip <= 1))
        return rb_error_set(err, RB_EINVAL, "%s: clip ratio %g is outside (0, 1]", what, s->clip);
    return RB_OK;
}

RB_SIMD_INLINE void span_minmax_body(const float *x, int n, float *lo, float *hi) {
    float l = *lo, h = *hi;
#pragma omp simd reduction(min : l) reduction(max : h)
    for (int i = 0; i < n; i++) {
        l = x[i] < l ? x[i] : l;
        h = x[i] > h ? x[i] : h;
    }
    *lo = l;
    *hi = h;
}
RB_SIMD_DISPATCH_VOID(span_minmax, (const float *x, int n, float *lo, float *hi), (x, n, lo, hi))

RB_SIMD_INLINE void span_fq_body(float *x, int n, const rb_quant_spec *s, float scale, float zero) {
    float inv = 1.0f / scale;
    if (s->asym) {
        float qm = rb_qmax_asym(s->bits);
#pragma omp simd
        for (int i = 0; i < n; i++) x[i] = rb_fq_asym(x[i], inv, scale, zero, qm);
    } else {
        float qm = rb_qmax_sym(s->bits);
#pragma omp simd
        for (int i = 0; i < n; i++) x[i] = rb_fq_sym(x[i], inv, scale, qm);
    }
}
RB_SIMD_DISPATCH_VOID(span_fq, (float *x, int n, const rb_quant_spec *s, float scale, float zero), (x, n, s, scale, zero))

RB_SIMD_INLINE void span_codes_body(int16_t *q, const float *x, int n, int asym, float inv,
                                    float zero, float qm) {
    if (asym) {
#pragma omp simd
        for (int i = 0; i < n; i++) q[i] = (int16_t)(rb_q_asym(x[i], inv, zero, qm) - zero);
    } else {
#pragma omp simd
        for (int i = 0; i < n; i++) q[i] = (int16_t)rb_q_sym(x[i], inv, qm);
    }
}
RB_SIMD_DISPATCH_VOID(span_codes, (int16_t *q, const float *x, int n, int asym, float inv, float zero, float qm),
                      (q, x, n, asym, inv, zero, qm))

void rb_quant_codes(int16_t *q, const float *x, int n, const rb_quant_spec *s, float scale,
                    float zero) {
    span_codes(q, x, n, s->asym, 1.0f / scale, zero,
               s->asym ? rb_qmax_asym(s->bits) : rb_qmax_sym(s->bits));
}

RB_SIMD_INLINE double span_sq_error_body(const float *x, int n, const rb_quant_spec *s, float scale,
                                         float zero) {
    float inv = 1.0f / scale, e = 0;
    if (s->asym) {
        float qm = rb_qmax_asym(s->bits);
#pragma omp simd reduction(+ : e)
        for (int i = 0; i < n; i++) {
            float d = x[i] - rb_fq_asym(x[i], inv, scale, zero, qm);
            e += d * d;
        }
    } else {
        float qm = rb_qmax_sym(s->bits);
#pragma omp simd reduction(+ : e)
        for (int i = 0; i < n; i++) {
            float d = x[i] - rb_fq_sym(x[i], inv, scale, qm);
            e += d * d;
        }
    }
    return e;
}
RB_SIMD_DISPATCH(double, span_sq_error, (const float *x, int n, const rb_quant_spec *s, float scale, float zero), (x, n, s, scale, zero))

/* Parameters of group g (its rectangle's range, then fixed or MSE clip). */
static void group_params(const float *x, int rows, int cols, const rb_quant_spec *s, size_t g,
                         float *scale, float *zero) {
    int r0, r1, c0, c1;
    rb_group_span(s, rows, cols, g, &r0, &r1, &c0, &c1);
    float lo = 0, hi = 0;
    for (int r = r0; r < r1; r++) span_minmax(x + (size_t)r * cols + c0, c1 - c0, &lo, &hi);
    if (s->clip != RB_CLIP_MSE) {
        rb_group_params(lo, hi, s, s->clip, scale, zero);
        return;
    }
    double best = INFINITY;
    for (int k = 0; k < RB_CLIP_GRID; k++) {
        float sc, z;
        rb_group_params(lo, hi, s, rb_clip_ratio(k), &sc, &z);
        double e = 0;
        for (int r = r0; r < r1; r++) e += span_sq_error(x + (size_t)r * cols + c0, c1 - c0, s, sc, z);
        if (e < best) {
            best = e;
            *scale = sc;
            *zero = z;
        }
    }
}

void rb_quant_params(const float *x, int rows, int cols, const rb_quant_spec *s, float *scale,
                     float *zero) {
    long n = (long)rb_quant_n_params(s, rows, cols);
#pragma omp parallel for schedule(static) if (n > 1 && (long)rows * cols > 65536)
    for (long g = 0; g < n; g++) group_params(x, rows, cols, s, (size_t)g, &scale[g], &zero[g]);
}

void rb_fake_quant(float *x, int rows, int cols, const rb_quant_spec *s, const float *scale,
                   const float *zero) {
    if (rb_quant_spec_off(s)) return;
    int width = s->gran == RB_GRAN_GROUP ? s->group : cols;
    int per_row = (cols + width - 1) / width; /* the last group of a row may be shorter */
#pragma omp parallel for schedule(static) if ((long)rows * cols > 65536)
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < per_row; k++) {
            size_t g = s->gran == RB_GRAN_TENSOR ? 0
                       : s->gran == RB_GRAN_ROW  ? (size_t)r
                                                 : (size_t)r * per_row + k;
            int c0 = k * width, n = c0 + width < cols ? width : cols - c0;
            span_fq(x + (size_t)r * cols + c0, n, s, scale[g], zero[g]);
        }
}

int rb_fake_quant_dynamic(float *x, int rows, int cols, const rb_quant_spec *s, rb_error *err) {
    if (rb_quant_spec_off(s)) return RB_OK;
    size_t n = rb_quant_n_params(s, rows, cols);
    float stack[2 * 1024], *p = n <= 1024 ? stack : malloc(sizeof(float) * 2 * n);
    if (!p) return rb_error_set(err, RB_ENOMEM, "out of memory for quantization parameters");
    rb_quant_params(x, rows, cols, s, p, p + n);
    rb_fake_quant(x, rows, cols, s, p, p + n);
    if (p != stack) free(p);
    return RB_OK;
}

/* ---- mixed precision ---------------------------------------------------- */

/* Columns [c0, c0 + w) of every block of x [rows][cols] <-> part [rows][nb·w]. */
static void part_copy(float *x, float *part, int rows, int cols, int block, int c0, int w,
                      int to_part) {
    int nb = cols / block;
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < nb; b++) {
            float *xs = x + (size_t)r * cols + (size_t)b * block + c0;
            float *ps = part + ((size_t)r * nb + b) * w;
            memcpy(to_part ? ps : xs, to_part ? xs : ps, sizeof(float) * (size_t)w);
        }
}

static int quant_part(float *x, int rows, int cols, int block, int c0, int w,
                      const rb_quant_spec *s, rb_error *err) {
    if (w == 0 || rb_quant_spec_off(s)) return RB_OK;
    int pcols = cols / block * w;
    rb_quant_spec ps = *s;
    if (ps.gran == RB_GRAN_GROUP) ps.group = ps.group / block * w;
    float *part = malloc(sizeof(float) * (size_t)rows * pcols);
    if (!part) return rb_error_set(err, RB_ENOMEM, "out of memory for mixed-precision quantization");
    part_copy(x, part, rows, cols, block, c0, w, 1);
    int rc = rb_fake_quant_dynamic(part, rows, pcols, &ps, err);
    if (!rc) part_copy(x, part, rows, cols, block, c0, w, 0);
    free(part);
    return rc;
}

int rb_fake_quant_dynamic_split(float *x, int rows, int cols, int block, int high,
                                const rb_quant_spec *lo, const rb_quant_spec *hi, rb_error *err) {
    if (high == 0) return rb_fake_quant_dynamic(x, rows, cols, lo, err);
    if (block < 1 || cols % block)
        return rb_error_set(err, RB_EINVAL,
                            "mixed precision: block of %d channels does not divide the %d columns",
                            block, cols);
    if (high < 0 || high > block)
        return rb_error_set(err, RB_EINVAL,
                            "mixed precision: %d high-precision channels per block of %d", high,
                            block);
    const rb_quant_spec *specs[2] = {lo, hi};
    for (int i = 0; i < 2; i++)
        if (!rb_quant_spec_off(specs[i]) && specs[i]->gran == RB_GRAN_GROUP &&
            (specs[i]->group < block || specs[i]->group % block))
            return rb_error_set(err, RB_EINVAL,
                                "mixed precision: group size %d is not a multiple of the block "
                                "of %d channels",
                                specs[i]->group, block);
    int rc = quant_part(x, rows, cols, block, 0, block - high, lo, err);
    if (!rc) rc = quant_part(x, rows, cols, block, block - high, high, hi, err);
    return rc;
}
