/* Zero-shot multiple-choice accuracy with lm-evaluation-harness semantics.
 *
 * An item is a context text, N choice texts and the gold index.  Choice i is
 * scored by the continuation `delimiter + choice[i]` (the task's target
 * delimiter, " " for every task here):
 *
 *   logprob[i] = sum over the continuation tokens c_j of log p(c_j | BOS, context, c_<j)
 *   acc        = [argmax_i logprob[i] == gold]
 *   acc_norm   = [argmax_i logprob[i] / bytes(choice[i]) == gold]
 *
 * (argmax takes the first index on ties, like numpy.)  The normalising length
 * is the choice text WITHOUT the delimiter, as lm-evaluation-harness 0.4
 * computes it (len(choice) over doc_to_choice); we count UTF-8 bytes, which
 * equals Python's character count for ASCII text (HellaSwag is almost all
 * ASCII) — see DESIGN.md "Evaluation".
 *
 * Tokenization (rb_zs_encode), the way lm-evaluation-harness's _encode_pair
 * does it for a SentencePiece Llama tokenizer:
 *   1. trailing whitespace of the context is moved to the front of the
 *      continuation;
 *   2. whole = encode(context + continuation), ctx = encode(context), both
 *      with BOS and the SentencePiece dummy-prefix space (our llama2.c
 *      tokenizer adds " " before non-empty text, as sentencepiece does);
 *   3. the continuation tokens are whole[len(ctx):] — so the continuation is
 *      never tokenized on its own and gets no dummy prefix; the leading
 *      space of " ending" merges with the first word exactly as in running
 *      text.
 *   If whole is not longer than ctx (merges across the boundary ate it; does
 *   not happen on the shipped tasks), the continuation is encoded alone
 *   without BOS and its leading dummy-prefix token (the bare " " piece) is
 *   dropped when the continuation itself does not start with a space.
 * Difference from lm-eval: lm-eval's HF Llama path encodes without BOS
 * (add_special_tokens=False) and only uses BOS for an empty context; we always
 * start the window with BOS, since llama2.c models are trained with it (and
 * stories260K is far off-distribution without it).
 *
 * Truncation, as lm-eval: the model sees (tokens)[-(seq_len+1):][:-1], i.e.
 * the last `max_len` tokens before the final one.
 * Long continuations: lm-eval asserts that a continuation fits the window; a
 * few PIQA solutions are longer than 512 tokens of the 512-token stories260K
 * vocabulary, so here a continuation of more than max_len tokens is scored
 * by its last max_len tokens (the ones the window can predict, the earlier
 * ones becoming context) and counted in rb_zs_result.n_cont_truncated.
 *
 * Task kinds (rb_zs_kind):
 *   RB_ZS_CHOICE   as above (hellaswag, piqa, arc, openbookqa, boolq).
 *   RB_ZS_PARTIAL  lm-eval's "partial evaluation" (winogrande): the choices
 *                  are different CONTEXTS and `context` holds the one shared
 *                  continuation; logprob[i] = log p(delimiter + context |
 *                  choice[i]).  The continuation is the same for every
 *                  choice, so acc_norm equals acc (lm-eval reports only acc).
 *   RB_ZS_GREEDY   LAMBADA: one choice, the target (delimiter "" and the
 *                  target " word"); acc = every target token is the argmax
 *                  (exact greedy match), acc_norm = acc, and the result's
 *                  ppl = exp(-mean over items of logprob), lm-eval's
 *                  lambada perplexity.
 *
 * Speed: rb_zeroshot packs many items into one window of ws->max_T tokens
 * (rb_forward_segments): the context of an item is forwarded once and every
 * choice's continuation attends to it as a shared prefix, so an item with 4
 * choices costs its context plus its continuations, not 4 whole windows.
 * Items whose choices are all one token (MMLU's " A".." D") need only their
 * context's rows: one segment, also when it is left-truncated (every choice
 * then has the same window).  When the task declares a shared_prefix, such
 * an item's context shares its longest common token prefix with the last
 * untruncated context placed in the same pack (segment prefix), so MMLU's
 * description and shots are forwarded once per packed window, not once per
 * item.
 * Choices that need truncation, and partial scoring (different contexts),
 * get a segment of their own.  Each choice's log-probs are those of a
 * separate forward of its window (up to float summation order); hooks marked
 * window_dependent (dynamic per-tensor quantizers, whose scale would mix
 * windows) get one forward per choice.  rb_zs_score_item is the plain
 * one-forward-per-choice reference that tests compare against.
 */
