/* Evaluation throughput of rotbench: sgemm peak, linear layers, full forward
 * windows with NLL scoring, and where the forward's time goes.
 *
 * usage: bench_eval [--threads N] [--quick] [--only sgemm,linear,stories,synth]
 *                   [--data DIR] [--synth-model FILE] [--tokens-out FILE]
 *                   [--seed N] [--no-long]
 *        bench_eval --write-synth FILE     (writes the real-size synthetic model, exits)
 *
 * Sections:
 *   sgemm    best GFLOP/s of cblas_sgemm on large shapes (the machine's peak)
 *   linear   rb_linear / rb_linear_acc on Llama-2-7B layer shapes, T = 512 (and 2048)
 *   stories  rb_forward + rb_nll_rows windows of stories260K (T = 512)
 *   synth    the same on a real-size model (dim 4096, hidden 11008, 32 heads,
 *            2 layers, vocab 32000; T = 512 and, without --quick/--no-long, 2048)
 * Each forward section also runs a few windows with timing hooks (timestamps at
 * every hook of rb_forward) and times the non-GEMM kernels alone on the same
 * shapes, to split the window into linears / attention / the rest.
 *
 * stdout: one JSON object per measurement; stderr: human-readable lines.
 * --tokens-out FILE writes each window's token ids and per-token NLLs so that
 * an independent implementation (bench/torch_eval.py) can check and time them:
 *   tokens LABEL T id_0 ... id_{T-1}
 *   nll LABEL T MEAN nll_1 ... nll_{T-1}      (nll_t = -log p(id_t | id_<t)) */
#include <cblas.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/forward.h"
#include "base/io.h"
#include "core/model.h"
#include "base/rng.h"
#include "kernels/linear.h"
#include "kernels/ops.h"

/* ---- options and output ------------------------------------------------- */

typedef struct bench_opts {
    int threads, quick, long_windows;
    uint64_t seed;
    const char *data, *synth_model, *tokens_out, *only;
    FILE *tok;
} bench_opts;

