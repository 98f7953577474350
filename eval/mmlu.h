/* MMLU evaluation: the subjects of a selection (datasets/mmlu.h) scored one
 * task at a time with rb_zeroshot, then the four groups and the whole
 * selection aggregated as lm-evaluation-harness 0.4 does (rb_zs_pool: means
 * weighted by the number of items, pooled sample stderr over the leaf
 * subjects; lm_eval/tasks/mmlu/default/_mmlu*.yaml set weight_by_size). */
#ifndef RB_EVAL_MMLU_H
#define RB_EVAL_MMLU_H

#include "datasets/mmlu.h"
#include "eval/zeroshot.h"

typedef struct rb_mmlu_result {
    unsigned char sel[RB_MMLU_SUBJECTS];      /* the subjects scored */
    rb_zs_result subject[RB_MMLU_SUBJECTS];   /* where sel[i] */
    int group_subjects[RB_MMLU_GROUPS];       /* subjects of each group scored */
    rb_zs_result group[RB_MMLU_GROUPS];       /* where group_subjects[g] > 0 */
    rb_zs_result all;                         /* the whole selection */
    int num_fewshot;
    char test_sha256[65]; /* sha256 of the selected test files concatenated
                             in subject order (all 57: MANIFEST's value) */
    char dev_sha256[65];  /* the same for the dev files ("" when k = 0) */
} rb_mmlu_result;

/* Called after each subject with its result (may be NULL). */
typedef void (*rb_mmlu_subject_fn)(void *ctx, const char *task_name, const rb_zs_result *r);

/* Scores the subjects marked in sel[RB_MMLU_SUBJECTS] from dir (the MMLU
 * directory, RB_MMLU_DIR inside the data directory) with k few-shot
 * examples, the first `limit` items of each subject (0 = all), windows of
 * at most max_len tokens packed into ws->max_T.  progress (may be NULL)
 * counts items over the whole selection. */
int rb_mmlu_eval(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                 const rb_tokenizer *tok, const char *dir, const unsigned char *sel, int k,
                 size_t limit, int max_len, rb_progress_fn progress, void *progress_ctx,
                 rb_mmlu_subject_fn on_subject, void *subject_ctx, rb_mmlu_result *out,
                 rb_error *err);

#endif
