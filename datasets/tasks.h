/* Loaders for the zero-shot multiple-choice tasks (items for eval/zeroshot.h),
 * each building the context and choices exactly as lm-evaluation-harness's
 * task configs do (target delimiter " " everywhere):
 *
 *   hellaswag   the shared text layout (6 lines per item: context, label 0..3,
 *               4 endings), already preprocessed as lm-eval does
 *               (activity_label + ": " + ctx_a + " " + ctx_b.capitalize(),
 *               " [title]" → ". ", "[...]" removed, "  " → " "): used as is.
 *   piqa        valid.jsonl {goal, sol1, sol2} + the labels file beside it
 *               (X.jsonl → X-labels.lst, one 0/1 a line):
 *               "Question: {goal}\nAnswer:", choices sol1, sol2.
 *   arc_easy, arc_challenge   HF ai2_arc jsonl {question, choices {text,
 *               label}, answerKey}: "Question: {question}\nAnswer:", choices
 *               choices.text, gold = position of answerKey in choices.label.
 *   openbookqa  AI2 jsonl {question {stem, choices [{text, label}]},
 *               answerKey}: "{stem}", choices the texts.
 *   boolq       {question, passage, answer (bool)}:
 *               "{passage}\nQuestion: {question}?\nAnswer:", choices "no",
 *               "yes", gold 1 when answer is true.
 *   winogrande  dev.jsonl {sentence with one "_", option1, option2, answer
 *               "1"/"2"}: partial scoring (RB_ZS_PARTIAL): contexts
 *               sentence[:_] + option_i, shared continuation
 *               " " + sentence[_+1:].strip().
 *   lambada     lambada_openai {text}: context = text before its last ' ',
 *               target " " + last word, delimiter "" (RB_ZS_GREEDY: exact
 *               greedy match, plus perplexity).
 *
 * Malformed input (bad JSON, a missing or mistyped field, a bad label, a
 * wrong number of lines) is RB_EFORMAT naming path:line.
 */
#ifndef RB_DATASETS_TASKS_H
#define RB_DATASETS_TASKS_H

#include "core/error.h"
#include "eval/zeroshot.h"

/* Loads task `name` (one of the above) from path into *out (free with
 * rb_zs_task_free).  RB_EINVAL for an unknown name. */
int rb_zs_task_load(const char *name, const char *path, rb_zs_task *out, rb_error *err);

int rb_hellaswag_load(const char *path, rb_zs_task *out, rb_error *err);

/* The task names rb_zs_task_load knows, comma separated. */
const char *rb_zs_task_names(void);

#endif
