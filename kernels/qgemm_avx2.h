/* The AVX2 micro-kernel of kernels/qgemm.h (internal to qgemm.c).
 *
 * Widened weights (one chunk of n columns of up to 64 rows): panels of 16
 * rows, each row's int16 values (code - zero) in pairs of columns, so that
 * one 32-byte load holds 8 rows × 2 columns and vpmaddwd multiplies it with a
 * broadcast pair of one token's activations:
 *   wb[(p·kp + q)·32 + 2r + e] = w[o0 + 16p + r][k0 + 2q + e] - z[16p + r]
 * for p < ceil(nt / 16), q < kp = rb_qgemm_avx2_pairs(n), r < 16, e < 2,
 * zero for rows past nt and the column past an odd n. */
#ifndef RB_KERNELS_QGEMM_AVX2_H
#define RB_KERNELS_QGEMM_AVX2_H

#include "kernels/qgemm.h"

/* The widest chunk the widening takes (qgemm.c's chunk of a segment). */
enum { RB_QGEMM_CHUNK_MAX = 512 };
/* Column pairs a panel holds for a chunk of n columns: ceil(n / 2) rounded
 * up to 8 (the widening transposes 8 pairs at a time). */
static inline int rb_qgemm_avx2_pairs(int n) { return ((n + 1) / 2 + 7) & ~7; }

#if defined(__x86_64__) && defined(__GNUC__)
#define RB_QGEMM_HAVE_AVX2 1
/* wb (above; 16 · 2 · rb_qgemm_avx2_pairs(n) int16 a panel) ← the codes of
 * weight rows o0..o0+nt-1 (nt ≤ 64), columns k0..k0+n-1 (n ≤
 * RB_QGEMM_CHUNK_MAX), minus each row's zero z[j] (k0 even for 4-bit
 * weights). */
void rb_qgemm_widen_avx2(int16_t *wb, const rb_qweight *w, int o0, int nt, int k0, int n,
                         const int16_t *z);
/* acc [mt][ldacc] (first: =, else +=) a [mt][lda] (n columns) · wb (nt
 * rows)ᵀ, int32; writes whole panels: columns up to 16·ceil(nt / 16) ≤
 * ldacc. */
void rb_qgemm_block_avx2(int32_t *acc, int ldacc, const int16_t *a, size_t lda,
                         const int16_t *wb, int mt, int nt, int n, int first);
/* y[i][j] ← rb_qgemm_rescale(y[i][j], acc[i][j], sa[i · lds], sw[j]) for
 * i < mt, j < nt (y rows ldy apart), bit for bit: the same multiplies and
 * add, 8 at a time, no FMA. */
void rb_qgemm_rescale_avx2(float *y, size_t ldy, const int32_t *acc, int ldacc, int mt, int nt,
                           const float *sa, size_t lds, const float *sw);

/* The u8 path for 4-bit weights (qgemm.c takes it on avx2 where the
 * weights have their VNNI copy, the segment width is a multiple of 4 and
 * every (token, group) of a spans at most 255 values): the activations
 * re-coded to u8 as for avx512-vnni (u = a + c, c = -min per (token,
 * group); asum [T][cols / S] = Σ a per segment), the weight codes (0..15)
 * unpacked per chunk from the 4-bit VNNI copy into s8 quads
 *   wq[(p·kq + q)·64 + 32h + 4r + e] = code(o0 + 16p + 8h + r, k0 + 4q + e)
 * and multiplied by vpmaddubsw (u8 × s8, adjacent pairs into int16: at most
 * 2·255·15 = 7650, so four quads still sum exactly, 30600 < 2^15) and
 * vpmaddwd with ones into int32; each segment's dot is then corrected
 * exactly, dot = Σ u·wc - c·Σ wc - wz·Σ a (wrapping int32, as avx512-vnni),
 * and rescaled as rb_qgemm_rescale (no FMA).  Tile: tokens t0..t0+mt-1 (mt
 * ≤ RB_QGEMM_U8_TB), weight rows o0..o0+nt-1 (o0 a multiple of 64, nt ≤
 * 64); u [T][ldu] with ldu ≥ cols + 16 (the micro-kernel reads up to 15
 * columns past a chunk, which meet zero weights); wbuf RB_QGEMM_U8_WBUF
 * bytes, 32-byte aligned. */
enum { RB_QGEMM_U8_TB = 96, RB_QGEMM_U8_KC = 256,
       RB_QGEMM_U8_WBUF = 4 * (RB_QGEMM_U8_KC / 4) * 64 };
void rb_qgemm_tile_u8_avx2(float *y, const rb_qact *a, const rb_qweight *w, const uint8_t *u,
                           size_t ldu, const int32_t *c, const int32_t *asum, int accumulate,
                           int t0, int mt, int o0, int nt, uint8_t *wbuf);
#else
#define RB_QGEMM_HAVE_AVX2 0
#endif

#endif
