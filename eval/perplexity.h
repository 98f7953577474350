/* Perplexity over a token stream.
 *
 * The stream is cut into consecutive non-overlapping windows of `ctx` tokens
 * (the last one may be shorter); each window is one forward from position 0,
 * and every token of a window except its first is scored given the ones
 * before it in that window (a window of n tokens scores n-1).  A final window
 * of a single token scores nothing and is skipped.
 *   nll = mean over scored tokens of -log p(token | prefix),  ppl = exp(nll).
 * Per window (for a bootstrap over windows, eval/compare.h): the sum of its
 * tokens' NLLs and its scored count.
 */
#ifndef RB_PERPLEXITY_H
#define RB_PERPLEXITY_H

#include <stddef.h>
#include <stdint.h>

#include "base/progress.h"
#include "core/forward.h"

typedef struct rb_ppl_result {
    double nll;        /* mean negative log-likelihood (nats) */
    double ppl;        /* exp(nll) */
    size_t n_scored;   /* tokens scored */
    size_t n_windows;
    double seconds;    /* wall time of the forwards and scoring */
} rb_ppl_result;

/* How windows are scored.  The default (all zero, bos -1) is the rule
 * above.  llama.cpp's llama-perplexity (tools/perplexity/perplexity.cpp):
 * only whole windows (floor(n/ctx)), the first token of every window
 * replaced by BOS when its vocabulary adds one, and only the predictions
 * from position ctx/2 on (ctx - ctx/2 - 1 tokens per window): full_only = 1,
 * window_bos = the BOS id, score_from = ctx/2. */
typedef struct rb_ppl_scoring {
    int score_from;     /* score the predictions made at positions >= score_from */
    int full_only;      /* drop a last, shorter window */
    int32_t window_bos; /* >= 0: every window's first token becomes this id */
} rb_ppl_scoring;

/* rb_perplexity with a scoring rule (NULL: the default). */
int rb_perplexity_scored(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                         const int32_t *tokens, size_t n_tokens, int ctx, size_t max_windows,
                         const rb_ppl_scoring *scoring, rb_progress_fn progress,
                         void *progress_ctx, rb_ppl_result *out, double *window_nll,
                         size_t *window_tokens, rb_error *err);

/* The number of windows rb_perplexity scores (0: too few tokens, or ctx < 2);
 * _scored: under a scoring rule (NULL: the default). */
size_t rb_perplexity_n_windows(size_t n_tokens, int ctx, size_t max_windows);
size_t rb_perplexity_n_windows_scored(size_t n_tokens, int ctx, size_t max_windows,
                                      const rb_ppl_scoring *scoring);

/* max_windows = 0 means all.  Runs with ws (max_T ≥ ctx).  progress (may be
 * NULL) is called after each window with (windows done, windows total).
 * window_nll (may be NULL; caller-owned, rb_perplexity_n_windows entries)
 * receives each window's sum of NLLs (nats) and window_tokens (may be NULL,
 * the same length) its scored token count. */
int rb_perplexity(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                  const int32_t *tokens, size_t n_tokens, int ctx, size_t max_windows,
                  rb_progress_fn progress, void *progress_ctx, rb_ppl_result *out,
                  double *window_nll, size_t *window_tokens, rb_error *err);

#endif
