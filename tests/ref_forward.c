#include "tests/ref_forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/hadamard.h"

/* Weight reads go through here so that finite differences can perturb them
 * in float64. */
typedef struct ref_ctx {
    const ref_delta *d;
    int n;
    double eps;
} ref_ctx;

static const ref_delta *delta_of(const ref_ctx *c, const float *w) {
    for (int i = 0; i < c->n; i++)
        if (c->d[i].tensor == w) return &c->d[i];
    return NULL;
}

static double wread(const float *w, size_t i, const ref_delta *d, double eps) {
    double v = w[i];
    if (d) v += eps * (d->dir ? (double)d->dir[i] : (double)(i == d->index));
    return v;
}

/* y[o] = Σ_i W[o][i] x[i] for W a model tensor. */
static void matvec(double *y, const float *W, const double *x, int n_out, int n_in,
                   const ref_ctx *c) {
    const ref_delta *d = delta_of(c, W);
    for (int o = 0; o < n_out; o++) {
        double s = 0;
        for (int i = 0; i < n_in; i++) s += wread(W, (size_t)o * n_in + i, d, c->eps) * x[i];
        y[o] = s;
    }
}

static void rmsnorm(double *y, const double *x, const float *g, int n, double eps,
                    const ref_ctx *c) {
    const ref_delta *d = delta_of(c, g);
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * r * wread(g, (size_t)i, d, c->eps);
}

/* The inverse frequency of pair i (dimensions 2i, 2i+1) of a head, written
 * from the definitions rather than from kernels/rope.c:
 *   Hugging Face's default:  1 / θ^(2i/hd)
 *   "linear" rope_scaling:   the default / factor
 *   "llama3" rope_scaling:   wavelen = 2π/f; with old = original_max_position_embeddings,
 *                            low_wavelen = old/low_freq_factor, high_wavelen = old/high_freq_factor:
 *                            wavelen > low_wavelen → f/factor; else, unless wavelen <
 *                            high_wavelen (→ f), smooth = (old/wavelen − low)/(high − low),
 *                            (1 − smooth)·f/factor + smooth·f
 *   llama.cpp's rope_freqs:  θ_i = pos·θ^(−2i/hd) / freq_factors[i] */
static double inv_freq(const rb_model *m, int i) {
    const rb_config *c = &m->cfg;
    double f = 1.0 / pow((double)c->rope_theta, (double)(2 * i) / c->head_dim);
    switch (c->rope_scaling) {
    case RB_ROPE_SCALING_LINEAR: return f / c->rope_factor;
    case RB_ROPE_SCALING_FREQ_FACTORS: return f / m->rope_freq_factors[i];
    case RB_ROPE_SCALING_LLAMA3: {
        double old = c->rope_orig_max_pos, lo = c->rope_low_freq_factor;
        double hi = c->rope_high_freq_factor, factor = c->rope_factor;
        double wavelen = 2.0 * 3.14159265358979323846 / f;
        double scaled = wavelen > old / lo ? f / factor : f;
        int medium = !(wavelen < old / hi) && !(wavelen > old / lo);
        if (!medium) return scaled;
        double smooth = (old / wavelen - lo) / (hi - lo);
        return (1.0 - smooth) * scaled / factor + smooth * scaled;
    }
    default: return f;
    }
}

static void rope(double *v, int n_heads, int hd, int pos, const rb_model *m) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd; i += 2) {
            double ang = pos * inv_freq(m, i / 2);
            double a = v[h * hd + i], b = v[h * hd + i + 1];
            v[h * hd + i] = a * cos(ang) - b * sin(ang);
            v[h * hd + i + 1] = a * sin(ang) + b * cos(ang);
        }
}

/* y[o] += b[o]: a bias (perturbable like the weights). */
static void add_bias(double *y, const float *bias, int n, const ref_ctx *c) {
    if (!bias) return;
    const ref_delta *d = delta_of(c, bias);
    for (int o = 0; o < n; o++) y[o] += wread(bias, (size_t)o, d, c->eps);
}

/* v[j·stride] for j < n ← Σ_j' M[j][j'] v[j'·stride] (M [n][n] floats, or the
 * double H below). */
static void mix(double *v, int n, int stride, const float *M, double *tmp) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += (double)M[(size_t)i * n + j] * v[(size_t)j * stride];
        tmp[i] = s;
    }
    for (int i = 0; i < n; i++) v[(size_t)i * stride] = tmp[i];
}

static float *hadamard(int n) {
    float *H = malloc(sizeof(float) * (size_t)n * n);
    if (rb_hadamard_matrix(n, H, NULL)) {
        free(H);
        return NULL;
    }
    return H;
}