#ifndef RB_ZEROSHOT_H
#define RB_ZEROSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/forward.h"
#include "core/tokenizer.h"
#include "base/progress.h"

enum { RB_ZS_MAX_CHOICES = 8 };

typedef struct rb_zs_item {
    char *context;                     /* owned, NUL terminated */
    int n_choices;                     /* 2..RB_ZS_MAX_CHOICES */
    char *choices[RB_ZS_MAX_CHOICES];  /* owned, without the delimiter */
    int gold;                          /* 0..n_choices-1 */
    char *doc;                         /* owned, may be NULL: the item's dataset
                                          fields as one JSON object text (the
                                          loader's, datasets/tasks.h), for
                                          lm-eval's per-sample output */
} rb_zs_item;

typedef enum rb_zs_kind { RB_ZS_CHOICE = 0, RB_ZS_PARTIAL, RB_ZS_GREEDY } rb_zs_kind;

typedef struct rb_zs_task {
    char name[64];         /* "hellaswag", "mmlu_abstract_algebra", ... */
    rb_zs_kind kind;
    const char *delimiter; /* static string, " " */
    size_t shared_prefix;  /* bytes at the start of every item's context that
                              are the same text (MMLU's description and
                              shots); 0: none.  Lets rb_zeroshot share them
                              across items (see "Speed"). */
    rb_zs_item *items;     /* owned [n_items] */
    size_t n_items;
} rb_zs_task;

void rb_zs_task_free(rb_zs_task *t);

/* Loaders: datasets/tasks.h. */

/* The request lm-eval builds for choice c of an item: *ctx (borrowed from the
 * item) and *cont = delimiter + continuation (malloc'd, caller frees).  For
 * RB_ZS_PARTIAL the choice is the context and the item's text the
 * continuation. */
int rb_zs_request(const rb_zs_task *task, const rb_zs_item *item, int c, const char **ctx,
                  char **cont, rb_error *err);

/* The length of context[0..len) without its trailing white space (space,
 * tab, newline, carriage return): rb_zs_encode tokenizes context[0..end)
 * with BOS, the whole text context + cont_text with BOS, and when those do
 * not share the context's tokens, context[end..] + cont_text alone. */
size_t rb_zs_context_end(const char *context, size_t len);

/* The window for one choice: *tokens (malloc'd, caller frees) = [BOS,
 * context tokens, continuation tokens] of length *n, the last *n_cont being
 * the continuation (see above).  cont_text is delimiter + choice. */
int rb_zs_encode(const rb_tokenizer *tok, const char *context, const char *cont_text,
                 int32_t **tokens, size_t *n, size_t *n_cont, rb_error *err);

/* Sum of log p of the last n_cont of tokens[0..n) given the ones before,
 * with one forward over the last min(n-1, max_len) tokens before the final
 * one (max_len: the model's window; ≤ 0 or > ws->max_T means ws->max_T).
 * 1 ≤ n_cont ≤ n-1; more than max_len scores the last max_len (see "Long
 * continuations").  *greedy (may be NULL) is set to 1 when every scored
 * continuation token is the argmax of its logits. */
int rb_zs_logprob(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                  const int32_t *tokens, size_t n, size_t n_cont, int max_len, double *logprob,
                  int *greedy, rb_error *err);

/* argmax over n of score[i] (first index on ties); with len != NULL of
 * score[i] / len[i]. */
