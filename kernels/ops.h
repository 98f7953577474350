/* Elementwise and row-wise kernels of the Llama forward.  Each has a plain
 * scalar reference (`_ref`, the definition) and a fast version with run-time
 * SIMD dispatch and OpenMP over rows; tests compare them on random inputs.
 * All arrays are row-major float32; `rows` × `cols` unless stated. */
#ifndef RB_KERNELS_OPS_H
#define RB_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>

/* out[r][:] = x[r][:] / sqrt(mean(x[r]²) + eps) * w[:]   (out may alias x) */
void rb_rmsnorm(float *out, const float *x, const float *w, int rows, int cols, float eps);
void rb_rmsnorm_ref(float *out, const float *x, const float *w, int rows, int cols, float eps);

/* a[i] = silu(a[i]) * b[i] = a/(1+e^-a)·b, for i < n */
void rb_swiglu(float *a, const float *b, size_t n);
void rb_swiglu_ref(float *a, const float *b, size_t n);

/* RoPE on x [T][n_heads*head_dim], token t at position pos0+t, interleaved
 * pairs (x[2i], x[2i+1]) of each head rotated by angle pos·f_i, with the
 * inverse frequencies f_i (i < head_dim/2) of one of the rules below
 * (default f_i = θ^(-2i/head_dim)).  cos_tab/sin_tab are
 * [max_pos][head_dim/2] from rb_rope_table_freqs. */
void rb_rope(float *x, int T, int n_heads, int head_dim, int pos0, const float *cos_tab,
             const float *sin_tab);
/* The definition: angles pos·freq[i] in double, libm cos/sin. */
void rb_rope_ref(float *x, int T, int n_heads, int head_dim, int pos0, const double *freq);
/* Fills cos_tab/sin_tab [max_pos][head_dim/2] with cos/sin(pos·freq[i])
 * (computed in double). */
void rb_rope_table_freqs(float *cos_tab, float *sin_tab, int max_pos, int head_dim,
                         const double *freq);

/* Inverse RoPE frequencies freq [head_dim/2], in double:
 *   default:  freq[i] = θ^(-2i/head_dim)
 *   linear:   the default / factor (positions divided by factor)
 *   llama3:   Llama-3.1's rule (Hugging Face's "llama3" rope_scaling) on the
 *             default: with wavelength λ_i = 2π/freq[i] and L = orig_max_pos,
 *             λ_i < L/high: unchanged; λ_i > L/low: / factor; in between
 *             (1−s)·freq/factor + s·freq with s = (L/λ_i − low)/(high − low)
 *             (high ≤ low: no smoothed band, everything from L/high up divided)
 *   divide:   freq[i] /= factors[i] (llama.cpp's rope_freqs tensor)
 * Reference-style loops (one pow per frequency); no fast twin needed. */
void rb_rope_freqs_default(double *freq, int head_dim, double theta);
void rb_rope_freqs_linear(double *freq, int head_dim, double factor);
void rb_rope_freqs_llama3(double *freq, int head_dim, double factor, double low_freq_factor,
                          double high_freq_factor, double orig_max_pos);
void rb_rope_freqs_divide(double *freq, int head_dim, const float *factors);

/* Causal grouped-query attention for one window:
 *   q [T][n_heads*hd], k, v [T][n_kv*hd] → out [T][n_heads*hd],
 *   head h reads kv head h / (n_heads/n_kv); scores scaled by 1/sqrt(hd).
 * scratch: rb_attention_scratch_floats(T, hd) floats per thread × threads. */
size_t rb_attention_scratch_floats(int T, int head_dim);
void rb_attention(float *out, const float *q, const float *k, const float *v, int T,
                  int n_heads, int n_kv_heads, int head_dim, float *scratch, int threads);
void rb_attention_ref(float *out, const float *q, const float *k, const float *v, int T,
                      int n_heads, int n_kv_heads, int head_dim);

/* A packed window holds several sequences that may share a prefix (zero-shot
 * scoring: one context, then each choice's continuation).  Segment tokens
 * [start, start+len) of the window see the prefix rows [prefix_start,
 * prefix_start+prefix_len), then the rows [prefix2_start,
 * prefix2_start+prefix2_len) (both precede start; prefix2_len 0: none), and
 * then their own rows, causally; token start+i sits at position
 * prefix_len+prefix2_len+i.  (Two prefix parts: MMLU's shared few-shot
 * prefix, then one item's question, then each choice.)  A plain window is
 * the one segment {0, T, 0, 0}. */
typedef struct rb_segment {
    int start, len;
    int prefix_start, prefix_len;
    int prefix2_start, prefix2_len;
} rb_segment;

/* The keys segment s's last row sees, and the window row of its key j. */
static inline int rb_segment_keys(const rb_segment *s) {
    return s->prefix_len + s->prefix2_len + s->len;
}
static inline int rb_segment_key_row(const rb_segment *s, int j) {
    if (j < s->prefix_len) return s->prefix_start + j;
    j -= s->prefix_len;
    if (j < s->prefix2_len) return s->prefix2_start + j;
    return s->start + j - s->prefix2_len;
}

/* rb_attention over segments: rows outside every segment are not written.
 * scratch: rb_attention_scratch_floats(max over segments of rb_segment_keys,
 * hd) floats per thread × threads.  Each segment's output equals
 * rb_attention of a window holding its prefix and its own tokens. */
void rb_attention_segments(float *out, const float *q, const float *k, const float *v,
                           const rb_segment *seg, int n_seg, int n_heads, int n_kv_heads,
                           int head_dim, float *scratch, int threads);
/* rb_attention_segments with K and/or V read from their quantized form
 * (kernels/kv_codes.h, [T][n_kv*hd] codes): kc/vc non-NULL replaces k/v
 * (which may then be NULL).  Equal bit for bit to rb_attention_segments on
 * the dequantized floats (what rb_fake_quant leaves). */
struct rb_kv_codes;
void rb_attention_segments_kv(float *out, const float *q, const float *k, const float *v,
                              const struct rb_kv_codes *kc, const struct rb_kv_codes *vc,
                              const rb_segment *seg, int n_seg, int n_heads, int n_kv_heads,
                              int head_dim, float *scratch, int threads);
void rb_attention_segments_ref(float *out, const float *q, const float *k, const float *v,
                               const rb_segment *seg, int n_seg, int n_heads, int n_kv_heads,
                               int head_dim);

/* Row-wise negative log-likelihood of target[r] under softmax(logits[r]):
 * nll[r] = logsumexp(logits[r]) - logits[r][target[r]], accumulated in double. */
void rb_nll_rows(double *nll, const float *logits, const int32_t *target, int rows, int cols);
void rb_nll_rows_ref(double *nll, const float *logits, const int32_t *target, int rows, int cols);

/* exp(x) for a vector, vectorisable polynomial (rel. error < 2e-7 for
 * x in [-87, 88]; smaller x gives 0).  Reference: expf. */
void rb_vexp(float *y, const float *x, size_t n);
void rb_vexp_ref(float *y, const float *x, size_t n);

#endif
