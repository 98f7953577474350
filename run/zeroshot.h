/* The zero-shot half of a run: --task with one or more zero-shot task names
 * (comma separated) or "zeroshot" for the suite (datasets/task_defs.c says
 * which tasks and in which order), scored with eval/zeroshot.h and summarised
 * into the result record. */
#ifndef RB_RUN_ZEROSHOT_H
#define RB_RUN_ZEROSHOT_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "core/forward.h"
#include "eval/lmeval_samples.h"
#include "run/prepare.h"
#include "run/report.h"

enum { RB_ZS_MAX_TASKS = 16 };

typedef struct rb_zs_list {
    char names[RB_ZS_MAX_TASKS][64];
    int n; /* 0: --task names no zero-shot task (a perplexity corpus) */
} rb_zs_list;

/* Parses --task text (zero-shot task names, and the MMLU names of
 * datasets/mmlu.h: mmlu, mmlu_stem, mmlu_<subject>, ...).  RB_EINVAL when it
 * mixes zero-shot and other names, scores an MMLU subject twice,
 * repeats a task, or names too many. */
int rb_run_zs_parse(const char *text, rb_zs_list *out, rb_error *err);

/* Loads and scores every task of the list (each with `limit` items when
 * limit > 0, for MMLU per subject; choices see at most ctx tokens) with
 * num_fewshot examples (only the MMLU tasks have a few-shot split: RB_EINVAL
 * naming the task for any other with num_fewshot > 0), reporting progress
 * ("<task>" items) and one summary line per task, and adds the result fields
 * to rec:
 *   "data", "data_sha256"  (one task: its file and hash; several: the list of
 *                           files, and the sha256 of "name sha256\n" lines)
 *   "tasks": {name: {n_items, acc, acc_stderr, acc_norm, acc_norm_stderr, n_cont_truncated,
 *                    n_ctx_truncated, [ppl for lambada], seconds, items_per_second,
 *                    data_sha256}}
 *       an MMLU name adds one entry per subject scored ("mmlu_anatomy"), per
 *       group with a subject scored ("mmlu_stem", + "n_subjects") and its
 *       own name's entry (weighted by size, pooled stderr: eval/mmlu.h);
 *       its data is the MMLU directory, its data_sha256 that of the test
 *       files (and fewshot_sha256 that of the dev files when num_fewshot > 0)
 *   "num_fewshot"
 *   "n_items", "acc", "acc_stderr", "acc_norm", "acc_norm_stderr": the
 *       unweighted average over the tasks (stderr of the mean of
 *       independent task estimates: sqrt(Σ se²)/k); one task: its numbers
 *   "n_tokens", "seconds", "items_per_second", "tokens_per_second".
 * With samples (may be NULL; only for lists rb_run_zs_samples_check
 * accepts, else RB_EINVAL) each task's lm-eval samples are added to it
 * (eval/lmeval_samples.h), from the same scores the record counts. */
int rb_run_zeroshot(const rb_run_model *m, const rb_hooks *hooks, const rb_zs_list *list,
                    const char *data_dir, size_t limit, int ctx, int num_fewshot,
                    const rb_run_report *report, rb_lmeval_samples *samples, json_object *rec,
                    rb_error *err);

/* RB_EINVAL, saying why, unless every task of list has lm-eval samples
 * (rb_lmeval_samples_supported: an empty list is a perplexity corpus, MMLU
 * is not covered). */
int rb_run_zs_samples_check(const rb_zs_list *list, rb_error *err);

#endif
