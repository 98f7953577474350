/* lm-evaluation-harness 0.4 output from rotbench records (eval/lmeval.c):
 * `rotbench eval --output-format lm-eval --output-path DIR`.
 *
 * The results object has lm-eval's keys and types, as in lm-eval's own
 * tests/testdata/cpu_regression_expected.json (EleutherAI/lm-evaluation-
 * harness at commit 4b0bc045f243b3cfa93cee4a02bd5990ccdceef5) and
 * lm_eval/loggers/evaluation_tracker.py's results_<date>.json:
 *   results      task → {"alias": name, "name": name, "sample_len": n,
 *                 "<metric>,none": number, "<metric>_stderr,none": number or
 *                 "N/A" (not computed, as lm-eval writes it)}
 *   versions     task → number      n-shot  task → integer
 *   higher_is_better task → {metric: bool}
 *   n-samples    task → {"original": n, "effective": n}
 *   task_hashes  task → sha256 over its samples (--log-samples), else {}
 *   configs      task → {task, output_type, num_fewshot, metric_list, metadata}
 *   groups       {} (rotbench's averages are in the record)
 *   config       {model: "rotbench", model_args, model_sha (the sha256),
 *                 model_sha256, device, limit, random_seed, ...}
 *   rotbench_record  the record itself (everything the JSON line has)
 * Metrics, from the record's numbers unchanged:
 *   zero-shot task: acc, acc_stderr, acc_norm, acc_norm_stderr where
 *     lm-eval's metric_list has acc_norm (not boolq, winogrande: acc only);
 *     LAMBADA: acc and perplexity, its task named lambada_openai, lm-eval's
 *     name for this variant (datasets/task_defs.c says which);
 *     MMLU subjects, groups and selection: acc, stderr.
 *   perplexity task (wikitext2, tinystories, text): lm-eval's wikitext
 *     metrics (lm_eval/tasks/wikitext/preprocess_wikitext.py process_results
 *     and lm_eval/api/metrics.py): with LL = -nll · n_tokens the summed
 *     log-likelihood of the scored tokens, word_perplexity = exp(-LL /
 *     n_words), byte_perplexity = exp(-LL / n_bytes), bits_per_byte =
 *     -LL / n_bytes / ln 2, where n_words = len(re.split(r"\s+", text)) and
 *     n_bytes = len(text.encode("utf-8")) of the text the evaluated tokens
 *     decode to (the record's n_words, n_bytes); plus token_perplexity =
 *     the record's ppl (tokenizer-dependent).  Difference: rotbench scores
 *     every token but the first of each window (lm-eval's rolling windows
 *     score all), so LL misses n_windows tokens.
 */
#ifndef RB_LMEVAL_H
#define RB_LMEVAL_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "eval/lmeval_samples.h"

/* len(re.split(r"\s+", text)) in Python (str patterns: Unicode white space,
 * i.e. ASCII \t\n\v\f\r, space, \x1c-\x1f, and U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 as UTF-8): the
 * number of pieces between runs of white space, empty ones at the ends
 * included ("" → 1, " a " → 3). */
size_t rb_lmeval_count_words(const char *text, size_t len);

/* The lm-eval results object for one rotbench record (eval or sweep line);
 * *out is new (json_object_put it).  RB_EINVAL when the record has neither
 * a perplexity (ppl, n_tokens, nll, n_words, n_bytes) nor zero-shot tasks. */
int rb_lmeval_results(json_object *record, json_object **out, rb_error *err);

/* Writes the results of record to DIR/results_<date id>.json, the date id
 * being lm-eval's (the UTC time: 2024-01-31T12-00-00.000000), creating DIR,
 * and with samples (may be NULL: --log-samples, eval/lmeval_samples.h) each
 * task's DIR/samples_<task>_<the same date id>.jsonl and its task_hashes
 * entry (without samples task_hashes is {}, as lm-eval writes it).  The
 * results path goes to path[cap]. */
int rb_lmeval_write(json_object *record, const rb_lmeval_samples *samples, const char *dir,
                    char *path, size_t cap, rb_error *err);

#endif
