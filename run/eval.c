#include "run/eval.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/io.h"
#include "base/sha256.h"
#include "core/calib.h"
#include "core/context_limit.h"
#include "core/qlinear.h"
#include "datasets/registry.h"
#include "datasets/tasks.h"
#include "eval/lmeval.h"
#include "eval/perplexity.h"
#include "kernels/linear.h"
#include "kernels/simd.h"
#include "methods/prepare.h"
#include "run/prepare.h"
#include "run/save.h"
#include "run/zeroshot.h"

int rb_run_eval_check(const rb_run_spec *s, rb_error *err) {
    if (s->task && s->text) return rb_error_set(err, RB_EINVAL, "give --task or --text, not both");
    rb_zs_list zs = {0};
    int rc = s->task ? rb_run_zs_parse(s->task, &zs, err) : RB_OK;
    if (rc) return rc;
    char names[256];
    if (s->limit && !zs.n)
        return rb_error_set(err, RB_EINVAL,
                            "--limit applies to the zero-shot tasks (%s, or zeroshot for all)",
                            rb_zs_task_names(names, sizeof names));
    if (s->num_fewshot && !zs.n)
        return rb_error_set(err, RB_EINVAL, "--num-fewshot applies to the zero-shot tasks (mmlu)");
    rb_quant_overrides ov;
    if (s->w_override && (rc = rb_quant_overrides_parse(s->w_override, &ov, "--w-override", err)))
        return rc;
    if (s->a_override && (rc = rb_quant_overrides_parse(s->a_override, &ov, "--a-override", err)))
        return rc;
    if (s->max_tokens && zs.n)
        return rb_error_set(err, RB_EINVAL, "--max-tokens applies to perplexity; use --limit for %s",
                            s->task);
    return RB_OK;
}

/* Whether two paths name the same existing file. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* ---- the record --------------------------------------------------------------- */

static json_object *config_json(const rb_config *c) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "dim", json_object_new_int(c->dim));
    json_object_object_add(o, "hidden_dim", json_object_new_int(c->hidden_dim));
    json_object_object_add(o, "n_layers", json_object_new_int(c->n_layers));
    json_object_object_add(o, "n_heads", json_object_new_int(c->n_heads));
    json_object_object_add(o, "n_kv_heads", json_object_new_int(c->n_kv_heads));
    json_object_object_add(o, "vocab_size", json_object_new_int(c->vocab_size));
    json_object_object_add(o, "seq_len", json_object_new_int(c->seq_len));
    return o;
}

json_object *rb_run_quant_spec_json(const rb_quant_spec *s, int is_static, int with_static) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "bits", json_object_new_int(s->bits));
    if (rb_quant_spec_off(s)) return o;
    static const char *const gran[] = {"tensor", "row", "group"};
    json_object_object_add(o, "gran", json_object_new_string(gran[s->gran]));
    if (s->gran == RB_GRAN_GROUP) json_object_object_add(o, "group", json_object_new_int(s->group));
    json_object_object_add(o, "asym", json_object_new_boolean(s->asym));
    if (s->clip == RB_CLIP_MSE)
        json_object_object_add(o, "clip", json_object_new_string("mse"));
    else
        json_object_object_add(o, "clip", json_object_new_double(s->clip));
    if (with_static) json_object_object_add(o, "static", json_object_new_boolean(is_static));
    if (s->scale_f16) json_object_object_add(o, "scale", json_object_new_string("f16"));
    return o;
}

/* The mixed-precision channels the pipeline declared: point → {block, high}. */
static json_object *high_channels_json(const rb_quant_config *q) {
    json_object *o = json_object_new_object();
    const char *names[RB_ACT_POINT_COUNT + 2];
    const rb_quant_split *splits[RB_ACT_POINT_COUNT + 2];
    for (int p = 0; p < RB_ACT_POINT_COUNT; p++) {
        names[p] = rb_act_point_name((rb_act_point)p);
        splits[p] = &q->a_split[p];
    }
    names[RB_ACT_POINT_COUNT] = "k";
    splits[RB_ACT_POINT_COUNT] = &q->k_split;
    names[RB_ACT_POINT_COUNT + 1] = "v";
    splits[RB_ACT_POINT_COUNT + 1] = &q->v_split;
    for (int i = 0; i < RB_ACT_POINT_COUNT + 2; i++) {
        json_object *s = json_object_new_object();
        json_object_object_add(s, "block", json_object_new_int(splits[i]->block));
        json_object_object_add(s, "high", json_object_new_int(splits[i]->high));
        json_object_object_add(o, names[i], s);
    }
    return o;
}

