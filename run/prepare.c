#include "run/prepare.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/io.h"
#include "base/sha256.h"
#include "core/context_limit.h"
#include "datasets/registry.h"
#include "kernels/linear.h"
#include "methods/prepare.h"

int rb_run_load(const rb_run_spec *s, int want_tokenizer, int want_hashes, rb_run_model *out,
                rb_error *err) {
    memset(out, 0, sizeof *out);
    const char *model = s->model ? s->model : RB_DEFAULT_MODEL, *tokenizer = s->tokenizer;
    struct stat st; /* a directory goes to the model loader, which says what it is */
    int rc = stat(model, &st) == 0 && S_ISDIR(st.st_mode)
                 ? (snprintf(out->model_path, sizeof out->model_path, "%s", model), RB_OK)
                 : rb_data_resolve(model, RB_DATA_MODEL, s->data_dir, out->model_path,
                                   sizeof out->model_path, err);
    if (rc) return rc;
    if ((rc = rb_model_load(out->model_path, &out->model, err))) return rc;
    if (want_hashes && (rc = rb_sha256_file(out->model_path, out->model_sha256, err))) return rc;
    if (!want_tokenizer) return RB_OK;
    if (!tokenizer) {
        const rb_data_entry *e = rb_data_find(model, RB_DATA_MODEL);
        if (!e)
            return rb_error_set(err, RB_EINVAL,
                                "%s: a model given as a file needs --tokenizer FILE (or a "
                                "tokenizer name: tok512, llama2)",
                                model);
        tokenizer = e->tokenizer;
    }
    if (stat(tokenizer, &st) == 0 && S_ISDIR(st.st_mode)) /* a directory: its tokenizer.json */
        snprintf(out->tokenizer_path, sizeof out->tokenizer_path, "%s/tokenizer.json", tokenizer);
    else if ((rc = rb_data_resolve(tokenizer, RB_DATA_TOKENIZER, s->data_dir, out->tokenizer_path,
                                   sizeof out->tokenizer_path, err)))
        return rc;
    if ((rc = rb_tokenizer_open(out->tokenizer_path, &out->tokenizer, err))) return rc;
    if (rb_tokenizer_vocab_size(out->tokenizer) != out->model->cfg.vocab_size)
        return rb_error_set(err, RB_EINVAL, "%s has %d tokens but %s has vocab_size %d",
                            out->tokenizer_path, rb_tokenizer_vocab_size(out->tokenizer),
                            out->model_path, out->model->cfg.vocab_size);
    if (want_hashes && (rc = rb_sha256_file(out->tokenizer_path, out->tokenizer_sha256, err)))
        return rc;
    return RB_OK;
}

void rb_run_model_free(rb_run_model *m) {
    rb_model_free(m->model);
    rb_tokenizer_free(m->tokenizer);
    memset(m, 0, sizeof *m);
}

void rb_run_model_record(const rb_run_model *m, json_object *model_config, json_object *o) {
    json_object_object_add(o, "model", json_object_new_string(m->model_path));
    json_object_object_add(o, "model_sha256", json_object_new_string(m->model_sha256));
    if (model_config) json_object_object_add(o, "model_config", model_config);
    json_object_object_add(o, "tokenizer", json_object_new_string(m->tokenizer_path));
    json_object_object_add(o, "tokenizer_sha256", json_object_new_string(m->tokenizer_sha256));
}

int rb_run_set_threads(const rb_run_spec *s) {
    int threads = s->threads > 0 ? s->threads : omp_get_num_procs();
    rb_set_threads(threads);
    return threads;
}

int rb_run_quant(const rb_run_spec *s, const rb_config *c, rb_quant_config *q, rb_error *err) {
    rb_quant_config_init(q);
    q->w.bits = s->w_bits;
    q->w.asym = s->w_asym;
    q->a.bits = s->a_bits;
    q->a.asym = s->a_asym;
    q->a_static = s->a_static;
    q->kv.bits = s->kv_bits;
    q->kv.asym = s->kv_asym;
    q->kv_static = s->kv_static;
    q->quantize_classifier = s->quantize_classifier;
    q->a_high_bits = s->a_high_bits;
    q->kv_high_bits = s->kv_high_bits;
    int rc;
    if ((rc = rb_quant_parse_gran(s->w_gran, &q->w, "--w-gran", err)) ||
        (rc = rb_quant_parse_gran(s->a_gran, &q->a, "--a-gran", err)) ||
        (rc = rb_quant_parse_clip(s->w_clip, &q->w, "--w-clip", err)) ||
        (rc = rb_quant_parse_clip(s->a_clip, &q->a, "--a-clip", err)))
        return rc;
    if (!strcmp(s->kv_gran, "head")) {
        q->kv.gran = RB_GRAN_GROUP;
        q->kv.group = c->head_dim;
        return RB_OK;
    }
    return rb_quant_parse_gran(s->kv_gran, &q->kv, "--kv-gran", err);
}

int rb_run_pipeline(const rb_run_spec *s, const rb_quant_config *q, rb_pipeline *p,
                    rb_error *err) {
    int rc = rb_pipeline_parse(s->pipeline, p, err);
    return rc ? rc : rb_pipeline_complete(p, q, err);
}

int rb_run_calib(const rb_run_spec *s, const rb_run_model *m, const char *default_corpus,
                 rb_calib *out, char *path, size_t cap, rb_error *err) {
    const char *name = s->calib ? s->calib : default_corpus;
    memset(out, 0, sizeof *out);
    if (cap) *path = 0;
    int rc = rb_ctx_check(&m->model->cfg, s->calib_len, s->allow_long_ctx, "--calib-len",
                          m->model_path, err);
    if (rc) return rc;
    rc = rb_data_resolve(name, RB_DATA_CORPUS, s->data_dir, path, cap, err);
    char *text = NULL;
    size_t n_text = 0, n = 0;
    int32_t *tok = NULL;
    if (!rc) rc = rb_read_file(path, 0, &text, &n_text, err);
    if (!rc) rc = rb_tokenizer_encode(m->tokenizer, text, n_text, 1, 0, &tok, &n, err);
    if (!rc && (size_t)s->calib_skip >= n)
        rc = rb_error_set(err, RB_EINVAL, "--calib-skip %ld leaves none of its %zu tokens",
                          s->calib_skip, n);
    if (!rc)
        rc = rb_calib_from_tokens(tok + s->calib_skip, n - (size_t)s->calib_skip,
                                  (int)s->calib_windows, (int)s->calib_len, (uint64_t)s->seed, out,
                                  err);
    if (rc) rb_error_prefix(err, "calibration corpus %s: ", cap && *path ? path : name);
    free(tok);
    free(text);
    return rc;
}
