#include "tests/ref_forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* y[o] = Σ_i W[o][i] x[i] */
static void matvec(double *y, const float *W, const double *x, int n_out, int n_in) {
    for (int o = 0; o < n_out; o++) {
        double s = 0;
        for (int i = 0; i < n_in; i++) s += (double)W[(size_t)o * n_in + i] * x[i];
        y[o] = s;
    }
}

static void rmsnorm(double *y, const double *x, const float *g, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * r * g[i];
}

static void rope(double *v, int n_heads, int hd, int pos, double theta) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd; i += 2) {
            double ang = pos * pow(theta, -(double)i / hd);
            double a = v[h * hd + i], b = v[h * hd + i + 1];
            v[h * hd + i] = a * cos(ang) - b * sin(ang);
            v[h * hd + i + 1] = a * sin(ang) + b * cos(ang);
        }
}

void ref_forward(const rb_model *m, const int32_t *tokens, int T, double *logits) {
    const rb_config *c = &m->cfg;
    int D = c->dim, H = c->hidden_dim, hd = c->head_dim, nh = c->n_heads, nkv = c->n_kv_heads;
    int qd = nh * hd, kvd = nkv * hd;
    double *x = calloc((size_t)T * D, sizeof(double));
    double *q = calloc((size_t)T * qd, sizeof(double));
    double *k = calloc((size_t)T * kvd, sizeof(double));
    double *v = calloc((size_t)T * kvd, sizeof(double));
    double *att = calloc((size_t)qd, sizeof(double));
    double *xb = calloc((size_t)(D > H ? D : H), sizeof(double));
    double *tmp = calloc((size_t)(D > H ? D : H) + qd, sizeof(double));
    double *a = calloc((size_t)H, sizeof(double)), *b = calloc((size_t)H, sizeof(double));
    double *sc = calloc((size_t)T, sizeof(double));
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i++) x[(size_t)t * D + i] = m->token_embedding[(size_t)tokens[t] * D + i];
    for (int l = 0; l < c->n_layers; l++) {
        const rb_layer *L = &m->layers[l];
        for (int t = 0; t < T; t++) {
            rmsnorm(xb, x + (size_t)t * D, L->attn_norm, D, c->norm_eps);
            matvec(q + (size_t)t * qd, L->wq, xb, qd, D);
            matvec(k + (size_t)t * kvd, L->wk, xb, kvd, D);
            matvec(v + (size_t)t * kvd, L->wv, xb, kvd, D);
            rope(q + (size_t)t * qd, nh, hd, t, c->rope_theta);
            rope(k + (size_t)t * kvd, nkv, hd, t, c->rope_theta);
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
            matvec(tmp, L->wo, att, D, qd);
            for (int i = 0; i < D; i++) x[(size_t)t * D + i] += tmp[i];
        }
        for (int t = 0; t < T; t++) {
            rmsnorm(xb, x + (size_t)t * D, L->ffn_norm, D, c->norm_eps);
            matvec(a, L->w1, xb, H, D);
            matvec(b, L->w3, xb, H, D);
            for (int i = 0; i < H; i++) a[i] = a[i] / (1.0 + exp(-a[i])) * b[i];
            matvec(tmp, L->w2, a, D, H);
            for (int i = 0; i < D; i++) x[(size_t)t * D + i] += tmp[i];
        }
    }
    for (int t = 0; t < T; t++) {
        rmsnorm(xb, x + (size_t)t * D, m->final_norm, D, c->norm_eps);
        matvec(logits + (size_t)t * c->vocab_size, m->classifier, xb, c->vocab_size, D);
    }
    free(x); free(q); free(k); free(v); free(att); free(xb); free(tmp); free(a); free(b); free(sc);
}

double ref_mean_nll(const rb_model *m, const int32_t *tokens, int T) {
    int V = m->cfg.vocab_size;
    double *lg = malloc(sizeof(double) * (size_t)T * V), total = 0;
    ref_forward(m, tokens, T, lg);
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
