/* Zero-shot scoring speed: packed windows with shared contexts (rb_zeroshot)
 * against one forward per choice (rb_zs_score_item, the reference), on the
 * same items, plus the largest difference of their log-prob sums.
 *
 * usage: bench_zeroshot MODEL TOKENIZER TASK TASK_FILE N_PACKED N_NAIVE [CTX]
 *   scores the first N_PACKED items packed and the first N_NAIVE (≤ N_PACKED)
 *   items per choice; prints one JSON object on stdout. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/io.h"
#include "datasets/tasks.h"
#include "eval/zeroshot.h"

static int fail(const rb_error *err) {
    fprintf(stderr, "bench_zeroshot: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: bench_zeroshot MODEL TOKENIZER TASK TASK_FILE N_PACKED N_NAIVE [CTX]\n");
        return 2;
    }
    size_t n_packed = strtoul(argv[5], NULL, 10), n_naive = strtoul(argv[6], NULL, 10);
    rb_error err = {0};
    rb_model *m;
    rb_tokenizer *tok;
    rb_zs_task task;
    if (rb_model_load(argv[1], &m, &err) || rb_tokenizer_open(argv[2], &tok, &err) ||
        rb_zs_task_load(argv[3], argv[4], &task, &err))
        return fail(&err);
    int ctx = argc > 7 ? atoi(argv[7]) : m->cfg.seq_len;
    if (n_packed > task.n_items) n_packed = task.n_items;
    if (n_naive > n_packed) n_naive = n_packed;
    rb_workspace ws, one;
    if (rb_workspace_init(&ws, &m->cfg, ctx < 2048 ? 2048 : ctx, &err) ||
        rb_workspace_init(&one, &m->cfg, ctx, &err))
        return fail(&err);
    double(*per)[RB_ZS_MAX_CHOICES] = calloc(n_packed, sizeof *per);
    rb_zs_result r;
    if (rb_zeroshot(m, &ws, NULL, tok, &task, n_packed, ctx, NULL, NULL, per, &r, &err))
        return fail(&err);
    size_t fwd_naive = 0;
    double t0 = rb_now(), worst = 0;
    for (size_t i = 0; i < n_naive; i++) {
        double lp[RB_ZS_MAX_CHOICES];
        if (rb_zs_score_item(m, &one, NULL, tok, &task, &task.items[i], ctx, lp, NULL, &fwd_naive,
                             &err))
            return fail(&err);
        for (int c = 0; c < task.items[i].n_choices; c++) {
            double d = fabs(per[i][c] - lp[c]) / (1 + fabs(lp[c]));
            worst = d > worst ? d : worst;
        }
    }
    double t_naive = rb_now() - t0;
    printf("{\"model\": \"%s\", \"task\": \"%s\", \"threads\": %d, \"ctx\": %d, "
           "\"packed_items\": %zu, \"packed_seconds\": %.4f, \"packed_items_per_second\": %.2f, "
           "\"packed_tokens\": %zu, \"naive_items\": %zu, \"naive_seconds\": %.4f, "
           "\"naive_items_per_second\": %.2f, \"naive_tokens\": %zu, \"speedup\": %.3f, "
           "\"max_rel_diff_logprob\": %.3g, \"acc\": %.4f, \"acc_norm\": %.4f}\n",
           argv[1], argv[3], omp_get_max_threads(), ctx, r.n_items, r.seconds,
           r.n_items / r.seconds, r.n_forwarded, n_naive, t_naive,
           n_naive ? n_naive / t_naive : 0.0, fwd_naive,
           n_naive ? (r.n_items / r.seconds) / (n_naive / t_naive) : 0.0, worst, r.acc,
           r.acc_norm);
    free(per);
    rb_workspace_free(&ws);
    rb_workspace_free(&one);
    rb_zs_task_free(&task);
    rb_tokenizer_free(tok);
    rb_model_free(m);
    return 0;
}
