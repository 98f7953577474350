/* Perplexity on a tiny text computed by hand.
 *
 * The model: dim 2, one layer whose linears are all zero (so attention and
 * FFN add nothing and the logits at a position depend only on its token),
 * norm weights 1, embeddings e0 = (1,1), e1 = (1,-1), e2 = (-1,1), classifier
 * rows c0 = (1,0), c1 = (0,1), c2 = (0,0).  RMSNorm maps each embedding to
 * itself times s = 1/sqrt(1 + 1e-5), so the logits after token
 *   0 are (s, s, 0),   1 are (s, -s, 0),   2 are (-s, s, 0).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "eval/perplexity.h"

static rb_model *hand_model(void) {
    rb_config c = {.dim = 2, .hidden_dim = 1, .n_layers = 1, .n_heads = 1, .n_kv_heads = 1,
                   .vocab_size = 3, .seq_len = 8, .head_dim = 2, .norm_eps = 1e-5f,
                   .rope_theta = 10000.0f};
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, 0, 1, &m, &err), RB_OK, "%s", err.msg);
    for (int id = 0; id < RB_LINEAR_COUNT; id++) {
        rb_weight_view w = rb_model_weight(m, 0, id);
        memset(w.w, 0, sizeof(float) * w.rows * w.cols);
    }
    const float emb[6] = {1, 1, 1, -1, -1, 1}, cls[6] = {1, 0, 0, 1, 0, 0}, ones[2] = {1, 1};
    memcpy(m->token_embedding, emb, sizeof emb);
    memcpy(m->classifier, cls, sizeof cls);
    memcpy(m->layers[0].attn_norm, ones, sizeof ones);
    memcpy(m->layers[0].ffn_norm, ones, sizeof ones);
    memcpy(m->final_norm, ones, sizeof ones);
    return m;
}

Test(perplexity, tiny_text_by_hand) {
    rb_model *m = hand_model();
    double s = 1.0 / sqrt(1.0 + 1e-5);
    double es = exp(s), ems = exp(-s);
    /* -log p(next | current) for the pairs of the stream 0 1 2 0 2 */
    double nll_1_after_0 = log(2 * es + 1) - s;
    double nll_2_after_1 = log(es + ems + 1) - 0;
    double nll_0_after_2 = log(ems + es + 1) + s;
    double nll_2_after_0 = log(2 * es + 1) - 0;
    const int32_t tok[5] = {0, 1, 2, 0, 2};
    struct { int ctx; size_t scored, windows; double nll; } cases[] = {
        /* one window: all four pairs */
        {5, 4, 1, (nll_1_after_0 + nll_2_after_1 + nll_0_after_2 + nll_2_after_0) / 4},
        /* [0 1] [2 0] [2]: the last window has nothing to score */
        {2, 2, 2, (nll_1_after_0 + nll_0_after_2) / 2},
        /* [0 1 2] [0 2] */
        {3, 3, 2, (nll_1_after_0 + nll_2_after_1 + nll_2_after_0) / 3},
    };
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 5, &err), RB_OK);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rb_ppl_result r;
        cr_assert_eq(rb_perplexity(m, &ws, NULL, tok, 5, cases[i].ctx, 0, NULL, NULL, &r, NULL,
                                   NULL, &err),
                     RB_OK, "%s", err.msg);
        cr_expect_eq(r.n_scored, cases[i].scored, "ctx %d", cases[i].ctx);
        cr_expect_eq(r.n_windows, cases[i].windows, "ctx %d", cases[i].ctx);
        cr_expect(fabs(r.nll - cases[i].nll) < 1e-6, "ctx %d: nll %.9f, by hand %.9f",
                  cases[i].ctx, r.nll, cases[i].nll);
        cr_expect(fabs(r.ppl - exp(cases[i].nll)) < 1e-5 * r.ppl);
    }
    /* per window, ctx 3: [0 1 2] scores two pairs, [0 2] one */
    double wsum[2] = {-1, -1};
    size_t wtok[2] = {0, 0};
    rb_ppl_result rw;
    cr_assert_eq(rb_perplexity_n_windows(5, 3, 0), 2);
    cr_assert_eq(rb_perplexity(m, &ws, NULL, tok, 5, 3, 0, NULL, NULL, &rw, wsum, wtok, &err),
                 RB_OK, "%s", err.msg);
    cr_expect(fabs(wsum[0] - (nll_1_after_0 + nll_2_after_1)) < 1e-6, "window 0: %.9f", wsum[0]);
    cr_expect(fabs(wsum[1] - nll_2_after_0) < 1e-6, "window 1: %.9f", wsum[1]);
    cr_expect_eq(wtok[0], 2);
    cr_expect_eq(wtok[1], 1);
    cr_expect(fabs((wsum[0] + wsum[1]) / 3 - rw.nll) < 1e-12);
    cr_expect_eq(rb_perplexity_n_windows(5, 2, 0), 2, "[0 1] [2 0] [2]: the last scores nothing");
    cr_expect_eq(rb_perplexity_n_windows(5, 2, 1), 1);
    cr_expect_eq(rb_perplexity_n_windows(1, 2, 0), 0);
    rb_ppl_result r;
    cr_expect_eq(rb_perplexity(m, &ws, NULL, tok, 5, 1, 0, NULL, NULL, &r, NULL, NULL, &err),
                 RB_EINVAL);
    cr_expect_eq(rb_perplexity(m, &ws, NULL, tok, 1, 2, 0, NULL, NULL, &r, NULL, NULL, &err),
                 RB_EINVAL);
    cr_expect_eq(rb_perplexity(m, &ws, NULL, tok, 5, 6, 0, NULL, NULL, &r, NULL, NULL, &err),
                 RB_EINVAL);
    cr_assert_eq(rb_perplexity(m, &ws, NULL, tok, 5, 2, 1, NULL, NULL, &r, NULL, NULL, &err),
                 RB_OK);
    cr_expect_eq(r.n_scored, 1);
    cr_expect(fabs(r.nll - nll_1_after_0) < 1e-6);
    rb_workspace_free(&ws);
    rb_model_free(m);
}
