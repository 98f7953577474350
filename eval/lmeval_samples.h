/* lm-evaluation-harness 0.4's per-sample output (`--log-samples`) from
 * rotbench's zero-shot scores: one samples_<task>_<date id>.jsonl per task
 * next to results_<date id>.json (eval/lmeval.h writes both).
 *
 * The layout is lm-eval's, read at EleutherAI/lm-evaluation-harness commit
 * 4e7e0d47f33bc71070c1d38394bafbb52b117163 (v0.4.12 and later):
 * lm_eval/evaluator.py builds each sample, lm_eval/loggers/
 * evaluation_tracker.py (save_results_samples) rewrites some fields and
 * writes it as json.dumps(sample, ensure_ascii=False) + "\n", members in
 * this order:
 *   doc_id          the item's index in the task (the file's order; --limit
 *                   keeps the first N), integer
 *   doc             the item's dataset fields (rb_zs_item.doc: the JSON line
 *                   as read; PIQA adds "label" from its labels file as HF
 *                   piqa has it; HellaSwag, read from llama.cpp's text
 *                   layout, has the fields lm-eval's process_docs makes:
 *                   query, choices, gold)
 *   target          str() of lm-eval's doc_to_target: the gold index for
 *                   multiple choice ("0"), the shared continuation for
 *                   WinoGrande (after the blank, stripped), " word" for
 *                   LAMBADA
 *   arguments       {"gen_args_<i>": {"arg_0": context, "arg_1":
 *                   continuation}} for request i (one per choice): the
 *                   strings rb_zs_request gives, the continuation with the
 *                   target delimiter
 *   resps           [[[str(loglikelihood), str(is_greedy)]]] per request:
 *                   Python's str of the float ("-12.345678901234567") and
 *                   "True"/"False" (sanitize_list turns everything to str)
 *   filtered_resps  [[str(loglikelihood), str(is_greedy)]] per request (the
 *                   "none" filter takes each request's first response)
 *   filter          "none"
 *   metrics         the metric names, then their values as members:
 *                   multiple choice: acc (1.0 / 0.0) and acc_norm where the
 *                   task's lm-eval metric_list has it (not boolq,
 *                   winogrande); LAMBADA (loglikelihood): perplexity (the
 *                   target's log-likelihood, a float) and acc (int 1 / 0)
 *   doc_hash        sha256 of json.dumps(doc, indent=2, ensure_ascii=False)
 *   prompt_hash     sha256 of request 0's context
 *   target_hash     sha256 of str(target)
 * The results file's task_hashes[task] is the sha256 of every sample's
 * doc_hash + prompt_hash + target_hash concatenated in order.
 * The log-likelihoods, greedy flags and hits are the scorer's
 * (rb_zs_item_score), not recomputed: a sample's acc is 1 exactly when
 * rotbench counted the item, so the mean over a file equals the record's acc.
 * MMLU and perplexity runs have no samples here (rb_lmeval_samples_supported). */
#ifndef RB_LMEVAL_SAMPLES_H
#define RB_LMEVAL_SAMPLES_H

#include <stddef.h>

#include "base/error.h"
#include "eval/zeroshot.h"

typedef struct rb_lmeval_task_samples {
    char task[64];  /* lm-eval's task name (lambada_openai) */
    char *jsonl;    /* owned: the file's text, one sample a line */
    size_t n;       /* samples */
    char hash[65];  /* the results file's task_hashes entry */
} rb_lmeval_task_samples;

/* The samples of one run, task by task.  Zero-initialise; free with
 * rb_lmeval_samples_free. */
typedef struct rb_lmeval_samples {
    rb_lmeval_task_samples *task; /* owned [n] */
    int n;
} rb_lmeval_samples;

/* 1 when rotbench writes lm-eval samples for task `name` (a zero-shot task
 * of datasets/task_defs.h: not MMLU, not a perplexity corpus). */
int rb_lmeval_samples_supported(const char *name);

/* Adds the samples of the first n items of task (scores[n] from
 * rb_zeroshot_items; every item needs its doc).  RB_EINVAL for a task
 * rb_lmeval_samples_supported refuses or an item without doc, RB_EFORMAT
 * when a doc is not a JSON object. */
int rb_lmeval_samples_add(rb_lmeval_samples *s, const rb_zs_task *task,
                          const rb_zs_item_score *scores, size_t n, rb_error *err);

void rb_lmeval_samples_free(rb_lmeval_samples *s);

#endif
