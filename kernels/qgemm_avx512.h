/* The AVX-512 VNNI path of kernels/qgemm.h (internal to qgemm.c): the
 * weights' VNNI copy (layout in qgemm.h), activations re-coded to u8. */
#ifndef RB_KERNELS_QGEMM_AVX512_H
#define RB_KERNELS_QGEMM_AVX512_H

#include "kernels/qgemm.h"
#include "kernels/qgemm_common.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RB_QGEMM_HAVE_AVX512 1

/* wsum [cols / S][rows32] ← Σ over each segment of S columns (S a multiple
 * of 4) of w's stored codes, for the panels p0..p1-1 (VNNI copy). */
void rb_qgemm_wsum_avx512(int32_t *wsum, const rb_qweight *w, int S, int p0, int p1);

/* y [t0..t0+mt-1][o0..o0+nt-1] (= or +=) the integer GEMM, o0 a multiple of
 * 32, nt ≤ 64, mt ≤ RB_QGEMM_VNNI_TB: u [T][ldu ≥ cols] the re-coded activations
 * a + c, c [T][cols / a->group] the offsets, asum [T][cols / S] the
 * segments' Σ a, wsum from rb_qgemm_wsum_avx512 (S the segment width, a
 * multiple of 4). */
enum { RB_QGEMM_VNNI_TB = 96 };
/* The end of segment s0 (its first column) for that tile: y += the
 * corrected dot products acc [mt][ldacc] (tile rows from o0), rescaled. */
void rb_qgemm_finish_avx512(float *y, const rb_qact *a, const rb_qweight *w, const int32_t *acc,
                            int ldacc, const int32_t *c, const int32_t *asum, const int32_t *wsum,
                            int t0, int mt, int o0, int nt, int s0);
/* The AMX tile (kernels/qgemm_amx.c), as rb_qgemm_tile_avx512 with the
 * segment width S a multiple of 64 and u's rows padded with zeros to a
 * multiple of 32; unp: for 4-bit weights, a 64-byte aligned scratch of S·32
 * bytes.  The calling thread must have been granted the tile data state. */
void rb_qgemm_tile_amx(float *y, const rb_qact *a, const rb_qweight *w, const uint8_t *u,
                       const int32_t *c, const int32_t *asum, const int32_t *wsum, int accumulate,
                       int t0, int mt, int o0, int nt, uint8_t *unp);
void rb_qgemm_tile_avx512(float *y, const rb_qact *a, const rb_qweight *w, const uint8_t *u,
                          size_t ldu, const int32_t *c, const int32_t *asum, const int32_t *wsum,
                          int accumulate, int t0, int mt, int o0, int nt);
#else
#define RB_QGEMM_HAVE_AVX512 0
#endif

#endif
