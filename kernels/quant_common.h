/* Shared scalar pieces of the quantizer (parameters of one group, the
 * quantize-dequantize of one value), used by both the reference and the fast
 * path so that they agree bit for bit. */
#ifndef RB_KERNELS_QUANT_COMMON_H
#define RB_KERNELS_QUANT_COMMON_H

#include <math.h>

#include "kernels/quant.h"

static inline float rb_qmax_sym(int bits) { return (float)((1 << (bits - 1)) - 1); }
static inline float rb_qmax_asym(int bits) { return (float)((1 << bits) - 1); }

/* x rounded to the nearest IEEE binary16 value, ties to even (x > 0, finite):
 * 11 significant bits, subnormals below 2^-14 in steps of 2^-24; 0 → 1 (a
 * scale must be positive), past the largest half 65504 → 65504. */
static inline float rb_round_scale_f16(float x) {
    int e;
    frexpf(x, &e); /* x = m·2^e, m in [0.5, 1) */
    float quantum = e >= -13 ? ldexpf(1.0f, e - 11) : ldexpf(1.0f, -24);
    float r = nearbyintf(x / quantum) * quantum;
    return r > 65504.0f ? 65504.0f : r > 0 ? r : 1.0f;
}

/* Parameters of one group from its range [lo, hi] (0 is always included). */
static inline void rb_group_params(float lo, float hi, const rb_quant_spec *s, float clip,
                                   float *scale, float *zero) {
    lo = lo < 0 ? lo : 0;
    hi = hi > 0 ? hi : 0;
    if (!s->asym) {
        float amax = (-lo > hi ? -lo : hi) * clip;
        float sc = amax / rb_qmax_sym(s->bits);
        *scale = sc > 1e-30f ? (s->scale_f16 ? rb_round_scale_f16(sc) : sc) : 1.0f;
        *zero = 0;
    } else {
        float range = (hi - lo) * clip;
        float sc = range / rb_qmax_asym(s->bits);
        if (!(sc > 1e-30f)) {
            *scale = 1.0f;
            *zero = 0;
            return;
        }
        if (s->scale_f16) sc = rb_round_scale_f16(sc);
        float z = nearbyintf(-lo * clip / sc);
        float qm = rb_qmax_asym(s->bits);
        *scale = sc;
        *zero = z < 0 ? 0 : z > qm ? qm : z;
    }
}

/* The integer code q of one value (an integer held as float): symmetric in
 * [-qmax, qmax], asymmetric in [0, qmax] with the zero point added. */
static inline float rb_q_sym(float x, float inv, float qmax) {
    float q = nearbyintf(x * inv);
    return q < -qmax ? -qmax : q > qmax ? qmax : q;
}

static inline float rb_q_asym(float x, float inv, float zero, float qmax) {
    float q = nearbyintf(x * inv) + zero;
    return q < 0 ? 0 : q > qmax ? qmax : q;
}

/* dequant(quant(x)) for one value: q·s, (q - z)·s. */
static inline float rb_fq_sym(float x, float inv, float scale, float qmax) {
    return rb_q_sym(x, inv, qmax) * scale;
}

static inline float rb_fq_asym(float x, float inv, float scale, float zero, float qmax) {
    return (rb_q_asym(x, inv, zero, qmax) - zero) * scale;
}


/* The parameter index of element (r, c) of a [rows][cols] matrix (groups of
 * a row: ceil(cols / group), the last one possibly shorter). */
static inline size_t rb_quant_param_index(const rb_quant_spec *s, int cols, int r, int c) {
    if (s->gran == RB_GRAN_TENSOR) return 0;
    if (s->gran == RB_GRAN_ROW) return (size_t)r;
    return (size_t)r * (size_t)((cols + s->group - 1) / s->group) + (size_t)(c / s->group);
}

/* The rectangle of group g: rows [*r0, *r1), columns [*c0, *c1). */
static inline void rb_group_span(const rb_quant_spec *s, int rows, int cols, size_t g, int *r0,
                                 int *r1, int *c0, int *c1) {
    if (s->gran == RB_GRAN_TENSOR) {
        *r0 = 0, *r1 = rows, *c0 = 0, *c1 = cols;
    } else if (s->gran == RB_GRAN_ROW) {
        *r0 = (int)g, *r1 = (int)g + 1, *c0 = 0, *c1 = cols;
    } else {
        int per_row = (cols + s->group - 1) / s->group; /* the last group may be shorter */
        *r0 = (int)(g / (size_t)per_row), *r1 = *r0 + 1;
        *c0 = (int)(g % (size_t)per_row) * s->group;
        *c1 = *c0 + s->group < cols ? *c0 + s->group : cols;
    }
}

enum { RB_CLIP_GRID = 51 }; /* ratios 1.00, 0.99, ..., 0.50 */
static inline float rb_clip_ratio(int k) { return 1.0f - 0.01f * (float)k; }

#endif