/* model ... allow_long_ctx: the fields before the metrics. */
static json_object *record_head(const rb_run_model *m, const rb_run_spec *s, const char *task,
                                long ctx) {
    json_object *o = json_object_new_object();
    rb_run_model_record(m, config_json(&m->model->cfg), o);
    json_object_object_add(o, "task", json_object_new_string(task));
    json_object_object_add(o, "ctx", json_object_new_int64(ctx));
    json_object_object_add(o, "model_max_ctx", json_object_new_int(rb_model_max_ctx(&m->model->cfg)));
    json_object_object_add(o, "allow_long_ctx", json_object_new_boolean(s->allow_long_ctx));
    return o;
}

static void add_d(json_object *o, const char *k, double v) {
    json_object_object_add(o, k, json_object_new_double(v));
}

/* The per-window NLL sums and scored counts (window_nll, window_tokens). */
static void record_windows(json_object *o, const double *wnll, const size_t *wtok, size_t n) {
    json_object *a = json_object_new_array_ext((int)n), *b = json_object_new_array_ext((int)n);
    for (size_t w = 0; w < n; w++) {
        json_object_array_add(a, json_object_new_double(wnll[w]));
        json_object_array_add(b, json_object_new_int64((int64_t)wtok[w]));
    }
    json_object_object_add(o, "window_nll", a);
    json_object_object_add(o, "window_tokens", b);
}

/* n_words / n_bytes of the text tokens[0..n) decode to (BOS left out): what
 * lm-eval's word and byte perplexities divide by (eval/lmeval.h). */
static int record_text_size(json_object *o, const rb_tokenizer *t, const int32_t *tokens, size_t n,
                            rb_error *err) {
    rb_buf b = {0};
    int bos = rb_tokenizer_bos(t);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 && tokens[0] == bos) continue;
        size_t len;
        const char *p = rb_tokenizer_decode(t, i ? tokens[i - 1] : -1, tokens[i], &len);
        rb_buf_append(&b, p, len);
    }
    if (b.oom) {
        rb_buf_free(&b);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    json_object_object_add(o, "n_words",
                           json_object_new_int64((int64_t)rb_lmeval_count_words(b.s ? b.s : "", b.len)));
    json_object_object_add(o, "n_bytes", json_object_new_int64((int64_t)b.len));
    rb_buf_free(&b);
    return RB_OK;
}

static void record_ppl(json_object *o, const char *data, const char *data_sha,
                       const rb_ppl_result *res, double tps) {
    json_object_object_add(o, "data", json_object_new_string(data));
    json_object_object_add(o, "data_sha256", json_object_new_string(data_sha));
    json_object_object_add(o, "n_tokens", json_object_new_int64((int64_t)res->n_scored));
    json_object_object_add(o, "n_windows", json_object_new_int64((int64_t)res->n_windows));
    add_d(o, "nll", res->nll);
    add_d(o, "ppl", res->ppl);
    add_d(o, "seconds", res->seconds);
    add_d(o, "tokens_per_second", tps);
}

