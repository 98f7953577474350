/* See zs_packed_check.h. */
#include "zs_packed_check.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

void rb_test_expect_packed_equals_per_choice(const rb_model *m, const rb_tokenizer *tk,
                                             const rb_zs_task *t, const rb_hooks *hooks,
                                             int pack_T, int max_len, int exact,
                                             rb_zs_result *packed, size_t *per_choice_tokens) {
    rb_error err;
    rb_workspace ws, one;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, pack_T, &err), RB_OK);
    cr_assert_eq(rb_workspace_init(&one, &m->cfg, max_len, &err), RB_OK);
    double (*per)[RB_ZS_MAX_CHOICES] = calloc(t->n_items, sizeof *per);
    rb_zs_result r;
    cr_assert_eq(rb_zeroshot(m, &ws, hooks, tk, t, 0, max_len, NULL, NULL, per, &r, &err), RB_OK,
                 "%s", err.msg);
    /* the per-item numbers (rb_zeroshot_items) are the ones the result counts */
    rb_zs_item_score *sc = calloc(t->n_items, sizeof *sc);
    rb_zs_result r2;
    cr_assert_eq(rb_zeroshot_items(m, &ws, hooks, tk, t, 0, max_len, NULL, NULL, sc, &r2, &err),
                 RB_OK, "%s", err.msg);
    size_t hits = 0, fwd = 0, sc_hits = 0, sc_norm = 0, greedy_differ = 0, n_choices = 0;
    double worst = 0;
    for (size_t i = 0; i < t->n_items; i++) {
        double lp[RB_ZS_MAX_CHOICES];
        int greedy[RB_ZS_MAX_CHOICES];
        cr_assert_eq(rb_zs_score_item(m, &one, hooks, tk, t, &t->items[i], max_len, lp, greedy,
                                      &fwd, &err),
                     RB_OK, "%s", err.msg);
        for (int c = 0; c < t->items[i].n_choices; c++) {
            double d = fabs(per[i][c] - lp[c]) / (1 + fabs(lp[c]));
            worst = d > worst ? d : worst;
            if (exact) cr_expect_eq(per[i][c], lp[c], "item %zu choice %d", i, c);
            cr_expect_eq(sc[i].logprob[c], per[i][c], "item %zu choice %d", i, c);
            greedy_differ += sc[i].greedy[c] != greedy[c];
            n_choices++;
        }
        hits += rb_zs_argmax(lp, NULL, t->items[i].n_choices) == t->items[i].gold;
        sc_hits += (size_t)sc[i].acc;
        sc_norm += (size_t)sc[i].acc_norm;
    }
    /* greedy flags: equal, except where float summation order flips a near tie */
    if (exact)
        cr_expect_eq(greedy_differ, 0, "%s: %zu greedy flags differ from the reference", t->name,
                     greedy_differ);
    else
        cr_expect_leq(greedy_differ * 100, n_choices, "%s: %zu of %zu greedy flags differ",
                      t->name, greedy_differ, n_choices);
    cr_expect_eq(r2.acc, r.acc);
    cr_expect_eq(r2.acc_norm, r.acc_norm);
    cr_expect_eq((double)sc_hits / (double)t->n_items, r.acc);
    cr_expect_eq((double)sc_norm / (double)t->n_items, r.acc_norm);
    free(sc);
    cr_expect_lt(worst, 2e-6, "%s pack %d window %d: packed vs per-choice: max relative difference %g",
                 t->name, pack_T, max_len, worst);
    cr_expect_eq(r.acc, (double)hits / (double)t->n_items);
    free(per);
    rb_workspace_free(&ws);
    rb_workspace_free(&one);
    *packed = r;
    *per_choice_tokens = fwd;
}