static int want(const bench_opts *o, const char *section) {
    if (!o->only) return 1;
    size_t n = strlen(section);
    for (const char *p = o->only; (p = strstr(p, section)); p += n)
        if ((p == o->only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

static json_object *record(const bench_opts *o, const char *kind) {
    json_object *j = json_object_new_object();
    json_object_object_add(j, "bench", json_object_new_string("rotbench"));
    json_object_object_add(j, "kind", json_object_new_string(kind));
    json_object_object_add(j, "threads", json_object_new_int(o->threads));
    /* the OpenBLAS kernel set in use (OPENBLAS_CORETYPE changes it) */
    json_object_object_add(j, "openblas_core", json_object_new_string(openblas_get_corename()));
    return j;
}

/* non-finite values (e.g. a fraction of an unmeasured peak) become null */
static void jset_d(json_object *j, const char *k, double v) {
    json_object_object_add(j, k, isfinite(v) ? json_object_new_double(v) : NULL);
}
static void jset_i(json_object *j, const char *k, int64_t v) {
    json_object_object_add(j, k, json_object_new_int64(v));
}
static void jset_s(json_object *j, const char *k, const char *v) {
    json_object_object_add(j, k, json_object_new_string(v));
}

static void emit(json_object *j) {
    puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
    fflush(stdout);
    json_object_put(j);
}

static void *xmalloc(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "bench_eval: out of memory (%.1f MiB)\n", bytes / 1048576.0);
        exit(1);
    }
    return p;
}

static void fill_random(float *x, size_t n, float a, rb_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = a * (float)(2.0 * rb_rng_uniform(r) - 1.0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double min_of(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

/* ---- sgemm peak --------------------------------------------------------- */

static double sgemm_peak(const bench_opts *o) {
    struct { int M, N, K, trans_b; } shapes[] = {
        {4096, 4096, 4096, 0}, {4096, 4096, 4096, 1}, {2048, 4096, 4096, 0}, {2048, 4096, 4096, 1}};
    const int reps = o->quick ? 2 : 3;
    size_t maxn = (size_t)4096 * 4096;
    float *A = xmalloc(sizeof(float) * maxn), *B = xmalloc(sizeof(float) * maxn);
    float *C = xmalloc(sizeof(float) * maxn);
    rb_rng r;
    rb_rng_seed(&r, 7);
    fill_random(A, maxn, 1.0f, &r);
    fill_random(B, maxn, 1.0f, &r);
    double peak = 0;
    /* a second of sgemm first: thread start-up, page faults, clock ramp-up */
    for (double t0 = rb_now(); rb_now() - t0 < 1.0;)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2048, 2048, 2048, 1.0f, A, 2048, B,
                    2048, 0.0f, C, 2048);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K, tb = shapes[s].trans_b;
        double t[8];
        for (int i = -1; i < reps; i++) { /* i = -1: warm-up */
            double t0 = rb_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
                        1.0f, A, K, B, tb ? K : N, 0.0f, C, N);
            if (i >= 0) t[i] = rb_now() - t0;
        }
        double best = min_of(t, reps), gf = 2.0 * M * N * K / best / 1e9;
        if (gf > peak) peak = gf;
        fprintf(stderr, "sgemm %dx%dx%d %s: best %.1f ms, %.1f GFLOP/s\n", M, N, K,
                tb ? "NT" : "NN", best * 1e3, gf);
        json_object *j = record(o, "sgemm");
        jset_i(j, "M", M);
        jset_i(j, "N", N);
        jset_i(j, "K", K);
        jset_s(j, "layout", tb ? "row-major A·Bᵀ" : "row-major A·B");
        jset_i(j, "reps", reps);
        jset_d(j, "best_ms", best * 1e3);
        jset_d(j, "median_ms", median(t, reps) * 1e3);
        jset_d(j, "gflops", gf);
        emit(j);
    }
    free(A);
    free(B);
    free(C);
    fprintf(stderr, "sgemm peak: %.1f GFLOP/s (%d threads)\n", peak, o->threads);
    json_object *j = record(o, "sgemm_peak");
    jset_d(j, "gflops", peak);
    emit(j);
    return peak;
}

/* ---- linear layers ------------------------------------------------------ */

static void linear_layers(const bench_opts *o, double peak) {
    struct { const char *name; int n_in, n_out, acc, per_layer; } lin[] = {
        {"wq/wk/wv", 4096, 4096, 0, 3}, {"wo (acc)", 4096, 4096, 1, 1},
        {"w1/w3", 4096, 11008, 0, 2},   {"w2 (acc)", 11008, 4096, 1, 1},
        {"classifier", 4096, 32000, 0, 0}};
    const int nlin = sizeof lin / sizeof *lin;
    int Ts[2] = {512, 2048}, nT = o->quick ? 1 : 2;
    const int reps = o->quick ? 2 : 3;
    size_t max_w = (size_t)32000 * 4096, max_x = (size_t)2048 * 11008,
           max_y = (size_t)2048 * 32000;
    float *w = xmalloc(sizeof(float) * max_w), *x = xmalloc(sizeof(float) * max_x);
    float *y = xmalloc(sizeof(float) * max_y);
    rb_rng r;
    rb_rng_seed(&r, 11);
    fill_random(w, max_w, 1.0f / 64, &r);
    fill_random(x, max_x, 1.0f, &r);
    memset(y, 0, sizeof(float) * max_y);
    for (int it = 0; it < nT; it++) {
        int T = Ts[it];
        double layer_flops = 0, layer_time = 0;
        for (int i = 0; i < nlin; i++) {
            double t[8];
            for (int k = -1; k < reps; k++) {
                double t0 = rb_now();
                if (lin[i].acc)
                    rb_linear_acc(y, x, w, T, lin[i].n_in, lin[i].n_out);
                else
                    rb_linear(y, x, w, T, lin[i].n_in, lin[i].n_out);
                if (k >= 0) t[k] = rb_now() - t0;
            }
            double flops = 2.0 * T * lin[i].n_in * lin[i].n_out, best = min_of(t, reps);
            double gf = flops / best / 1e9;
            layer_flops += lin[i].per_layer * flops;
            layer_time += lin[i].per_layer * best;
            fprintf(stderr, "linear T=%-4d %-10s %5d -> %5d: %8.2f ms  %6.1f GFLOP/s  %5.1f%% of peak\n",
                    T, lin[i].name, lin[i].n_in, lin[i].n_out, best * 1e3, gf, 100 * gf / peak);
            json_object *j = record(o, "linear");
            jset_s(j, "name", lin[i].name);
            jset_i(j, "T", T);
            jset_i(j, "n_in", lin[i].n_in);
            jset_i(j, "n_out", lin[i].n_out);
            jset_i(j, "reps", reps);
            jset_d(j, "best_ms", best * 1e3);
            jset_d(j, "median_ms", median(t, reps) * 1e3);
            jset_d(j, "gflops", gf);
            jset_d(j, "frac_of_peak", gf / peak);
            emit(j);
        }
        double gf = layer_flops / layer_time / 1e9;
        fprintf(stderr, "linear T=%-4d all 7 linears of a layer: %.1f ms, %.1f GFLOP/s, %.1f%% of peak\n",
                T, layer_time * 1e3, gf, 100 * gf / peak);
        json_object *j = record(o, "linear_layer");
        jset_i(j, "T", T);
        jset_d(j, "ms", layer_time * 1e3);
        jset_d(j, "gflops", gf);
        jset_d(j, "frac_of_peak", gf / peak);
        emit(j);
    }
    free(w);
    free(x);
    free(y);
}

/* ---- timing hooks: a timestamp at every hook of rb_forward --------------- */

/* Segments between consecutive hook events; each is named after the work that
 * runs between its opening event and the next one (see forward.c). */
typedef enum seg {
    SEG_EMBED_NORM, /* start → qkv_in(0): embedding copy + attn_norm */
    SEG_WQ, SEG_WK,
    SEG_WV_ROPE,    /* wv, then RoPE on q and k */
    SEG_ATTN,       /* causal attention */
    SEG_WO_NORM,    /* wo (residual accumulate), then ffn_norm */
    SEG_W1,
    SEG_W3_SWIGLU,  /* w3, then silu(a)·b */
    SEG_W2_NORM,    /* w2 (residual accumulate), then the next attn_norm / final_norm */
    SEG_CLS,        /* classifier */
    SEG_GAP,        /* activation hook → next weight hook: nothing but the calls */
    SEG_COUNT
} seg;

static const char *const seg_names[SEG_COUNT] = {
    "embed+rmsnorm", "wq", "wk", "wv+rope", "attention", "wo+rmsnorm", "w1",
    "w3+swiglu", "w2+rmsnorm", "classifier", "hook_gaps"};

typedef struct timer_ctx {
    double t_prev;
    seg cur;
    double acc[SEG_COUNT];
} timer_ctx;

static void mark(timer_ctx *c, seg next) {
    double now = rb_now();
    c->acc[c->cur] += now - c->t_prev;
    c->t_prev = now;
    c->cur = next;
}

static int timer_act(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                     rb_error *err) {
    (void)layer, (void)p, (void)x, (void)rows, (void)cols, (void)err;
    mark(ctx, SEG_GAP);
    return RB_OK;
}

static int timer_qkv(void *ctx, int layer, float *q, float *k, float *v, int T,
                     const rb_config *cfg, rb_error *err) {
    (void)layer, (void)q, (void)k, (void)v, (void)T, (void)cfg, (void)err;
    mark(ctx, SEG_ATTN);
    return RB_OK;
}

static const float *timer_weight(void *ctx, int layer, rb_linear_id id, const float *w) {
    (void)layer;
    static const seg of[RB_LINEAR_COUNT + 1] = {
        [RB_WQ] = SEG_WQ, [RB_WK] = SEG_WK,        [RB_WV] = SEG_WV_ROPE, [RB_WO] = SEG_WO_NORM,
        [RB_W1] = SEG_W1, [RB_W3] = SEG_W3_SWIGLU, [RB_W2] = SEG_W2_NORM,
        [RB_LINEAR_COUNT] = SEG_CLS};
    mark(ctx, of[id]);
    return w;
}

/* ---- non-GEMM kernels alone on the forward's shapes ---------------------- */

typedef enum kern { K_RMSNORM, K_ROPE_Q, K_ROPE_K, K_SWIGLU, K_ATTN, K_NLL, K_EMBED, K_COUNT } kern;
static const char *const kern_names[K_COUNT] = {"rmsnorm", "rope_q", "rope_k", "swiglu",
                                                "attention", "nll_rows", "embed"};

/* Runs kernel k once on the workspace (after a forward, so q/k/v/logits hold
 * real values); returns seconds.  swiglu runs on a copy of hb restored first. */
static double run_kernel(kern k, const rb_model *m, rb_workspace *ws, const int32_t *tok, int T,
                         float *hb_copy, double *nll) {
    const rb_config *c = &m->cfg;
    size_t nh = (size_t)T * c->hidden_dim;
    if (k == K_SWIGLU) memcpy(ws->hb, hb_copy, sizeof(float) * nh);
    double t0 = rb_now();
    switch (k) {
    case K_RMSNORM: rb_rmsnorm(ws->xb, ws->x, m->final_norm, T, c->dim, c->norm_eps); break;
    case K_ROPE_Q: rb_rope(ws->q, T, c->n_heads, c->head_dim, 0, ws->rope_cos, ws->rope_sin); break;
    case K_ROPE_K:
        rb_rope(ws->k, T, c->n_kv_heads, c->head_dim, 0, ws->rope_cos, ws->rope_sin);
        break;
    case K_SWIGLU: rb_swiglu(ws->hb, ws->hb2, nh); break;
    case K_ATTN:
        rb_attention(ws->att, ws->q, ws->k, ws->v, T, c->n_heads, c->n_kv_heads, c->head_dim,
                     ws->att_scratch, ws->threads);
        break;
    case K_NLL: rb_nll_rows(nll, ws->logits, tok + 1, T - 1, c->vocab_size); break;
    case K_EMBED:
        for (int t = 0; t < T; t++)
            memcpy(ws->x + (size_t)t * c->dim, m->token_embedding + (size_t)tok[t] * c->dim,
                   sizeof(float) * c->dim);
        break;
    case K_COUNT: break;
    }
    return rb_now() - t0;
}

/* ---- forward windows ---------------------------------------------------- */

static double forward_flops(const rb_config *c, int T) {
    double qdim = (double)c->n_heads * c->head_dim, kvdim = (double)c->n_kv_heads * c->head_dim;
    double per_tok_layer = c->dim * qdim + 2 * c->dim * kvdim + qdim * c->dim +
                           3.0 * c->dim * c->hidden_dim;
    double lin = 2.0 * T * (c->n_layers * per_tok_layer + (double)c->dim * c->vocab_size);
    /* causal attention: T(T+1)/2 scores × head_dim, twice (QKᵀ and ·V) */
    double att = 2.0 * 2.0 * c->n_layers * c->n_heads * c->head_dim * (T * (T + 1.0) / 2);
    return lin + att;
}

static double linear_flops(const rb_config *c, int T) {
    return forward_flops(c, T) -
           4.0 * c->n_layers * c->n_heads * c->head_dim * (T * (T + 1.0) / 2);
}

static int bench_forward(const bench_opts *o, const char *label, const rb_model *m, int T,
                         double min_seconds, int min_reps, int max_reps, double peak) {
    const rb_config *c = &m->cfg;
    rb_error err = {0};
    rb_workspace ws;
    if (rb_workspace_init(&ws, c, T, &err)) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        return 1;
    }
    int32_t *tok = xmalloc(sizeof(int32_t) * (size_t)T);
    double *nll = xmalloc(sizeof(double) * (size_t)T);
    rb_rng r;
    rb_rng_seed(&r, o->seed);
    for (int t = 0; t < T; t++) tok[t] = (int32_t)rb_rng_below(&r, (uint64_t)c->vocab_size);

    /* warm-up window (page-faults an mmapped model in, starts the threads) */
    if (rb_forward(m, &ws, tok, T, NULL, &err)) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        return 1;
    }
    rb_nll_rows(nll, ws.logits, tok + 1, T - 1, c->vocab_size);

    double *tf = xmalloc(sizeof(double) * (size_t)max_reps),
           *tn = xmalloc(sizeof(double) * (size_t)max_reps),
           *tw = xmalloc(sizeof(double) * (size_t)max_reps);
    int reps = 0;
    double start = rb_now(), mean_nll = 0;
    while (reps < max_reps && (reps < min_reps || rb_now() - start < min_seconds)) {
        double t0 = rb_now();
        if (rb_forward(m, &ws, tok, T, NULL, &err)) {
            fprintf(stderr, "bench_eval: %s\n", err.msg);
            return 1;
        }
        double t1 = rb_now();
        rb_nll_rows(nll, ws.logits, tok + 1, T - 1, c->vocab_size);
        double t2 = rb_now();
        tf[reps] = t1 - t0;
        tn[reps] = t2 - t1;
        tw[reps] = t2 - t0;
        reps++;
    }
    double sum = 0;
    for (int t = 0; t < T - 1; t++) sum += nll[t];
    mean_nll = sum / (T - 1);
    double fwd_best = min_of(tf, reps), win_best = min_of(tw, reps);
    double fwd_med = median(tf, reps), nll_med = median(tn, reps), win_med = median(tw, reps);
    double gf = forward_flops(c, T) / fwd_med / 1e9;
    fprintf(stderr,
            "forward %-12s T=%-4d: %d windows, %.2f ms/window (forward %.2f + nll %.2f), "
            "%.0f tokens/s (forward only %.0f), %.1f GFLOP/s, mean NLL %.9f\n",
            label, T, reps, win_med * 1e3, fwd_med * 1e3, nll_med * 1e3, T / win_med,
            T / fwd_med, gf, mean_nll);
    json_object *j = record(o, "forward");
    jset_s(j, "model", label);
    jset_s(j, "source", m->source);
    jset_i(j, "T", T);
    jset_i(j, "dim", c->dim);
    jset_i(j, "hidden", c->hidden_dim);
    jset_i(j, "layers", c->n_layers);
    jset_i(j, "heads", c->n_heads);
    jset_i(j, "kv_heads", c->n_kv_heads);
    jset_i(j, "vocab", c->vocab_size);
    jset_i(j, "windows", reps);
    jset_d(j, "ms_per_window", win_med * 1e3);
    jset_d(j, "ms_per_window_best", win_best * 1e3);
    jset_d(j, "forward_ms", fwd_med * 1e3);
    jset_d(j, "forward_ms_best", fwd_best * 1e3);
    jset_d(j, "nll_ms", nll_med * 1e3);
    jset_d(j, "tokens_per_s", T / win_med);
    jset_d(j, "tokens_per_s_best", T / win_best);
    jset_d(j, "forward_tokens_per_s", T / fwd_med);
    jset_d(j, "forward_gflops", gf);
    jset_d(j, "forward_frac_of_peak", gf / peak);
    jset_d(j, "mean_nll", mean_nll);
    emit(j);

    if (o->tok) {
        fprintf(o->tok, "tokens %s %d", label, T);
        for (int t = 0; t < T; t++) fprintf(o->tok, " %d", tok[t]);
        fprintf(o->tok, "\nnll %s %d %.17g", label, T, mean_nll);
        for (int t = 0; t < T - 1; t++) fprintf(o->tok, " %.17g", nll[t]);
        fputc('\n', o->tok);
        fflush(o->tok);
    }

    /* breakdown: windows with timestamping hooks (10 for small models, where
     * they are cheap; 2 or 1 of the real-size ones) */
    int breps = min_seconds > 0 ? 10 : T >= 2048 ? 1 : 2;
    timer_ctx tc;
    memset(&tc, 0, sizeof tc);
    rb_hooks hooks = {.ctx = &tc, .activation = timer_act, .qkv = timer_qkv,
                      .weight = timer_weight};
    double hooked = 0;
    for (int i = 0; i < breps; i++) {
        tc.cur = SEG_EMBED_NORM;
        tc.t_prev = rb_now();
        double t0 = tc.t_prev;
        if (rb_forward(m, &ws, tok, T, &hooks, &err)) {
            fprintf(stderr, "bench_eval: %s\n", err.msg);
            return 1;
        }
        mark(&tc, SEG_GAP);
        hooked += rb_now() - t0;
    }
    /* non-GEMM kernels alone, same shapes, several runs each (best of) */
    size_t nh = (size_t)T * c->hidden_dim;
    float *hb_copy = xmalloc(sizeof(float) * nh);
    memcpy(hb_copy, ws.hb, sizeof(float) * nh);
    double kt[K_COUNT];
    for (int k = 0; k < K_COUNT; k++) {
        double best = INFINITY, spent = 0;
        for (int i = 0; i < 200 && (i < 3 || spent < 0.2); i++) {
            double t = run_kernel((kern)k, m, &ws, tok, T, hb_copy, nll);
            best = t < best ? t : best;
            spent += t;
        }
        kt[k] = best;
    }
    free(hb_copy);

    json_object *jb = record(o, "forward_breakdown");
    jset_s(jb, "model", label);
    jset_i(jb, "T", T);
    jset_i(jb, "windows", breps);
    jset_d(jb, "hooked_forward_ms", hooked / breps * 1e3);
    json_object *segs = json_object_new_object();
    fprintf(stderr, "  breakdown (%d hooked windows, %.2f ms each; segments summed over layers):\n",
            breps, hooked / breps * 1e3);
    for (int s = 0; s < SEG_COUNT; s++) {
        double ms = tc.acc[s] / breps * 1e3;
        jset_d(segs, seg_names[s], ms);
        fprintf(stderr, "    %-14s %9.3f ms  %5.1f%%\n", seg_names[s], ms,
                100 * tc.acc[s] / hooked);
    }
    json_object_object_add(jb, "segments_ms", segs);
    json_object *kj = json_object_new_object();
    fprintf(stderr, "  kernels alone (best of runs, one call):");
    for (int k = 0; k < K_COUNT; k++) {
        jset_d(kj, kern_names[k], kt[k] * 1e3);
        fprintf(stderr, " %s %.3f ms%s", kern_names[k], kt[k] * 1e3, k + 1 < K_COUNT ? "," : "\n");
    }
    json_object_object_add(jb, "kernel_ms", kj);
    /* categories per window: GEMM segments minus the elementwise work they
     * contain (measured alone), the attention segment, and the rest */
    double L = c->n_layers, w = hooked / breps;
    double mixed = (kt[K_ROPE_Q] + kt[K_ROPE_K] + kt[K_SWIGLU] + 2 * kt[K_RMSNORM]) * L;
    double lin = 0;
    for (int s = SEG_WQ; s <= SEG_CLS; s++)
        if (s != SEG_ATTN) lin += tc.acc[s] / breps;
    lin -= mixed;
    double att = tc.acc[SEG_ATTN] / breps, nll_t = nll_med;
    double other = w - lin - att;
    double lin_gf = linear_flops(c, T) / lin / 1e9;
    json_object *cat = json_object_new_object();
    jset_d(cat, "linears_ms", lin * 1e3);
    jset_d(cat, "attention_ms", att * 1e3);
    jset_d(cat, "elementwise_embed_hooks_ms", other * 1e3);
    jset_d(cat, "nll_ms", nll_t * 1e3);
    jset_d(cat, "linears_gflops", lin_gf);
    jset_d(cat, "linears_frac_of_peak", lin_gf / peak);
    json_object_object_add(jb, "categories", cat);
    emit(jb);
    double win = w + nll_t;
    fprintf(stderr,
            "  window = linears %.2f ms (%.1f%%, %.1f GFLOP/s = %.1f%% of peak) + attention "
            "%.2f ms (%.1f%%) + norms/rope/swiglu/embed %.2f ms (%.1f%%) + nll %.2f ms (%.1f%%)\n",
            lin * 1e3, 100 * lin / win, lin_gf, 100 * lin_gf / peak, att * 1e3, 100 * att / win,
            other * 1e3, 100 * other / win, nll_t * 1e3, 100 * nll_t / win);

    free(tf);
    free(tn);
    free(tw);
    free(tok);
    free(nll);
    rb_workspace_free(&ws);
    return 0;
}