/* threads ... rotbench_version: the run's settings after the metrics. */
static void record_tail(json_object *o, const rb_run_spec *s, int threads, const char *pipeline,
                        const rb_quant_config *q, int need_calib, const char *calib_path,
                        double t_prep, json_object *notes) {
    json_object_object_add(o, "threads", json_object_new_int(threads));
    json_object_object_add(o, "blas_threads", json_object_new_int(rb_blas_threads()));
    json_object_object_add(o, "blas_kernels", json_object_new_string(rb_blas_kernels()));
    json_object_object_add(o, "gemm", json_object_new_string(rb_gemm_backend()));
    json_object_object_add(o, "simd", json_object_new_string(rb_simd_name()));
    json_object *method = json_object_new_object();
    json_object_object_add(method, "pipeline", json_object_new_string(pipeline));
    json_object *qj = json_object_new_object();
    json_object_object_add(qj, "w", rb_run_quant_spec_json(&q->w, 0, 0));
    if (q->w_override.n) { /* canonical rules (core/quant_override.h) */
        char text[2048];
        rb_quant_overrides_text(&q->w_override, text, sizeof text);
        json_object_object_add(qj, "w_override", json_object_new_string(text));
    }
    if (q->a_override.n) {
        char text[2048];
        rb_quant_overrides_text(&q->a_override, text, sizeof text);
        json_object_object_add(qj, "a_override", json_object_new_string(text));
    }
    json_object_object_add(qj, "a", rb_run_quant_spec_json(&q->a, q->a_static, 1));
    json_object_object_add(qj, "kv", rb_run_quant_spec_json(&q->kv, q->kv_static, 1));
    if (q->kv_separate) { /* --k-* / --v-*: what K and V actually use */
        json_object_object_add(qj, "k", rb_run_quant_spec_json(&q->k, q->kv_static, 1));
        json_object_object_add(qj, "v", rb_run_quant_spec_json(&q->v, q->kv_static, 1));
    }
    json_object_object_add(qj, "quantize_classifier",
                           json_object_new_boolean(q->quantize_classifier));
    json_object_object_add(qj, "a_high_bits", json_object_new_int(q->a_high_bits));
    json_object_object_add(qj, "kv_high_bits", json_object_new_int(q->kv_high_bits));
    json_object_object_add(qj, "w_high_bits", json_object_new_int(q->w_high_bits));
    json_object_object_add(qj, "w_mixed", json_object_new_boolean(q->w_mixed));
    if (rb_quant_config_mixed(q)) json_object_object_add(qj, "high_channels", high_channels_json(q));
    json_object_object_add(method, "quant", qj);
    json_object_object_add(method, "seed", json_object_new_int64(s->seed));
    if (need_calib) {
        json_object *cj = json_object_new_object();
        json_object_object_add(cj, "data", json_object_new_string(calib_path));
        json_object_object_add(cj, "windows", json_object_new_int64(s->calib_windows));
        json_object_object_add(cj, "len", json_object_new_int64(s->calib_len));
        json_object_object_add(cj, "skip", json_object_new_int64(s->calib_skip));
        json_object_object_add(method, "calib", cj);
    }
    add_d(method, "prepare_seconds", t_prep);
    /* what stages chose (smoothquant:search=1's α per layer); absent when none */
    if (notes && json_object_object_length(notes))
        json_object_object_add(method, "stage_notes", json_object_get(notes));
    json_object_object_add(o, "method", method);
    json_object_object_add(o, "rotbench_version", json_object_new_string(RB_VERSION));
}

/* ---- the run ------------------------------------------------------------------ */

/* The scored corpus: resolved, hashed, tokenized (BOS first). */
static int load_corpus(const rb_run_spec *s, const rb_run_model *m, const char *task,
                       char *path, size_t cap, char *sha, int32_t **tokens, size_t *n_tokens,
                       double *seconds, rb_error *err) {
    int rc = rb_data_resolve(s->text ? s->text : task, RB_DATA_CORPUS, s->data_dir, path, cap, err);
    char *corpus = NULL;
    size_t len = 0;
    if (!rc) rc = rb_read_file(path, 0, &corpus, &len, err);
    if (!rc) rb_sha256_hex(corpus, len, sha);
    double t = rb_now();
    if (!rc) rc = rb_tokenizer_encode(m->tokenizer, corpus, len, 1, 0, tokens, n_tokens, err);
    *seconds = rb_now() - t;
    free(corpus);
    return rc;
}

/* --save-what trans: the model between the transforms and the weight quantizers. */
typedef struct save_tap {
    const rb_run_save *save;
    const rb_run_model *m;
    const rb_log *log;
} save_tap;

static int save_trans(void *ctx, const rb_model *model, const rb_quant_config *q, rb_error *err) {
    const save_tap *t = ctx;
    rb_logf(t->log, "save: %s (trans)", t->save->path);
    return rb_run_save_model(t->save, t->m, model, q, err);
}

int rb_run_eval(const rb_run_spec *s, const rb_run_report *report, json_object **record,
                rb_error *err) {
    return rb_run_eval_samples(s, report, NULL, record, err);
}

int rb_run_eval_samples_check(const rb_run_spec *s, rb_error *err) {
    rb_zs_list zs = {0};
    int rc = s->task && !s->text ? rb_run_zs_parse(s->task, &zs, err) : RB_OK;
    return rc ? rc : rb_run_zs_samples_check(&zs, err);
}

