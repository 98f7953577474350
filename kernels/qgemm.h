/* Integer GEMM of quantized linears (`--kernels int`).
 *
 *   y [T][n_out] (= or +=) Σ_s  (float)dot_s[t][o] · (sa[t][s] · sw[o][s])
 *   dot_s[t][o] = Σ_{k ∈ segment s} a[t][k] · (wc[o][k] - wz[o][s])   (int32, exact)
 *
 * The weights W [n_out][n_in] (row-major, llama2.c layout, y = x·Wᵀ) are
 * integer codes wc with an integer zero point wz and a float scale sw per
 * (row, group of `group` columns): W[o][k] = (wc - wz)·sw, the value fake
 * quantization (kernels/quant.h) gives.  The activations are the integer
 * differences a = q - z of the same quantizer (int16, so asymmetric 8-bit
 * codes stay exact) with a scale sa per (token, group).  A segment is a run
 * of columns inside one weight group and one activation group: its width is
 * the smaller group size, which must divide the larger (and both the columns:
 * rb_qgemm_check).  Each segment's dot product is exact in int32 and rescaled
 * once; segments are added in increasing order with plain float multiplies
 * and adds (no FMA), so the result is the same bit for bit for every thread
 * count and for the scalar reference and the SIMD path.
 *
 * Weight storage (rb_qweight.bits):
 *   8  one int8 code a byte   [rows][cols]            (weights of 5..8 bits)
 *   4  two codes a byte, 0..15, column 2i in the low nibble of byte i of the
 *      row, rows of (cols + 1) / 2 bytes              (weights of 2..4 bits)
 * Symmetric 8-bit codes are q itself (wz = 0); asymmetric 8-bit codes are
 * q - 128 (wz = z - 128); 4-bit codes are q + 8 (symmetric, wz = 8) or q.
 * Activations are not packed: their codes are made per window, as int16.
 *
 * Fast paths, chosen at run time by CPU feature (rb_qgemm_kernel), all bit
 * for bit equal to rb_qgemm_ref, the scalar reference that tests compare
 * them with:
 *   avx2         int8/int4 codes widened to int16 per tile in panels of
 *                column pairs, vpmaddwd (exact) with broadcast activation
 *                pairs, 6 tokens × 16 rows a step (kernels/qgemm_avx2.h);
 *                for 4-bit weights with their VNNI copy (below), where
 *                avx512-vnni's u8 re-coding is allowed and the segment
 *                width is a multiple of 4, instead vpmaddubsw on the codes
 *                (unpacked per chunk from the copy to s8 quads) and the u8
 *                activations, with avx512-vnni's exact corrections
 *                (2·255·15 fits int16, four quads still do), 6 tokens × 16
 *                rows × 16 columns a step;
 *   avx512-vnni  vpdpbusd (u8 × s8 → int32, no saturation) on the stored
 *                codes as s8 and the activations re-coded per call to u8,
 *                u = a + c with c = -min of a over the (token, group), and
 *                the exact int32 correction (wrapping arithmetic, exact
 *                modulo 2^32, and the true dot fits int32)
 *                  dot = Σ u·wc - c·Σ wc - wz·Σ a   (Σ over the segment);
 *                taken when the weights have their VNNI copy (below), the
 *                segment width is a multiple of 4 and every (token, group)
 *                of a spans at most 255 values (always so for activations
 *                of up to 8 bits); otherwise the call runs on avx2.
 *   amx          tdpbusd (AMX-INT8) on the same u8/s8 operands and the same
 *                corrections, 2 × 2 tiles of 16 × 16 int32; taken where
 *                avx512-vnni would be and the segment width is a multiple
 *                of 64, otherwise the call runs on avx512-vnni.
 *
 * VNNI copy (rb_qweight.vnni, owned, made by rb_qweight_prepack, which
 * rb_qweight_pack calls when rb_qgemm_kernel() is "avx512-vnni" or "amx",
 * or "avx2" for 4-bit weights, whose u8 tiles unpack it): rows in
 * panels of 32 (the last padded with code 0), columns in quads; panel p,
 * quad q is one unit at vnni + (p·cols/4 + q)·unit:
 *   bits 8: unit 128 bytes, [2 halves][16 rows][4 columns] int8 codes,
 *           rows 32p + 16h + r;
 *   bits 4: unit 64 bytes, byte 4r + i holds column 4q + i of row 32p + r
 *           in its low nibble and of row 32p + 16 + r in its high nibble.
 * Beside it, zero and scale transposed, [cols / group][rows rounded up to
 * 32] (vnni_zero int32, vnni_scale float), so the rescale loads 16 rows at
 * once.  The copy doubles the memory of 8-bit weights (codes are kept for
 * the other paths).
 */
#ifndef RB_KERNELS_QGEMM_H
#define RB_KERNELS_QGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/quant.h"