/* ---- models ------------------------------------------------------------- */

static rb_config real_size_config(void) {
    rb_config c = {.dim = 4096, .hidden_dim = 11008, .n_layers = 2, .n_heads = 32,
                   .n_kv_heads = 32, .vocab_size = 32000, .seq_len = 2048, .head_dim = 128,
                   .norm_eps = 1e-5f, .rope_theta = 10000.0f};
    return c;
}

static int load_or_synth(const bench_opts *o, rb_model **m) {
    rb_error err = {0};
    double t0 = rb_now();
    int rc;
    if (o->synth_model) {
        rc = rb_model_load(o->synth_model, m, &err);
    } else {
        rb_config c = real_size_config();
        rc = rb_model_synthetic(&c, 1, 1, m, &err);
    }
    if (rc) {
        fprintf(stderr, "bench_eval: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "real-size model %s ready in %.1f s\n",
            o->synth_model ? o->synth_model : "(synthetic, in memory)", rb_now() - t0);
    return 0;
}

static void usage(FILE *f) {
    fputs("usage: bench_eval [--threads N] [--quick] [--no-long] [--only LIST] [--data DIR]\n"
          "                  [--synth-model FILE] [--tokens-out FILE] [--seed N]\n"
          "       bench_eval --write-synth FILE\n"
          "  LIST: comma-separated of sgemm,linear,stories,synth (default: all)\n"
          "  --synth-model FILE  real-size model to load (default: generated in memory)\n"
          "  --write-synth FILE  write the real-size synthetic model (seed 1) and exit\n"
          "  --tokens-out FILE   write each window's token ids and per-token NLLs\n"
          "  --no-long           skip the T=2048 real-size window (--quick implies it)\n",
          f);
}

int main(int argc, char **argv) {
    bench_opts o = {.threads = (int)sysconf(_SC_NPROCESSORS_ONLN), .long_windows = 1,
                    .seed = 1234};
    const char *write_synth = NULL;
    static const struct option opts[] = {
        {"threads", required_argument, 0, 't'},  {"quick", no_argument, 0, 'q'},
        {"no-long", no_argument, 0, 'n'},        {"only", required_argument, 0, 'o'},
        {"data", required_argument, 0, 'd'},     {"synth-model", required_argument, 0, 'm'},
        {"tokens-out", required_argument, 0, 'k'}, {"seed", required_argument, 0, 's'},
        {"write-synth", required_argument, 0, 'w'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 't': o.threads = atoi(optarg); break;
        case 'q': o.quick = 1; o.long_windows = 0; break;
        case 'n': o.long_windows = 0; break;
        case 'o': o.only = optarg; break;
        case 'd': o.data = optarg; break;
        case 'm': o.synth_model = optarg; break;
        case 'k': o.tokens_out = optarg; break;
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 'w': write_synth = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.threads < 1 || o.threads > 1024) {
        fprintf(stderr, "bench_eval: --threads must be in 1..1024\n");
        return 2;
    }
    rb_set_threads(o.threads);

    if (write_synth) {
        rb_config c = real_size_config();
        rb_model *m;
        rb_error err = {0};
        if (rb_model_synthetic(&c, 1, 1, &m, &err) || rb_model_save(m, write_synth, &err)) {
            fprintf(stderr, "bench_eval: %s\n", err.msg);
            return 1;
        }
        rb_model_free(m);
        fprintf(stderr, "wrote %s\n", write_synth);
        return 0;
    }

    if (!o.data || !*o.data) o.data = getenv("ROTBENCH_DATA");
    if (!o.data || !*o.data) o.data = "/work/shared";
    if (o.tokens_out && !(o.tok = fopen(o.tokens_out, "w"))) {
        perror(o.tokens_out);
        return 1;
    }
    int avx512 = __builtin_cpu_supports("avx512f") != 0;
    double load[3] = {0, 0, 0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = NAN;
        fclose(la);
    }
    json_object *j = record(&o, "machine");
    jset_i(j, "cpus_online", sysconf(_SC_NPROCESSORS_ONLN));
    jset_i(j, "cpu_avx512f", avx512);
    jset_d(j, "loadavg_1min", load[0]);
    jset_s(j, "openblas_config", openblas_get_config());
    jset_s(j, "openblas_core", openblas_get_corename());
    jset_i(j, "openblas_threads", rb_blas_threads());
    jset_i(j, "omp_threads", omp_get_max_threads());
    jset_i(j, "quick", o.quick);
    emit(j);
    fprintf(stderr, "bench_eval: %d threads, OpenBLAS %s (core %s), load average %.2f\n",
            o.threads, openblas_get_config(), openblas_get_corename(), load[0]);
    const char *core = openblas_get_corename();
    if (avx512 && (!strcmp(core, "Haswell") || !strncmp(core, "Zen", 3)))
        fprintf(stderr, "bench_eval: note: the CPU has AVX-512 but OpenBLAS runs its %s (AVX2) "
                        "kernels; OPENBLAS_CORETYPE=SkylakeX selects the AVX-512 ones\n",
                core);

    /* the peak is needed for fractions of it: measured unless only stories runs */
    double peak = NAN;
    if (want(&o, "sgemm") || want(&o, "linear") || want(&o, "synth")) peak = sgemm_peak(&o);
    int bad = 0;
    if (want(&o, "linear")) linear_layers(&o, peak);
    if (want(&o, "stories")) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/stories260K/stories260K.bin", o.data);
        rb_model *m;
        rb_error err = {0};
        if (rb_model_load(path, &m, &err)) {
            fprintf(stderr, "bench_eval: %s\n", err.msg);
            bad = 1;
        } else {
            bad |= bench_forward(&o, "stories260K", m, 512, o.quick ? 1.0 : 3.0, 5, 100000, peak);
            rb_model_free(m);
        }
    }
    if (want(&o, "synth")) {
        rb_model *m;
        if (load_or_synth(&o, &m)) {
            bad = 1;
        } else {
            bad |= bench_forward(&o, "real-size", m, 512, 0, o.quick ? 2 : 3, 100, peak);
            if (o.long_windows) bad |= bench_forward(&o, "real-size", m, 2048, 0, 2, 100, peak);
            rb_model_free(m);
        }
    }
    if (o.tok) fclose(o.tok);
    return bad;
}
