#include "eval/zeroshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "kernels/ops.h"

void rb_zs_task_free(rb_zs_task *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_items; i++) {
        free(t->items[i].context);
        for (int c = 0; c < t->items[i].n_choices; c++) free(t->items[i].choices[c]);
        free(t->items[i].doc);
    }
    free(t->items);
    memset(t, 0, sizeof *t);
}

double rb_zs_stderr(double p, size_t n) {
    if (n < 2) return 0.0;
    return sqrt(p * (1.0 - p) / (double)(n - 1));
}

void rb_zs_pool(const rb_zs_result *r, int k, rb_zs_result *out) {
    rb_zs_result o = {0};
    double hits = 0, hits_norm = 0, var = 0, var_norm = 0;
    for (int i = 0; i < k; i++) {
        double n = (double)r[i].n_items;
        o.n_items += r[i].n_items;
        hits += r[i].acc * n;
        hits_norm += r[i].acc_norm * n;
        var += (n - 1) * n * r[i].acc_stderr * r[i].acc_stderr;
        var_norm += (n - 1) * n * r[i].acc_norm_stderr * r[i].acc_norm_stderr;
        o.n_forwarded += r[i].n_forwarded;
        o.n_cont_truncated += r[i].n_cont_truncated;
        o.n_ctx_truncated += r[i].n_ctx_truncated;
        o.seconds += r[i].seconds;
    }
    double N = (double)o.n_items;
    o.acc = hits / N;
    o.acc_norm = hits_norm / N;
    /* lm-eval divides by Σn - k, which is 0 with one item per task: then
     * the sample stderr of all the items together (what the pooled formula
     * approximates) */
    o.acc_stderr = N > k ? sqrt(var / (N - k) / N) : rb_zs_stderr(o.acc, o.n_items);
    o.acc_norm_stderr = N > k ? sqrt(var_norm / (N - k) / N) : rb_zs_stderr(o.acc_norm, o.n_items);
    *out = o;
}

int rb_zs_argmax(const double *score, const double *len, int n) {
    int best = 0;
    double bv = 0;
    for (int i = 0; i < n; i++) {
        double v = len ? score[i] / len[i] : score[i];
        if (i == 0 || v > bv) {
            best = i;
            bv = v;
        }
    }
    return best;
}

/* ---- scoring ---------------------------------------------------------------- */

size_t rb_zs_context_end(const char *context, size_t len) {
    while (len && (context[len - 1] == ' ' || context[len - 1] == '\t' ||
                   context[len - 1] == '\n' || context[len - 1] == '\r'))
        len--;
    return len;
}

