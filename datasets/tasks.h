/* Loaders for the zero-shot tasks (items for eval/zeroshot.h).  How each task
 * builds its context, choices and gold answer is data: datasets/task_defs.c
 * (lm-evaluation-harness's prompts; template language in task_defs.h).
 *
 *   hellaswag   the shared text layout (6 lines per item: context, label 0..3,
 *               4 endings), already preprocessed as lm-eval does: used as is.
 *   piqa        {goal, sol1, sol2} + X-labels.lst beside X.jsonl
 *   arc_easy, arc_challenge   HF export {question, choices {text, label},
 *               answerKey} or AI2's {question {stem, choices [{text, label}]},
 *               answerKey}
 *   openbookqa  AI2 {question {stem, choices}, answerKey} (or HF question_stem)
 *   boolq       {question, passage, answer (bool)}
 *   winogrande  {sentence with one "_", option1, option2, answer "1"/"2"}:
 *               partial scoring (RB_ZS_PARTIAL)
 *   lambada     {text}: the last word is the greedy target (RB_ZS_GREEDY)
 *
 * Malformed input (bad JSON, a missing or mistyped field, a bad label, a
 * wrong number of lines) is RB_EFORMAT naming path:line.
 */
#ifndef RB_DATASETS_TASKS_H
#define RB_DATASETS_TASKS_H

#include "base/error.h"
#include "eval/zeroshot.h"

/* Loads task `name` (one of the above) from path into *out (free with
 * rb_zs_task_free).  RB_EINVAL for an unknown name. */
int rb_zs_task_load(const char *name, const char *path, rb_zs_task *out, rb_error *err);

int rb_hellaswag_load(const char *path, rb_zs_task *out, rb_error *err);

/* The task names rb_zs_task_load knows (datasets/task_defs.c), ", "-separated
 * into buf[cap] (returned). */
const char *rb_zs_task_names(char *buf, size_t cap);

#endif