typedef struct rb_qweight {
    int rows, cols;  /* n_out, n_in */
    int bits;        /* storage: 8 or 4 (see above) */
    int group;       /* columns per (scale, zero) group; divides cols */
    uint8_t *codes;  /* [rows][stride] bytes (int8 codes for bits 8), owned */
    size_t stride;   /* bytes per row: cols (8) or (cols + 1) / 2 (4) */
    int16_t *zero;   /* [rows][cols / group], owned */
    float *scale;    /* [rows][cols / group], owned */
    uint8_t *vnni;   /* VNNI copy (above) or NULL, owned */
    int32_t *vnni_zero; /* [cols / group][rows32] or NULL, owned */
    float *vnni_scale;  /* [cols / group][rows32] or NULL, owned */
} rb_qweight;

typedef struct rb_qact {
    int rows, cols;  /* T, n_in */
    int group;       /* columns per scale; divides cols */
    int16_t *q;      /* [rows][cols] q - z, owned (capacity cap_rows) */
    float *scale;    /* [rows][cols / group], owned */
    int cap_rows;
} rb_qact;

/* Integer weights from a fake-quantized matrix w [rows][cols] (values
 * (q - z)·s of the quantizer s with the parameters scale/zero
 * [rb_quant_n_params], as rb_quant_params gave them).  Every value is checked
 * to be exactly (code - zero)·scale: RB_EINVAL naming the first element that
 * is not (the weights were changed after quantization, or quantized with
 * other parameters); RB_EINVAL for an off spec or a group size that does not
 * divide cols; RB_ENOMEM.  On error *out is left empty. */
int rb_qweight_pack(rb_qweight *out, const float *w, int rows, int cols, const rb_quant_spec *s,
                    const float *scale, const float *zero, rb_error *err);
void rb_qweight_free(rb_qweight *w);
/* Makes w's VNNI copy (above) if w->cols is a multiple of 4 and the build
 * and CPU have AVX-512 VNNI, or AVX2 and w has 4-bit codes; a no-op
 * otherwise or when it exists.
 * RB_ENOMEM (w is left without the copy). */
int rb_qweight_prepack(rb_qweight *w, rb_error *err);
/* Bytes held by w's codes, zeros and scales (and the VNNI copy). */
size_t rb_qweight_bytes(const rb_qweight *w);

/* Quantizes x [rows][cols] into a (grown as needed): codes by the rule of
 * rb_fake_quant (round half to even, clamp), a = q - z.  scale/zero: static
 * parameters [rb_quant_n_params] (per tensor), or NULL to compute them from
 * x with rb_quant_params (dynamic).  RB_EINVAL for an off spec or a group
 * size not dividing cols; RB_ENOMEM. */
int rb_qact_quantize(rb_qact *a, const float *x, int rows, int cols, const rb_quant_spec *s,
                     const float *scale, const float *zero, rb_error *err);
void rb_qact_free(rb_qact *a);

/* RB_EINVAL unless a and w fit together: a->cols == w->cols, the group
 * sizes nest (one divides the other), segments of at most 32768 columns
 * (int32 cannot overflow), 4-bit weights with even segment widths. */
int rb_qgemm_check(const rb_qact *a, const rb_qweight *w, rb_error *err);

/* y [a->rows][w->rows] = (accumulate: +=) the integer GEMM above; a and w
 * must pass rb_qgemm_check.  OpenMP over output tiles.  rb_qgemm takes the
 * path rb_qgemm_kernel names. */
void rb_qgemm(float *y, const rb_qact *a, const rb_qweight *w, int accumulate);
void rb_qgemm_ref(float *y, const rb_qact *a, const rb_qweight *w, int accumulate);

typedef enum {
    RB_QGEMM_SCALAR,
    RB_QGEMM_AVX2,
    RB_QGEMM_AVX512_VNNI,
    RB_QGEMM_AMX,
    RB_QGEMM_N_PATHS
} rb_qgemm_path;
/* "scalar", "avx2", "avx512-vnni", "amx". */
const char *rb_qgemm_path_name(rb_qgemm_path p);
/* Whether p is built in and the CPU has what it needs (amx: the first call
 * asks Linux for the tile data state, arch_prctl ARCH_REQ_XCOMP_PERM, once
 * per process; refused, amx is not available). */
int rb_qgemm_path_available(rb_qgemm_path p);
/* rb_qgemm on path p, or where p is not available or a and w do not allow
 * it (see above), on the next path down; returns the path taken (tests and
 * benchmarks call it for every path in one process).  The avx512-vnni path
 * allocates T·cols bytes a call; if that fails it runs on avx2. */
rb_qgemm_path rb_qgemm_on(rb_qgemm_path p, float *y, const rb_qact *a, const rb_qweight *w,
                          int accumulate);

/* The path rb_qgemm takes on this CPU: the best available one, or the one
 * the environment variable RB_QGEMM names (scalar, avx2, avx512-vnni, amx;
 * read once; a path the CPU lacks falls to the next one down, an unknown
 * name is ignored). */
const char *rb_qgemm_kernel(void);

/* The segment width of a and w (the smaller group size). */
static inline int rb_qgemm_segment(const rb_qact *a, const rb_qweight *w) {
    return a->group < w->group ? a->group : w->group;
}

#endif
