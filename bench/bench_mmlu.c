/* MMLU scoring speed: the same items scored three ways, with the largest
 * difference of their log-prob sums against the reference:
 *   shared  rb_zeroshot with the subject's description and shots shared
 *           across the items of a packed window (the task's shared_prefix)
 *   packed  rb_zeroshot with shared_prefix = 0 (each item's context forwarded
 *           once for its four choices, nothing shared across items)
 *   alone   rb_zs_score_item: one forward per choice (the reference)
 *
 * usage: bench_mmlu MODEL TOKENIZER MMLU_DIR SUBJECT K N N_ALONE [CTX]
 *   scores the first N test items of SUBJECT (e.g. high_school_biology) with
 *   K shots shared and packed, the first N_ALONE (≤ N) alone; windows of
 *   CTX tokens (default the model's seq_len) packed into max(CTX, 2048);
 *   prints one JSON object on stdout. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "datasets/mmlu.h"
#include "eval/zeroshot.h"

static int fail(const rb_error *err) {
    fprintf(stderr, "bench_mmlu: %s\n", err->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: bench_mmlu MODEL TOKENIZER MMLU_DIR SUBJECT K N N_ALONE [CTX]\n");
        return 2;
    }
    int k = atoi(argv[5]);
    size_t n = strtoul(argv[6], NULL, 10), n_alone = strtoul(argv[7], NULL, 10);
    char task_name[96];
    snprintf(task_name, sizeof task_name, "mmlu_%s", argv[4]);
    unsigned char sel[RB_MMLU_SUBJECTS];
    int subject = -1;
    if (rb_mmlu_select(task_name, sel) == 1)
        for (int i = 0; i < RB_MMLU_SUBJECTS; i++)
            if (sel[i]) subject = i;
    if (subject < 0) {
        fprintf(stderr, "bench_mmlu: %s is not an MMLU subject\n", argv[4]);
        return 2;
    }
    rb_error err = {0};
    rb_model *m;
    rb_tokenizer *tok;
    rb_zs_task task;
    if (rb_model_load(argv[1], &m, &err) || rb_tokenizer_load(argv[2], &tok, &err) ||
        rb_mmlu_load(argv[3], subject, k, &task, &err))
        return fail(&err);
    int ctx = argc > 8 ? atoi(argv[8]) : m->cfg.seq_len;
    if (n > task.n_items) n = task.n_items;
    if (n_alone > n) n_alone = n;
    rb_workspace ws, one;
    if (rb_workspace_init(&ws, &m->cfg, ctx < 2048 ? 2048 : ctx, &err) ||
        rb_workspace_init(&one, &m->cfg, ctx, &err))
        return fail(&err);
    double(*shared)[RB_ZS_MAX_CHOICES] = calloc(n, sizeof *shared);
    double(*packed)[RB_ZS_MAX_CHOICES] = calloc(n, sizeof *packed);
    rb_zs_result rs, rp;
    if (rb_zeroshot(m, &ws, NULL, tok, &task, n, ctx, NULL, NULL, shared, &rs, &err))
        return fail(&err);
    size_t prefix = task.shared_prefix;
    task.shared_prefix = 0;
    if (rb_zeroshot(m, &ws, NULL, tok, &task, n, ctx, NULL, NULL, packed, &rp, &err))
        return fail(&err);
    size_t fwd_alone = 0;
    double t0 = rb_now(), worst = 0;
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < 4; c++) {
            double d = fabs(shared[i][c] - packed[i][c]) / (1 + fabs(packed[i][c]));
            worst = d > worst ? d : worst;
        }
        if (i >= n_alone) continue;
        double lp[RB_ZS_MAX_CHOICES];
        if (rb_zs_score_item(m, &one, NULL, tok, &task, &task.items[i], ctx, lp, NULL, &fwd_alone,
                             &err))
            return fail(&err);
        for (int c = 0; c < 4; c++) {
            double d = fabs(shared[i][c] - lp[c]) / (1 + fabs(lp[c]));
            worst = d > worst ? d : worst;
        }
    }
    double t_alone = rb_now() - t0;
    double ips_s = rs.n_items / rs.seconds, ips_p = rp.n_items / rp.seconds;
    double ips_a = n_alone ? n_alone / t_alone : 0.0;
    printf("{\"model\": \"%s\", \"task\": \"%s\", \"num_fewshot\": %d, \"threads\": %d, "
           "\"ctx\": %d, \"prefix_bytes\": %zu, \"items\": %zu, \"left_truncated\": %zu, "
           "\"shared_seconds\": %.3f, \"shared_items_per_second\": %.3f, \"shared_tokens\": %zu, "
           "\"packed_seconds\": %.3f, \"packed_items_per_second\": %.3f, \"packed_tokens\": %zu, "
           "\"alone_items\": %zu, \"alone_seconds\": %.3f, \"alone_items_per_second\": %.3f, "
           "\"alone_tokens\": %zu, \"speedup_shared_vs_packed\": %.3f, "
           "\"speedup_shared_vs_alone\": %.3f, \"max_rel_diff_logprob\": %.3g}\n",
           argv[1], task.name, k, omp_get_max_threads(), ctx, prefix, rs.n_items,
           rs.n_ctx_truncated, rs.seconds, ips_s, rs.n_forwarded, rp.seconds, ips_p,
           rp.n_forwarded, n_alone, t_alone, ips_a, fwd_alone, ips_s / ips_p,
           n_alone ? ips_s / ips_a : 0.0, worst);
    free(shared);
    free(packed);
    rb_workspace_free(&ws);
    rb_workspace_free(&one);
    rb_zs_task_free(&task);
    rb_tokenizer_free(tok);
    rb_model_free(m);
    return 0;
}
