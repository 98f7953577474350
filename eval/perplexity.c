#include "eval/perplexity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "kernels/ops.h"

static const rb_ppl_scoring plain_scoring = {0, 0, -1};

size_t rb_perplexity_n_windows_scored(size_t n_tokens, int ctx, size_t max_windows,
                                      const rb_ppl_scoring *scoring) {
    const rb_ppl_scoring *sc = scoring ? scoring : &plain_scoring;
    if (ctx < 2 || sc->score_from < 0 || sc->score_from > ctx - 2) return 0;
    size_t windows = sc->full_only ? n_tokens / (size_t)ctx : (n_tokens + ctx - 1) / ctx;
    if (windows && n_tokens - (windows - 1) * (size_t)ctx < 2 + (size_t)sc->score_from) windows--;
    if (max_windows && windows > max_windows) windows = max_windows;
    return windows;
}

size_t rb_perplexity_n_windows(size_t n_tokens, int ctx, size_t max_windows) {
    return rb_perplexity_n_windows_scored(n_tokens, ctx, max_windows, NULL);
}

int rb_perplexity(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                  const int32_t *tokens, size_t n_tokens, int ctx, size_t max_windows,
                  rb_progress_fn progress, void *progress_ctx, rb_ppl_result *out,
                  double *window_nll, size_t *window_tokens, rb_error *err) {
    return rb_perplexity_scored(m, ws, hooks, tokens, n_tokens, ctx, max_windows, NULL, progress,
                                progress_ctx, out, window_nll, window_tokens, err);
}

int rb_perplexity_scored(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                         const int32_t *tokens, size_t n_tokens, int ctx, size_t max_windows,
                         const rb_ppl_scoring *scoring, rb_progress_fn progress,
                         void *progress_ctx, rb_ppl_result *out, double *window_nll,
                         size_t *window_tokens, rb_error *err) {
    const rb_ppl_scoring *sc = scoring ? scoring : &plain_scoring;
    if (ctx < 2 || ctx > ws->max_T)
        return rb_error_set(err, RB_EINVAL, "context %d must be in 2..%d", ctx, ws->max_T);
    if (sc->score_from < 0 || sc->score_from > ctx - 2)
        return rb_error_set(err, RB_EINVAL, "scoring from position %d: outside 0..%d", sc->score_from,
                            ctx - 2);
    size_t windows = rb_perplexity_n_windows_scored(n_tokens, ctx, max_windows, sc);
    if (windows == 0)
        return rb_error_set(err, RB_EINVAL, "%zu tokens: too few to score anything", n_tokens);
    double *nll = malloc(sizeof(double) * (size_t)ctx);
    int32_t *first = sc->window_bos >= 0 ? malloc(sizeof(int32_t) * (size_t)ctx) : NULL;
    if (!nll || (sc->window_bos >= 0 && !first)) {
        free(nll);
        free(first);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    double t0 = rb_now(), total = 0;
    size_t scored = 0;
    int rc = RB_OK;
    for (size_t w = 0; w < windows; w++) {
        const int32_t *win = tokens + w * (size_t)ctx;
        size_t left = n_tokens - w * (size_t)ctx;
        int T = left < (size_t)ctx ? (int)left : ctx;
        if (first) { /* the window as llama.cpp feeds it: BOS in place of its first token */
            memcpy(first, win, sizeof(int32_t) * (size_t)T);
            first[0] = sc->window_bos;
            win = first;
        }
        /* logits only from the first scored position on */
        int from = sc->score_from;
        if ((rc = rb_forward_rows(m, ws, win, T, from, hooks, err))) break;
        rb_nll_rows(nll + from, ws->logits, win + 1 + from, T - 1 - from, m->cfg.vocab_size);
        double sum = 0;
        for (int t = sc->score_from; t < T - 1; t++) {
            total += nll[t]; /* summed as before, token by token: nll stays bit for bit */
            sum += nll[t];
        }
        if (window_nll) window_nll[w] = sum;
        if (window_tokens) window_tokens[w] = (size_t)(T - 1 - sc->score_from);
        scored += (size_t)(T - 1 - sc->score_from);
        if (!isfinite(total)) {
            rc = rb_error_set(err, RB_ENUMERIC,
                              "window %zu: log-likelihood is not finite (NaN/Inf logits)", w);
            break;
        }
        if (progress) progress(progress_ctx, w + 1, windows, rb_now() - t0);
    }
    free(nll);
    free(first);
    if (rc) return rc;
    out->n_scored = scored;
    out->n_windows = windows;
    out->nll = total / (double)scored;
    out->ppl = exp(out->nll);
    out->seconds = rb_now() - t0;
    return RB_OK;
}