int rb_zs_encode(const rb_tokenizer *tok, const char *context, const char *cont_text,
                 int32_t **tokens, size_t *n, size_t *n_cont, rb_error *err) {
    size_t lc = strlen(context), lk = strlen(cont_text);
    /* move the context's trailing whitespace onto the continuation */
    size_t ctx_len = rb_zs_context_end(context, lc);
    char *whole_text = malloc(lc + lk + 1);
    if (!whole_text) return rb_error_set(err, RB_ENOMEM, "out of memory");
    memcpy(whole_text, context, lc);
    memcpy(whole_text + lc, cont_text, lk + 1);
    int32_t *ctx = NULL, *whole = NULL, *cont = NULL;
    size_t nc = 0, nw = 0, nk = 0;
    int rc = rb_tokenizer_encode(tok, context, ctx_len, 1, 0, &ctx, &nc, err);
    if (!rc) rc = rb_tokenizer_encode(tok, whole_text, lc + lk, 1, 0, &whole, &nw, err);
    free(whole_text);
    if (rc) {
        free(ctx);
        free(whole);
        return rc;
    }
    if (nw > nc) {
        /* the input is ctx ++ whole[nc:] (lm-eval's context_enc +
         * continuation_enc), so every choice shares the context's tokens */
        memcpy(whole, ctx, sizeof(int32_t) * nc);
        free(ctx);
        *tokens = whole;
        *n = nw;
        *n_cont = nw - nc;
        return RB_OK;
    }
    /* fallback: the continuation (with the moved whitespace) encoded alone,
     * without BOS, its dummy-prefix token dropped when that is the bare " " */
    free(whole);
    size_t kl = lc - ctx_len + lk;
    char *ktext = malloc(kl + 1);
    if (!ktext) {
        free(ctx);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    memcpy(ktext, context + ctx_len, lc - ctx_len);
    memcpy(ktext + (lc - ctx_len), cont_text, lk + 1);
    rc = rb_tokenizer_encode(tok, ktext, kl, 0, 0, &cont, &nk, err);
    free(ktext);
    if (rc) {
        free(ctx);
        return rc;
    }
    size_t skip = 0;
    if (nk > 1) {
        size_t pl = 0;
        const char *piece = rb_tokenizer_piece(tok, cont[0], &pl);
        if (pl == 1 && piece[0] == ' ') skip = 1;
    }
    if (nk - skip == 0) {
        free(ctx);
        free(cont);
        return rb_error_set(err, RB_EINVAL, "continuation \"%.40s\" encodes to no tokens",
                            cont_text);
    }
    int32_t *all = realloc(ctx, sizeof(int32_t) * (nc + nk - skip));
    if (!all) {
        free(ctx);
        free(cont);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    memcpy(all + nc, cont + skip, sizeof(int32_t) * (nk - skip));
    free(cont);
    *tokens = all;
    *n = nc + nk - skip;
    *n_cont = nk - skip;
    return RB_OK;
}

/* Sum of log p(target[j]) over the continuation's rows of logits [rows][V]:
 * row0 predicts target[0], rest + j - 1 predicts target[j] for j ≥ 1; with
 * `at` (NULL: the identity) window row r is logits row at[r].
 * *greedy = 1 when every target is its row's argmax. */
static double score_rows(const float *logits, const int *at, int V, int row0, int rest,
                         const int32_t *target, size_t n_cont, int *greedy) {
    double s = 0;
    int all = 1;
    for (size_t j = 0; j < n_cont; j++) {
        int row = j == 0 ? row0 : rest + (int)j - 1;
        const float *r = logits + (size_t)(at ? at[row] : row) * V;
        double nll;
        rb_nll_rows(&nll, r, target + j, 1, V);
        s -= nll;
        for (int v = 0; v < V && all; v++) all = !(r[v] > r[target[j]]);
    }
    *greedy = all;
    return s;
}

int rb_zs_logprob(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                  const int32_t *tokens, size_t n, size_t n_cont, int max_len, double *logprob,
                  int *greedy, rb_error *err) {
    if (max_len < 1 || max_len > ws->max_T) max_len = ws->max_T;
    if (n < 2 || n_cont < 1 || n_cont > n - 1)
        return rb_error_set(err, RB_EINVAL,
                            "continuation of %zu tokens in a sequence of %zu: must be 1..%zu",
                            n_cont, n, n ? n - 1 : 0);
    if (n_cont > (size_t)max_len) n_cont = (size_t)max_len; /* the part the window sees */
    /* the model sees tokens[start .. n-1): the last max_len before the final one */
    size_t start = n - 1 > (size_t)max_len ? n - 1 - (size_t)max_len : 0;
    int T = (int)(n - 1 - start);
    int rc = rb_forward(m, ws, tokens + start, T, hooks, err);
    if (rc) return rc;
    int V = m->cfg.vocab_size;
    size_t row0 = n - n_cont - 1 - start; /* row predicting tokens[n - n_cont] */
    int all;
    double s = score_rows(ws->logits, NULL, V, (int)row0, (int)row0 + 1, tokens + n - n_cont,
                          n_cont, &all);
    if (!isfinite(s))
        return rb_error_set(err, RB_ENUMERIC, "log-likelihood is not finite (NaN/Inf logits)");
    if (greedy) *greedy = all;
    *logprob = s;
    return RB_OK;
}

/* rb_zs_request: see the header. */
int rb_zs_request(const rb_zs_task *task, const rb_zs_item *item, int c, const char **ctx,
                        char **cont, rb_error *err) {
    const char *delimiter = task->delimiter ? task->delimiter : "";
    int partial = task->kind == RB_ZS_PARTIAL; /* the choice is the context */
    *ctx = partial ? item->choices[c] : item->context;
    const char *tail = partial ? item->context : item->choices[c];
    size_t dl = strlen(delimiter), cl = strlen(tail);
    *cont = malloc(dl + cl + 1);
    if (!*cont) return rb_error_set(err, RB_ENOMEM, "out of memory");
    memcpy(*cont, delimiter, dl);
    memcpy(*cont + dl, tail, cl + 1);
    return RB_OK;
}

static size_t window_of(size_t n, int max_len) {
    return n - 1 > (size_t)max_len ? (size_t)max_len : n - 1;
}

int rb_zs_score_item(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                     const rb_tokenizer *tok, const rb_zs_task *task, const rb_zs_item *item,
                     int max_len, double *logprob, int *greedy, size_t *n_forwarded,
                     rb_error *err) {
    int rc = RB_OK;
    for (int c = 0; c < item->n_choices && !rc; c++) {
        const char *ctx;
        char *cont;
        if ((rc = rb_zs_request(task, item, c, &ctx, &cont, err))) break;
        int32_t *toks = NULL;
        size_t n = 0, nk = 0;
        rc = rb_zs_encode(tok, ctx, cont, &toks, &n, &nk, err);
        free(cont);
        if (!rc)
            rc = rb_zs_logprob(m, ws, hooks, toks, n, nk, max_len, &logprob[c],
                               greedy ? &greedy[c] : NULL, err);
        if (!rc && n_forwarded) *n_forwarded += window_of(n, max_len);
        free(toks);
        if (rc) rb_error_prefix(err, "choice %d: ", c);
    }
    return rc;
}

/* ---- packed scoring -----------------------------------------------------------
 *
 * Items are encoded, then laid out in a window of up to ws->max_T tokens as
 * segments (kernels/ops.h rb_segment).  When every choice of an item has the
 * same context tokens and no choice needs truncation, the item is one context
 * segment followed by one segment per choice holding its continuation minus
 * the last token, with the context as prefix: the context is forwarded once
 * for all choices.  Otherwise (partial scoring, truncated windows) every
 * choice is its own segment.  Either way each choice's log-probs come from
 * exactly the rows a separate forward of its window would produce.  Hooks
 * that are window dependent get one choice per forward. */

typedef struct zs_choice {
    int32_t *tokens; /* owned: the encoded window source [n] */
    size_t n, n_cont;
    int row0; /* row of the packed logits predicting the first continuation token */
    int rest; /* row predicting continuation token 1 (rows rest + j - 1 for j ≥ 1) */
    int win;  /* place_alone: start of its window segment, in pack `epoch` */
    int epoch;
} zs_choice;

typedef struct zs_packer {
    int32_t *tokens;  /* [max_T] */
    rb_segment *seg;  /* [max_T] */
    int T, n_seg;
    zs_choice *ch;    /* [max_T]: choices waiting for the forward */
    size_t *ch_item;  /* item index of each */
    int *ch_index;    /* choice index of each */
    int n_ch;
    int *rows, *at;   /* [max_T]: the rows the choices read, ascending, and
                       * each window row's index among them */
    int base_start, base_len; /* the last untruncated context segment (no
                                 prefix) placed; base_len 0: none */
    int epoch;                /* flushes so far */
} zs_packer;

static int add_segment2(zs_packer *p, const int32_t *tok, int len, int prefix_start,
                        int prefix_len, int prefix2_start, int prefix2_len) {
    memcpy(p->tokens + p->T, tok, sizeof(int32_t) * (size_t)len);
    p->seg[p->n_seg++] =
        (rb_segment){p->T, len, prefix_start, prefix_len, prefix2_start, prefix2_len};
    p->T += len;
    return p->T - len;
}

static int add_segment(zs_packer *p, const int32_t *tok, int len, int prefix_start,
                       int prefix_len) {
    return add_segment2(p, tok, len, prefix_start, prefix_len, 0, 0);
}

/* The number of leading tokens[0..P) equal to the pack's base context
 * (0 without a base or when share is off). */
static size_t base_common(const zs_packer *p, const int32_t *tokens, size_t P, int share) {
    if (!share || p->base_len == 0) return 0;
    size_t l = 0, bl = (size_t)p->base_len;
    const int32_t *b = p->tokens + p->base_start;
    while (l < P && l < bl && tokens[l] == b[l]) l++;
    return l;
}

/* Whether an item's choices can share one context segment: the same context
 * tokens, no truncation; *need = the tokens it then takes. */
static int can_share(const zs_choice *c, int n, int max_len, size_t *need) {
    size_t P = c[0].n - c[0].n_cont;
    *need = P;
    for (int i = 0; i < n; i++) {
        *need += c[i].n_cont - 1;
        if (c[i].n - 1 > (size_t)max_len || c[i].n - c[i].n_cont != P ||
            memcmp(c[i].tokens, c[0].tokens, sizeof(int32_t) * P) != 0)
            return 0;
    }
    return 1;
}

static void queue_choice(zs_packer *p, const zs_choice *c, size_t item, int index) {
    p->ch[p->n_ch] = *c;
    p->ch_item[p->n_ch] = item;
    p->ch_index[p->n_ch++] = index;
}

/* One segment for the context, one per choice with the context as prefix.
 * With L > 0 the context's first L tokens are the pack's base context's:
 * only the rest is placed (prefix: the base's L), and the choices see both
 * parts (two-part prefix); L = P places nothing for the context. */
static void place_shared(zs_packer *p, zs_choice *c, int n, size_t item, size_t L) {
    size_t P = c[0].n - c[0].n_cont;
    int p1 = p->base_start, l1 = (int)P, p2 = 0, l2 = 0;
    if (L == 0) {
        p1 = add_segment(p, c[0].tokens, (int)P, 0, 0);
        p->base_start = p1;
        p->base_len = (int)P;
    } else if (L < P) {
        l1 = (int)L;
        l2 = (int)(P - L);
        p2 = add_segment(p, c[0].tokens + L, l2, p1, l1);
    }
    int last = l2 ? p2 + l2 - 1 : p1 + l1 - 1;
    for (int i = 0; i < n; i++) {
        c[i].row0 = last;
        c[i].rest = c[i].n_cont > 1 ? add_segment2(p, c[i].tokens + P, (int)c[i].n_cont - 1, p1,
                                                   l1, p2, l2)
                                    : -1;
        queue_choice(p, &c[i], item, i);
    }
}

/* Whether every choice of an item is one token after the same context:
 * then the item needs only the rows of its context window. */
static int single_token(const zs_choice *c, int n) {
    for (int i = 0; i < n; i++)
        if (c[i].n_cont != 1 || c[i].n != c[0].n ||
            memcmp(c[i].tokens, c[0].tokens, sizeof(int32_t) * (c[0].n - 1)) != 0)
            return 0;
    return 1;
}

/* Where a single-token item's context (tokens[0..P), its window the last
 * w ≤ P of them) goes: *L > 0 tokens shared with the pack's base (when
 * `share` and the window is whole), else its own segment; returns the
 * tokens it adds to the pack. */
static size_t context_need(const zs_packer *p, const int32_t *tokens, size_t P, size_t w,
                           int share, size_t *L) {
    *L = w == P ? base_common(p, tokens, P, share) : 0;
    return w - *L;
}

/* Places a single-token item: see context_need. */
static void place_context(zs_packer *p, zs_choice *c, int n, size_t item, size_t P, size_t w,
                          size_t L) {
    int last;
    if (L == P) {
        last = p->base_start + (int)P - 1; /* the whole context lies in the base */
    } else if (L > 0) {
        int s0 = add_segment(p, c[0].tokens + L, (int)(P - L), p->base_start, (int)L);
        last = s0 + (int)(P - L) - 1;
    } else {
        int s0 = add_segment(p, c[0].tokens + (P - w), (int)w, 0, 0);
        last = s0 + (int)w - 1;
        if (w == P) {
            p->base_start = s0;
            p->base_len = (int)w;
        }
    }
    for (int i = 0; i < n; i++) {
        c[i].row0 = last;
        c[i].rest = -1;
        queue_choice(p, &c[i], item, i);
    }
}

/* The window a choice needs alone (the last max_len tokens before its final
 * one): 0 tokens when an earlier choice `same` of the item (NULL: none) has
 * the same window in this pack, else the window's length.  Reads only
 * same's placement (its tokens may be freed by a flush). */
static size_t alone_need(const zs_packer *p, const zs_choice *c, const zs_choice *same,
                         int max_len) {
    return same && same->epoch == p->epoch ? 0 : window_of(c->n, max_len);
}

/* An earlier choice of c[0..g) with the same window (the same tokens before
 * the final one: truncated choices whose continuations differ only in their
 * last token), or NULL. */
static const zs_choice *same_window(const zs_choice *c, int g) {
    for (int h = 0; h < g; h++)
        if (c[h].n == c[g].n &&
            memcmp(c[h].tokens, c[g].tokens, sizeof(int32_t) * (c[g].n - 1)) == 0)
            return &c[h];
    return NULL;
}

/* The choice's own window, or the identical window of `same` in this pack. */
static void place_alone(zs_packer *p, zs_choice *c, const zs_choice *same, size_t item,
                        int index, int max_len) {
    size_t w = window_of(c->n, max_len), start = c->n - 1 - w;
    int s0 = alone_need(p, c, same, max_len) ? add_segment(p, c->tokens + start, (int)w, 0, 0)
                                             : same->win;
    c->win = s0;
    c->epoch = p->epoch;
    c->row0 = s0 + (int)(w - c->n_cont);
    c->rest = c->row0 + 1;
    queue_choice(p, c, item, index);
}

/* Forward of the pack, then each waiting choice's log-prob sum and greedy
 * flag into lp / greedy [item][choice]; frees the choices' tokens. */
static int flush(zs_packer *p, const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                 double (*lp)[RB_ZS_MAX_CHOICES], int (*greedy)[RB_ZS_MAX_CHOICES],
                 rb_error *err) {
    /* the classifier only on the rows the continuations are scored on
     * (BoolQ: 2 of a ~470-token item, HellaSwag most of them) */
    int n_rows = 0;
    for (int r = 0; r < p->T; r++) p->at[r] = -1;
    for (int k = 0; k < p->n_ch; k++) {
        const zs_choice *c = &p->ch[k];
        p->at[c->row0] = 0;
        for (size_t j = 1; j < c->n_cont; j++) p->at[c->rest + (int)j - 1] = 0;
    }
    for (int r = 0; r < p->T; r++)
        if (p->at[r] == 0) {
            p->at[r] = n_rows;
            p->rows[n_rows++] = r;
        }
    int rc = n_rows ? rb_forward_segments_rows(m, ws, p->tokens, p->T, p->seg, p->n_seg, p->rows,
                                               n_rows, hooks, err)
                    : RB_OK;
    const int V = m->cfg.vocab_size;
    for (int k = 0; k < p->n_ch && !rc; k++) {
        const zs_choice *c = &p->ch[k];
        const int32_t *target = c->tokens + (c->n - c->n_cont);
        int all;
        double s = score_rows(ws->logits, p->at, V, c->row0, c->rest, target, c->n_cont, &all);
        if (!isfinite(s))
            rc = rb_error_set(err, RB_ENUMERIC,
                              "item %zu choice %d: log-likelihood is not finite (NaN/Inf logits)",
                              p->ch_item[k] + 1, p->ch_index[k]);
        lp[p->ch_item[k]][p->ch_index[k]] = s;
        greedy[p->ch_item[k]][p->ch_index[k]] = all;
    }
    for (int k = 0; k < p->n_ch; k++) free(p->ch[k].tokens);
    p->T = p->n_seg = p->n_ch = 0;
    p->base_len = 0;
    p->epoch++;
    return rc;
}

static void packer_free(zs_packer *p) {
    for (int k = 0; k < p->n_ch; k++) free(p->ch[k].tokens);
    free(p->tokens);
    free(p->seg);
    free(p->ch);
    free(p->ch_item);
    free(p->ch_index);
    free(p->rows);
    free(p->at);
}

/* rb_zeroshot and rb_zeroshot_items: per_item and scores may be NULL. */
static int zeroshot(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                    const rb_tokenizer *tok, const rb_zs_task *task, size_t limit, int max_len,
                    rb_progress_fn progress, void *progress_ctx,
                    double (*per_item)[RB_ZS_MAX_CHOICES], rb_zs_item_score *scores,
                    rb_zs_result *out, rb_error *err) {
    size_t n = task->n_items;
    if (limit && limit < n) n = limit;
    if (n == 0) return rb_error_set(err, RB_EINVAL, "%s: no items to score", task->name);
    if (max_len < 1 || max_len > ws->max_T) max_len = ws->max_T;
    const int pack = !(hooks && hooks->window_dependent);
    const size_t cap = (size_t)ws->max_T;
    double t0 = rb_now();
    zs_packer p = {0};
    p.tokens = malloc(sizeof(int32_t) * cap);
    p.seg = malloc(sizeof(rb_segment) * cap);
    p.ch = malloc(sizeof(zs_choice) * cap);
    p.ch_item = malloc(sizeof(size_t) * cap);
    p.ch_index = malloc(sizeof(int) * cap);
    p.rows = malloc(sizeof(int) * cap);
    p.at = malloc(sizeof(int) * cap);
    double (*lp)[RB_ZS_MAX_CHOICES] = calloc(n, sizeof *lp);
    int (*greedy)[RB_ZS_MAX_CHOICES] = calloc(n, sizeof *greedy);
    int rc = !p.tokens || !p.seg || !p.ch || !p.ch_item || !p.ch_index || !p.rows || !p.at ||
                     !lp || !greedy
                 ? rb_error_set(err, RB_ENOMEM, "out of memory")
                 : RB_OK;
    size_t fwd = 0, n_cut = 0, n_ctx_cut = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const rb_zs_item *it = &task->items[i];
        zs_choice c[RB_ZS_MAX_CHOICES] = {{0}};
        for (int k = 0; k < it->n_choices && !rc; k++) {
            const char *ctx;
            char *cont;
            rc = rb_zs_request(task, it, k, &ctx, &cont, err);
            if (rc) break;
            rc = rb_zs_encode(tok, ctx, cont, &c[k].tokens, &c[k].n, &c[k].n_cont, err);
            free(cont);
            if (!rc && c[k].n_cont > (size_t)max_len) {
                c[k].n_cont = (size_t)max_len; /* see "Long continuations" in the header */
                n_cut++;
            }
            if (rc) rb_error_prefix(err, "%s item %zu choice %d: ", task->name, i + 1, k);
        }
        for (int k = 0; k < it->n_choices && !rc; k++)
            if (c[k].n - 1 > (size_t)max_len) {
                n_ctx_cut++;
                break;
            }
        int placed = 0, single = !rc && pack && single_token(c, it->n_choices);
        if (single) {
            /* one segment (or a tail after the base) for all choices */
            size_t P = c[0].n - 1, w = window_of(c[0].n, max_len), L;
            size_t need = context_need(&p, c[0].tokens, P, w, task->shared_prefix > 0, &L);
            if (p.T + need > cap || p.n_ch + it->n_choices > (int)cap) {
                rc = flush(&p, m, ws, hooks, lp, greedy, err);
                if (!rc && progress) progress(progress_ctx, i, n, rb_now() - t0);
                need = context_need(&p, c[0].tokens, P, w, 0, &L);
            }
            if (!rc) {
                fwd += need;
                place_context(&p, c, it->n_choices, i, P, w, L);
                placed = it->n_choices;
            }
        }
        size_t need = 0, L = 0;
        int shared = !rc && !single && pack && can_share(c, it->n_choices, max_len, &need) &&
                     need <= cap;
        if (shared) {
            L = base_common(&p, c[0].tokens, c[0].n - c[0].n_cont, task->shared_prefix > 0);
            need -= L;
        }
        /* identical windows, found before a flush frees placed tokens */
        const zs_choice *same_as[RB_ZS_MAX_CHOICES] = {0};
        for (int g = 0; g < it->n_choices && !rc && !single && !shared && pack; g++)
            same_as[g] = same_window(c, g);
        /* placement groups: the whole item when shared, else each choice */
        for (int g = 0; g < (shared ? 1 : it->n_choices) && !rc && !single; g++) {
            const zs_choice *same = same_as[g];
            if (!shared) need = alone_need(&p, &c[g], same, max_len);
            if (p.T + need > cap || p.n_ch + it->n_choices > (int)cap) {
                rc = flush(&p, m, ws, hooks, lp, greedy, err);
                if (!rc && progress) progress(progress_ctx, i, n, rb_now() - t0);
                if (rc) break;
                if (shared) need += L, L = 0; /* the base went with the flush */
                if (!shared) need = alone_need(&p, &c[g], same, max_len);
            }
            fwd += need;
            if (shared) {
                place_shared(&p, c, it->n_choices, i, L);
                placed = it->n_choices;
            } else {
                place_alone(&p, &c[g], same, i, g, max_len);
                placed = g + 1;
                /* window-dependent hooks: every choice its own forward */
                if (!pack) rc = flush(&p, m, ws, hooks, lp, greedy, err);
            }
        }
        for (int k = placed; k < it->n_choices; k++) free(c[k].tokens);
        if (!rc && !pack && progress) progress(progress_ctx, i + 1, n, rb_now() - t0);
    }
    if (!rc) rc = flush(&p, m, ws, hooks, lp, greedy, err);
    packer_free(&p);
    size_t hits = 0, hits_norm = 0;
    double lp_total = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const rb_zs_item *it = &task->items[i];
        double len[RB_ZS_MAX_CHOICES];
        for (int c = 0; c < it->n_choices; c++) {
            size_t bl = strlen(task->kind == RB_ZS_PARTIAL ? it->context : it->choices[c]);
            len[c] = bl ? (double)bl : 1.0;
            if (per_item) per_item[i][c] = lp[i][c];
        }
        int hit, hit_norm;
        if (task->kind == RB_ZS_GREEDY) {
            hit = hit_norm = greedy[i][0] != 0;
            lp_total += lp[i][0];
        } else {
            hit = rb_zs_argmax(lp[i], NULL, it->n_choices) == it->gold;
            hit_norm = rb_zs_argmax(lp[i], len, it->n_choices) == it->gold;
        }
        hits += (size_t)hit;
        hits_norm += (size_t)hit_norm;
        if (scores) {
            rb_zs_item_score *sc = &scores[i];
            memset(sc, 0, sizeof *sc);
            for (int c = 0; c < it->n_choices; c++) {
                sc->logprob[c] = lp[i][c];
                sc->greedy[c] = greedy[i][c] != 0;
            }
            sc->acc = hit;
            sc->acc_norm = hit_norm;
        }
    }
    free(lp);
    free(greedy);
    if (rc) return rc;
    if (progress) progress(progress_ctx, n, n, rb_now() - t0);
    out->n_items = n;
    out->acc = (double)hits / (double)n;
    out->acc_norm = (double)hits_norm / (double)n;
    out->acc_stderr = rb_zs_stderr(out->acc, n);
    out->acc_norm_stderr = rb_zs_stderr(out->acc_norm, n);
    out->ppl = task->kind == RB_ZS_GREEDY ? exp(-lp_total / (double)n) : 0.0;
    out->n_forwarded = fwd;
    out->n_cont_truncated = n_cut;
    out->n_ctx_truncated = n_ctx_cut;
    out->seconds = rb_now() - t0;
    return RB_OK;
}

int rb_zeroshot(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                const rb_tokenizer *tok, const rb_zs_task *task, size_t limit, int max_len,
                rb_progress_fn progress, void *progress_ctx, double (*per_item)[RB_ZS_MAX_CHOICES],
                rb_zs_result *out, rb_error *err) {
    return zeroshot(m, ws, hooks, tok, task, limit, max_len, progress, progress_ctx, per_item,
                    NULL, out, err);
}

int rb_zeroshot_items(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                      const rb_tokenizer *tok, const rb_zs_task *task, size_t limit, int max_len,
                      rb_progress_fn progress, void *progress_ctx, rb_zs_item_score *scores,
                      rb_zs_result *out, rb_error *err) {
    return zeroshot(m, ws, hooks, tok, task, limit, max_len, progress, progress_ctx, NULL, scores,
                    out, err);
}
