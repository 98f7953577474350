/* One evaluation: a run specification in, a result record out.
 *
 *   spec → load model + tokenizer (run/prepare.h) → the scored data
 *        (perplexity: the corpus tokenized, cut to --max-tokens) → quantizers
 *        and pipeline → calibration set (never the scored tokens) →
 *        rb_prepare_model (stages, static calibration) → [--save-model] →
 *        perplexity (eval/perplexity.h) or zero-shot (run/zeroshot.h) →
 *        the record.
 *
 * The record is the JSON object `rotbench eval --json` prints (README
 * "Command line"; a sweep appends it with run_key, labels, sweep and args):
 *   model, model_sha256, model_config {dim, hidden_dim, n_layers, n_heads,
 *   n_kv_heads, vocab_size, seq_len}, tokenizer, tokenizer_sha256, task, ctx,
 *   model_max_ctx, allow_long_ctx,
 *   perplexity: data, data_sha256, n_tokens (scored), n_windows, nll, ppl,
 *               seconds, tokens_per_second
 *   zero-shot:  data, data_sha256, tasks {...}, n_items, acc, acc_stderr,
 *               acc_norm, acc_norm_stderr, n_tokens, seconds,
 *               items_per_second, tokens_per_second (run/zeroshot.h)
 *   threads, blas_threads, blas_kernels, gemm (the fp32 GEMM backend,
 *   rb_gemm_backend), simd (the elementwise kernels' variant, rb_simd_name),
 *   method {pipeline (canonical), quant {w, a, kv, quantize_classifier,
 *           a_high_bits, kv_high_bits, w_high_bits, w_mixed, [high_channels]}, seed,
 *           [calib {data, windows, len, skip}], prepare_seconds},
 *   rotbench_version.
 * It is built here and nowhere else. */
#ifndef RB_RUN_EVAL_H
#define RB_RUN_EVAL_H

#include <json-c/json.h>

#include "base/error.h"
#include "core/quant.h"
#include "eval/lmeval_samples.h"
#include "run/report.h"
#include "run/spec.h"

/* The checks on a spec's combination of flags that need nothing loaded
 * (--task and --text together, --limit without a zero-shot task, --max-tokens
 * with one, a bad --task list): RB_EINVAL naming the flags. */
int rb_run_eval_check(const rb_run_spec *s, rb_error *err);

/* Runs s (after rb_run_eval_check) and returns its record in *record (the
 * caller json_object_put()s it).  Sets the process's thread count
 * (rb_run_set_threads).  Reports through report (may be NULL). */
int rb_run_eval(const rb_run_spec *s, const rb_run_report *report, json_object **record,
                rb_error *err);

/* rb_run_eval that also collects lm-eval's per-sample output of the
 * zero-shot tasks into samples (--log-samples; eval/lmeval_samples.h), the
 * caller freeing it with rb_lmeval_samples_free.  RB_EINVAL before loading
 * anything when rb_run_eval_samples_check refuses s. */
int rb_run_eval_samples(const rb_run_spec *s, const rb_run_report *report,
                        rb_lmeval_samples *samples, json_object **record, rb_error *err);

/* RB_EINVAL, saying why, when s evaluates something without lm-eval samples
 * here: a perplexity corpus (--task wikitext2, --text) or MMLU. */
int rb_run_eval_samples_check(const rb_run_spec *s, rb_error *err);

/* A quantizer's settings as the record writes them ({"bits": 16} when off;
 * "static" only with with_static). */
json_object *rb_run_quant_spec_json(const rb_quant_spec *q, int is_static, int with_static);

#endif
