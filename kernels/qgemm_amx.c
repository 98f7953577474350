/* The AMX-INT8 tile of kernels/qgemm.h: tdpbusd (u8 × s8 → int32, no
 * saturation) on the same operands as the avx512-vnni path (u8 activations
 * u = a + c, stored codes as s8, the weights' VNNI copy), in 2 × 2 blocks of
 * 16 × 16 int32 accumulator tiles: 32 tokens × one panel of 32 weight rows,
 * 64 columns a step.  A weight panel's quad units (qgemm.h) are B tiles as
 * they lie: 16 quads × (16 rows × 4 codes), stride 128 bytes for 8-bit
 * weights; 4-bit ones are unpacked per segment into a buffer of that
 * layout.  Each segment's accumulators go to memory and are corrected and
 * rescaled by rb_qgemm_finish_avx512, so the results are those of the other
 * paths bit for bit.  Compiled for AMX by function attribute; qgemm.c calls
 * it only when the CPU has AMX-INT8 and Linux granted the tile data. */
#include "kernels/qgemm_avx512.h"

#if RB_QGEMM_HAVE_AVX512
#include <immintrin.h>
#include <string.h>

#define AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw")))

/* Palette 1: tiles 0-3 the accumulators C[i][h] (token block i, panel half
 * h), 16 rows × 64 bytes; 4-5 the activations of token blocks 0 and 1; 6-7
 * the weights of halves 0 and 1 (16 quads × 64 bytes). */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

static AMX void configure(void) {
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
}

enum { OBV = 64 };

AMX void rb_qgemm_tile_amx(float *y, const rb_qact *a, const rb_qweight *w, const uint8_t *u,
                           const int32_t *c, const int32_t *asum, const int32_t *wsum,
                           int accumulate, int t0, int mt, int o0, int nt, uint8_t *unp) {
    int K = w->cols, N = w->rows, S = rb_qgemm_segment(a, w), np = (nt + 31) / 32;
    int32_t acc[RB_QGEMM_VNNI_TB * OBV];
    configure();
    if (!accumulate)
        for (int i = 0; i < mt; i++) memset(y + (size_t)(t0 + i) * N + o0, 0, sizeof(float) * nt);
    for (int s0 = 0; s0 < K; s0 += S) {
        for (int jp = 0; jp < np; jp++) {
            const uint8_t *wp, *pan = w->vnni + (size_t)(o0 / 32 + jp) * (K / 4) * (w->bits == 8 ? 128 : 64);
            if (w->bits == 8) {
                wp = pan + (size_t)(s0 / 4) * 128;
            } else {
                __m512i m = _mm512_set1_epi8(0x0F);
                for (int q = 0; q < S / 4; q++) {
                    __m512i v = _mm512_loadu_si512(pan + (size_t)(s0 / 4 + q) * 64);
                    _mm512_store_si512(unp + (size_t)q * 128, _mm512_and_si512(v, m));
                    _mm512_store_si512(unp + (size_t)q * 128 + 64,
                                       _mm512_and_si512(_mm512_srli_epi16(v, 4), m));
                }
                wp = unp;
            }
            for (int i = 0; i < mt; i += 32) {
                const uint8_t *u0 = u + (size_t)(t0 + i) * K, *u1 = u0 + (size_t)16 * K;
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                for (int k = s0; k < s0 + S; k += 64) {
                    const uint8_t *b = wp + (size_t)((k - s0) / 4) * 128;
                    _tile_loadd(4, u0 + k, K);
                    _tile_loadd(5, u1 + k, K);
                    _tile_loadd(6, b, 128);
                    _tile_loadd(7, b + 64, 128);
                    _tile_dpbusd(0, 4, 6);
                    _tile_dpbusd(1, 4, 7);
                    _tile_dpbusd(2, 5, 6);
                    _tile_dpbusd(3, 5, 7);
                }
                int32_t *ac = acc + (size_t)i * OBV + 32 * jp;
                _tile_stored(0, ac, OBV * 4);
                _tile_stored(1, ac + 16, OBV * 4);
                _tile_stored(2, ac + 16 * OBV, OBV * 4);
                _tile_stored(3, ac + 16 * OBV + 16, OBV * 4);
            }
        }
        rb_qgemm_finish_avx512(y, a, w, acc, OBV, c, asum, wsum, t0, mt, o0, nt, s0);
    }
    _tile_release();
}
#endif