int rb_run_eval_samples(const rb_run_spec *s, const rb_run_report *report,
                        rb_lmeval_samples *samples, json_object **record, rb_error *err) {
    *record = NULL;
    if (samples && rb_run_eval_samples_check(s, err)) return RB_EINVAL;
    const rb_log *log = rb_run_log(report);
    rb_zs_list zs = {0};
    int rc = s->task ? rb_run_zs_parse(s->task, &zs, err) : RB_OK;
    if (rc) return rc;
    int zeroshot = zs.n > 0;
    int nthreads = rb_run_set_threads(s);
    const char *task = s->text ? "text" : s->task ? s->task : "wikitext2";
    rb_run_model m;
    char corpus_path[1024] = "", data_sha[65] = "";
    int32_t *tokens = NULL;
    size_t n_tokens = 0;
    double t_tok = 0;
    rc = rb_run_load(s, 1, 1, &m, err);
    if (!rc && !zeroshot)
        rc = load_corpus(s, &m, task, corpus_path, sizeof corpus_path, data_sha, &tokens,
                         &n_tokens, &t_tok, err);
    long ctx = s->ctx;
    if (!rc) {
        if (s->max_tokens && (size_t)s->max_tokens < n_tokens) n_tokens = (size_t)s->max_tokens;
        if (!ctx) ctx = rb_model_max_ctx(&m.model->cfg);
        rc = rb_ctx_check(&m.model->cfg, ctx, s->allow_long_ctx, "--ctx", m.model_path, err);
    }
    if (rc) {
        free(tokens);
        rb_run_model_free(&m);
        return rc;
    }
    /* methods and quantizers */
    rb_quant_config quant;
    rb_pipeline pipeline = {0};
    rb_calib calib = {0};
    json_object *notes = json_object_new_object(); /* the stages' choices */
    char calib_path[1024] = "", pipeline_canon[2048] = "";
    rb_run_save save;
    rc = rb_run_quant(s, &m.model->cfg, &quant, err);
    /* a model rotbench saved with mixed-precision channels declares them again */
    if (!rc) rb_saved_meta_apply_splits(&m.info->saved, &quant);
    if (!rc) rc = rb_run_save_parse(s, &quant, &save, err);
    if (!rc) rc = rb_run_pipeline(s, &quant, &pipeline, err);
    int need_calib = pipeline.n > 0 || quant.a_static || quant.kv_static;
    /* never calibrate on the scored corpus */
    if (!rc && need_calib)
        rc = rb_run_calib(s, &m, strcmp(task, "wikitext2") ? "wikitext2" : "tinystories", &calib,
                          calib_path, sizeof calib_path, err);
    if (!rc && need_calib && !zeroshot && same_file(calib_path, corpus_path) &&
        (size_t)s->calib_skip < n_tokens)
        rc = rb_error_set(err, RB_EINVAL,
                          "calibration on %s would draw from the %zu scored tokens: give "
                          "--calib-skip %zu or more (or another --calib)",
                          calib_path, n_tokens, n_tokens);
    double t_prep = rb_now();
    save_tap tap = {&save, &m, log};
    if (!rc)
        rc = rb_prepare_model_tap(m.model, &pipeline, &quant, need_calib ? &calib : NULL,
                                  (uint64_t)s->seed, log, notes,
                                  save.path && save.what == RB_SAVE_TRANS ? save_trans : NULL,
                                  &tap, err);
    t_prep = rb_now() - t_prep;
    if (!rc && save.path && save.what != RB_SAVE_TRANS) {
        rb_logf(log, "save: %s (%s)", save.path, rb_save_what_name(save.what));
        rc = rb_run_save_model(&save, &m, m.model, &quant, err);
    }
    rb_pipeline_format(&pipeline, pipeline_canon, sizeof pipeline_canon);
    rb_calib_free(&calib);
    rb_hooks hooks;
    rb_quant_hooks(&quant, &hooks);
    const rb_hooks *use_hooks = rb_quant_config_active(&quant) ? &hooks : NULL;
    rb_qmodel qmodel = {0};
    int int_kernels = s->kernels && !strcmp(s->kernels, "int");
    if (!rc && int_kernels) {
        double t = rb_now();
        rc = rb_qmodel_build(&qmodel, m.model, &quant, err);
        if (!rc) {
            rb_qmodel_hooks(&qmodel, &hooks);
            use_hooks = &hooks;
            rb_logf(log, "eval: integer kernels (%s): %.1f MiB of packed weights in %.2f s",
                    rb_qgemm_kernel(), (double)rb_qmodel_bytes(&qmodel) / (1 << 20),
                    rb_now() - t);
        }
    }
    json_object *o = record_head(&m, s, task, ctx);
    if (!rc && zeroshot) {
        rb_logf(log, "eval: %s, %d zero-shot task%s, ctx %ld, %d threads", m.model_path, zs.n,
                zs.n > 1 ? "s" : "", ctx, nthreads);
        rc = rb_run_zeroshot(&m, use_hooks, &zs, s->data_dir, (size_t)s->limit, (int)ctx,
                             (int)s->num_fewshot, report, samples, o, err);
    } else if (!rc) {
        rb_logf(log, "eval: %s on %s: %zu tokens (tokenized in %.2f s), ctx %ld, %d threads",
                m.model_path, corpus_path, n_tokens, t_tok, ctx, nthreads);
        rb_workspace ws;
        rb_ppl_result res = {0};
        rb_run_progress progress = {report, "eval", "window"};
        /* llama.cpp's llama-perplexity: whole windows, BOS first in each, the
         * second half scored (eval/perplexity.h) */
        int llamacpp = s->ppl_scoring && !strcmp(s->ppl_scoring, "llama.cpp");
        rb_ppl_scoring sc = {llamacpp ? (int)ctx / 2 : 0, llamacpp,
                             llamacpp ? rb_tokenizer_bos(m.tokenizer) : -1};
        size_t nw = rb_perplexity_n_windows_scored(n_tokens, (int)ctx, 0, &sc);
        double *wnll = malloc((nw ? nw : 1) * sizeof *wnll);
        size_t *wtok = malloc((nw ? nw : 1) * sizeof *wtok);
        rc = wnll && wtok ? rb_workspace_init(&ws, &m.model->cfg, (int)ctx, err)
                          : rb_error_set(err, RB_ENOMEM, "out of memory");
        if (!rc) {
            rc = rb_perplexity_scored(m.model, &ws, use_hooks, tokens, n_tokens, (int)ctx, 0, &sc,
                                      rb_run_progress_fn, &progress, &res, wnll, wtok, err);
            rb_workspace_free(&ws);
        }
        if (!rc) {
            double tps = (double)(res.n_scored + res.n_windows) / res.seconds;
            rb_logf(log, "eval: ppl %.4f (nll %.6f) over %zu scored tokens in %.2f s, %.0f tokens/s",
                    res.ppl, res.nll, res.n_scored, res.seconds, tps);
            record_ppl(o, corpus_path, data_sha, &res, tps);
            record_windows(o, wnll, wtok, res.n_windows);
            rc = record_text_size(o, m.tokenizer, tokens, n_tokens, err);
            json_object_object_add(o, "ppl_scoring",
                                   json_object_new_string(llamacpp ? "llama.cpp" : "rotbench"));
        }
        free(wnll);
        free(wtok);
    }
    free(tokens);
    rb_qmodel_free(&qmodel);
    if (!rc) {
        json_object_object_add(o, "kernels", json_object_new_string(int_kernels ? "int" : "fake"));
        if (int_kernels)
            json_object_object_add(o, "int_kernel", json_object_new_string(rb_qgemm_kernel()));
    }
    if (!rc)
        record_tail(o, s, nthreads, pipeline_canon, &quant, need_calib, calib_path, t_prep, notes);
    if (!rc && save.path) {
        static const char *const fmt[] = {"", "llama2c", "hf-safetensors", "gguf"};
        json_object *sj = json_object_new_object();
        json_object_object_add(sj, "path", json_object_new_string(save.path));
        json_object_object_add(sj, "format", json_object_new_string(fmt[save.format]));
        json_object_object_add(sj, "dtype", json_object_new_string(rb_dtype_name(save.dtype)));
        json_object_object_add(sj, "what", json_object_new_string(rb_save_what_name(save.what)));
        json_object_object_add(o, "saved_model", sj);
    }
    rb_quant_config_free(&quant);
    rb_run_model_free(&m);
    json_object_put(notes);
    if (rc) {
        json_object_put(o);
        return rc;
    }
    *record = o;
    return RB_OK;
}