static void forward(const rb_model *m, const int32_t *tokens, int T, double *logits,
                    const ref_ctx *rc) {
    const rb_config *c = &m->cfg;
    const rb_online_plan *on = &m->online;
    int D = c->dim, H = c->hidden_dim, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    int qd = nh * hd, kvd = nkv * hd;
    int wide = D > H ? D : H;
    wide = wide > qd ? wide : qd;
    double *x = calloc((size_t)T * D, sizeof(double));
    double *q = calloc((size_t)T * qd, sizeof(double));
    double *k = calloc((size_t)T * kvd, sizeof(double));
    double *v = calloc((size_t)T * kvd, sizeof(double));
    double *att = calloc((size_t)qd, sizeof(double));
    double *xb = calloc((size_t)wide, sizeof(double));
    double *tmp = calloc((size_t)wide + qd, sizeof(double));
    double *a = calloc((size_t)H, sizeof(double)), *b = calloc((size_t)H, sizeof(double));
    double *sc = calloc((size_t)T, sizeof(double));
    float *Hhd = on->qk_hadamard ? hadamard(hd) : NULL;
    float *Hheads = on->o_head_hadamard ? hadamard(nh) : NULL;
    float *Hhid = on->down_hadamard ? hadamard(H) : NULL;
    const ref_delta *demb = delta_of(rc, m->token_embedding);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i++)
            x[(size_t)t * D + i] = wread(m->token_embedding, (size_t)tokens[t] * D + i, demb, rc->eps);
    for (int l = 0; l < c->n_layers; l++) {
        const rb_layer *L = &m->layers[l];
        for (int t = 0; t < T; t++) {
            double *qt = q + (size_t)t * qd, *kt = k + (size_t)t * kvd;
            rmsnorm(xb, x + (size_t)t * D, L->attn_norm, D, c->norm_eps, rc);
            matvec(qt, L->wq, xb, qd, D, rc);
            matvec(kt, L->wk, xb, kvd, D, rc);
            matvec(v + (size_t)t * kvd, L->wv, xb, kvd, D, rc);
            if (c->qkv_bias) {
                add_bias(qt, L->bq, qd, rc);
                add_bias(kt, L->bk, kvd, rc);
                add_bias(v + (size_t)t * kvd, L->bv, kvd, rc);
            }
            rope(qt, nh, hd, t, m);
            rope(kt, nkv, hd, t, m);
            /* online transforms on every head: H first, then the dense one */
            for (int h = 0; h < nh + nkv; h++) {
                double *head = h < nh ? qt + h * hd : kt + (h - nh) * hd;
                if (Hhd) mix(head, hd, 1, Hhd, tmp);
                if (on->qk_dense) mix(head, hd, 1, on->qk_dense + (size_t)l * hd * hd, tmp);
            }
        }
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < nh; h++) {
                int g = h / (nh / nkv);
                double mx = -INFINITY, sum = 0;
                for (int s = 0; s <= t; s++) {
                    double d = 0;
                    for (int e = 0; e < hd; e++)
                        d += q[(size_t)t * qd + h * hd + e] * k[(size_t)s * kvd + g * hd + e];
                    sc[s] = d / sqrt((double)hd);
                    mx = fmax(mx, sc[s]);
                }
                for (int s = 0; s <= t; s++) sum += sc[s] = exp(sc[s] - mx);
                for (int e = 0; e < hd; e++) {
                    double o = 0;
                    for (int s = 0; s <= t; s++) o += sc[s] / sum * v[(size_t)s * kvd + g * hd + e];
                    att[h * hd + e] = o;
                }
            }
            if (Hheads) /* across heads: column e of att viewed [nh][hd] */
                for (int e = 0; e < hd; e++) mix(att + e, nh, hd, Hheads, tmp);
            matvec(tmp, L->wo, att, D, qd, rc);
            for (int i = 0; i < D; i++) x[(size_t)t * D + i] += tmp[i];
        }
        for (int t = 0; t < T; t++) {
            rmsnorm(xb, x + (size_t)t * D, L->ffn_norm, D, c->norm_eps, rc);
            matvec(a, L->w1, xb, H, D, rc);
            matvec(b, L->w3, xb, H, D, rc);
            for (int i = 0; i < H; i++) a[i] = a[i] / (1.0 + exp(-a[i])) * b[i];
            if (Hhid) mix(a, H, 1, Hhid, tmp);
            if (on->down_dense) mix(a, H, 1, on->down_dense + (size_t)l * H * H, tmp);
            matvec(tmp, L->w2, a, D, H, rc);
            for (int i = 0; i < D; i++) x[(size_t)t * D + i] += tmp[i];
        }
    }
    for (int t = 0; t < T; t++) {
        rmsnorm(xb, x + (size_t)t * D, m->final_norm, D, c->norm_eps, rc);
        matvec(logits + (size_t)t * c->vocab_size, m->classifier, xb, c->vocab_size, D, rc);
    }
    free(x); free(q); free(k); free(v); free(att); free(xb); free(tmp); free(a); free(b); free(sc);
    free(Hhd); free(Hheads); free(Hhid);
}

void ref_forward(const rb_model *m, const int32_t *tokens, int T, double *logits) {
    ref_ctx none = {NULL, 0, 0};
    forward(m, tokens, T, logits, &none);
}

double ref_mean_nll_delta(const rb_model *m, const int32_t *tokens, int T, const ref_delta *d,
                          int n, double eps) {
    int V = m->cfg.vocab_size;
    double *lg = malloc(sizeof(double) * (size_t)T * V), total = 0;
    ref_ctx rc = {d, n, eps};
    forward(m, tokens, T, lg, &rc);
    for (int t = 0; t + 1 < T; t++) {
        const double *r = lg + (size_t)t * V;
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < V; j++) mx = fmax(mx, r[j]);
        for (int j = 0; j < V; j++) s += exp(r[j] - mx);
        total += mx + log(s) - r[tokens[t + 1]];
    }
    free(lg);
    return total / (T - 1);
}

double ref_mean_nll(const rb_model *m, const int32_t *tokens, int T) {
    return ref_mean_nll_delta(m, tokens, T, NULL, 0, 0);
}