int rb_zs_argmax(const double *score, const double *len, int n);

/* Reference scoring, one forward per choice: log-prob sums of every choice
 * of one item of `task` (logprob[n_choices], greedy[n_choices]: 1 when that
 * continuation is the greedy decode; may be NULL); the number of tokens
 * forwarded is added to *n_forwarded (may be NULL). */
int rb_zs_score_item(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                     const rb_tokenizer *tok, const rb_zs_task *task, const rb_zs_item *item,
                     int max_len, double *logprob, int *greedy, size_t *n_forwarded,
                     rb_error *err);

typedef struct rb_zs_result {
    size_t n_items;
    double acc, acc_norm;               /* fractions */
    double acc_stderr, acc_norm_stderr; /* sqrt(p(1-p)/(n-1)), lm-eval's sample stderr */
    double ppl;                         /* RB_ZS_GREEDY only (else 0) */
    size_t n_forwarded;                 /* tokens through the forward (shared
                                           contexts counted once) */
    size_t n_cont_truncated;            /* choices scored by their last max_len
                                           tokens (see "Long continuations") */
    size_t n_ctx_truncated;             /* items with a choice whose window was
                                           left-truncated (see "Truncation") */
    double seconds;                     /* tokenization, forwards and scoring */
} rb_zs_result;

/* Scores the first `limit` items (0 = all), packed into windows of
 * ws->max_T tokens, each choice seeing at most max_len tokens (the model's
 * window; ≤ 0 or > ws->max_T means ws->max_T).  progress (may be NULL) after
 * each packed forward with (items done, items total).  per_item (may be
 * NULL) receives [n][RB_ZS_MAX_CHOICES] log-prob sums (unused slots
 * untouched). */
int rb_zeroshot(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                const rb_tokenizer *tok, const rb_zs_task *task, size_t limit, int max_len,
                rb_progress_fn progress, void *progress_ctx, double (*per_item)[RB_ZS_MAX_CHOICES],
                rb_zs_result *out, rb_error *err);

/* What rb_zeroshot_items says about one item: the numbers its result
 * counts, as they came out of the scorer. */
typedef struct rb_zs_item_score {
    double logprob[RB_ZS_MAX_CHOICES]; /* log-prob sum of each choice's continuation */
    int greedy[RB_ZS_MAX_CHOICES];     /* 1: every continuation token was the argmax */
    int acc, acc_norm;                 /* 1 when the item counted as a hit in acc /
                                          acc_norm (RB_ZS_GREEDY: both = greedy[0]) */
} rb_zs_item_score;

/* rb_zeroshot with the per-item numbers: scores (may be NULL) receives
 * [min(limit, n_items)] entries (unused choice slots zero). */
int rb_zeroshot_items(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                      const rb_tokenizer *tok, const rb_zs_task *task, size_t limit, int max_len,
                      rb_progress_fn progress, void *progress_ctx, rb_zs_item_score *scores,
                      rb_zs_result *out, rb_error *err);

/* sqrt(p(1-p)/(n-1)); 0 for n < 2. */
double rb_zs_stderr(double p, size_t n);

/* A group of tasks as lm-evaluation-harness 0.4 aggregates one
 * (aggregate_subtask_metrics with weight_by_size, pooled_sample_stderr in
 * lm_eval/api/metrics.py): acc and acc_norm are the means over the tasks
 * weighted by n_items (= the fraction over all their items), each stderr
 * sqrt(Σ (n_i-1) n_i se_i² / (Σ n_i - k) / Σ n_i) over the k tasks; counts,
 * tokens and seconds add up; ppl is 0.  k ≥ 1, every n_i ≥ 1.  When every
 * n_i is 1 (Σ n_i = k: lm-eval would divide by zero) the stderrs are
 * rb_zs_stderr over all Σ n_i items. */
void rb_zs_pool(const rb_zs_result *r, int k, rb_zs_result *out);

#endif
