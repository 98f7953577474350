#include "run/prepare.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/io.h"
#include "base/sha256.h"
#include "core/context_limit.h"
#include "core/tok_gguf.h"
#include "datasets/registry.h"
#include "kernels/linear.h"
#include "methods/prepare.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* model_sha256 of a model of several files: the sha256 of their listing. */
static void hash_file_list(const rb_model_info *info, char out[65]) {
    if (info->n_files == 1) {
        memcpy(out, info->files[0].sha256, 65);
        return;
    }
    rb_sha256 s;
    rb_sha256_init(&s);
    for (int i = 0; i < info->n_files; i++) {
        const char *p = info->files[i].path, *base = strrchr(p, '/');
        char line[1200];
        int n = snprintf(line, sizeof line, "%s  %s\n", info->files[i].sha256, base ? base + 1 : p);
        rb_sha256_update(&s, line, (size_t)n);
    }
    rb_sha256_final_hex(&s, out);
}

int rb_run_load(const rb_run_spec *s, int want_tokenizer, int want_hashes, rb_run_model *out,
                rb_error *err) {
    memset(out, 0, sizeof *out);
    const char *model = s->model ? s->model : RB_DEFAULT_MODEL, *tokenizer = s->tokenizer;
    int rc = RB_OK;
    if (is_dir(model)) /* a directory goes to rb_model_open, which says what it is */
        snprintf(out->model_path, sizeof out->model_path, "%s", model);
    else
        rc = rb_data_resolve(model, RB_DATA_MODEL, s->data_dir, out->model_path,
                             sizeof out->model_path, err);
    if (rc) return rc;
    if (!(out->info = calloc(1, sizeof *out->info)))
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    if ((rc = rb_model_open(out->model_path, want_hashes ? RB_OPEN_HASH : 0, &out->model,
                            out->info, err)))
        return rc;
    if (want_hashes) hash_file_list(out->info, out->model_sha256);
    if (!want_tokenizer) return RB_OK;
    if (!tokenizer && out->info->tokenizer_path[0]) tokenizer = out->info->tokenizer_path;
    if (!tokenizer && out->info->tokenizer_embedded) { /* GGUF: its own vocabulary */
        snprintf(out->tokenizer_path, sizeof out->tokenizer_path, "%s", out->model_path);
        if ((rc = rb_gguf_tokenizer_open(out->model_path, &out->tokenizer, err))) return rc;
        if (want_hashes)
            memcpy(out->tokenizer_sha256, out->model_sha256, sizeof out->tokenizer_sha256);
    } else {
        if (!tokenizer) {
            const rb_data_entry *e = rb_data_find(model, RB_DATA_MODEL);
            if (!e)
                return rb_error_set(err, RB_EINVAL,
                                    "%s: a model given as a file needs --tokenizer FILE (or a "
                                    "tokenizer name: tok512, llama2)",
                                    model);
            tokenizer = e->tokenizer;
        }
        if (is_dir(tokenizer)) { /* a directory: its tokenizer.json */
            int n = snprintf(out->tokenizer_path, sizeof out->tokenizer_path,
                             "%s/tokenizer.json", tokenizer);
            if (n < 0 || (size_t)n >= sizeof out->tokenizer_path)
                return rb_error_set(err, RB_EINVAL, "%s: the path is too long (%zu bytes at most)",
                                    tokenizer, sizeof out->tokenizer_path - 16);
        } else if ((rc = rb_data_resolve(tokenizer, RB_DATA_TOKENIZER, s->data_dir,
                                       out->tokenizer_path, sizeof out->tokenizer_path, err)))
            return rc;
        if ((rc = rb_tokenizer_open(out->tokenizer_path, &out->tokenizer, err))) return rc;
        if (want_hashes &&
            (rc = rb_sha256_file(out->tokenizer_path, out->tokenizer_sha256, err)))
            return rc;
    }
    if (rb_tokenizer_vocab_size(out->tokenizer) != out->model->cfg.vocab_size)
        return rb_error_set(err, RB_EINVAL, "%s has %d tokens but %s has vocab_size %d",
                            out->tokenizer_path, rb_tokenizer_vocab_size(out->tokenizer),
                            out->model_path, out->model->cfg.vocab_size);
    return RB_OK;
}

void rb_run_model_free(rb_run_model *m) {
    rb_model_free(m->model);
    rb_tokenizer_free(m->tokenizer);
    free(m->info);
    memset(m, 0, sizeof *m);
}

static void add_model_info(json_object *o, const rb_model_info *info) {
    json_object_object_add(o, "model_format", json_object_new_string(info->format_name));
    json_object_object_add(o, "model_architecture", json_object_new_string(info->architecture));
    json_object_object_add(o, "model_dtype", json_object_new_string(info->dtype));
    if (info->saved.present) { /* what rotbench wrote into the file (core/saved_meta.h) */
        const rb_saved_meta *s = &info->saved;
        json_object *r = json_object_new_object();
        json_object_object_add(r, "saved", json_object_new_string(s->saved));
        json_object_object_add(r, "qk_hadamard", json_object_new_boolean(s->qk_hadamard));
        json_object_object_add(r, "down_hadamard", json_object_new_boolean(s->down_hadamard));
        json_object_object_add(r, "o_head_hadamard", json_object_new_boolean(s->o_head_hadamard));
        json_object_object_add(r, "high_channels", json_object_new_boolean(rb_saved_meta_has_split(s)));
        json_object_object_add(r, "quant_w", json_object_new_string(s->quant_w));
        json_object_object_add(r, "quant_a", json_object_new_string(s->quant_a));
        json_object_object_add(r, "quant_kv", json_object_new_string(s->quant_kv));
        json_object_object_add(o, "model_rotbench", r);
    }
    if (info->dequantized)
        json_object_object_add(o, "model_dequantized", json_object_new_boolean(1));
    json_object_object_add(o, "model_max_context", json_object_new_int(info->max_context));
    json_object *files = json_object_new_array();
    for (int i = 0; i < info->n_files; i++) {
        json_object *f = json_object_new_object();
        json_object_object_add(f, "path", json_object_new_string(info->files[i].path));
        json_object_object_add(f, "sha256", json_object_new_string(info->files[i].sha256));
        json_object_object_add(f, "bytes", json_object_new_int64((int64_t)info->files[i].bytes));
        json_object_array_add(files, f);
    }
    json_object_object_add(o, "model_files", files);
}

void rb_run_model_record(const rb_run_model *m, json_object *model_config, json_object *o) {
    json_object_object_add(o, "model", json_object_new_string(m->model_path));
    json_object_object_add(o, "model_sha256", json_object_new_string(m->model_sha256));
    if (model_config) json_object_object_add(o, "model_config", model_config);
    json_object_object_add(o, "tokenizer", json_object_new_string(m->tokenizer_path));
    json_object_object_add(o, "tokenizer_sha256", json_object_new_string(m->tokenizer_sha256));
    if (m->info) add_model_info(o, m->info);
}

int rb_run_set_threads(const rb_run_spec *s) {
    int threads = s->threads > 0 ? s->threads : omp_get_num_procs();
    rb_set_threads(threads);
    return threads;
}

/* A K/V granularity: "head" (per token and head = groups of head_dim) or
 * what rb_quant_parse_gran reads. */
static int kv_gran(const char *text, const rb_config *c, rb_quant_spec *q, const char *flag,
                   rb_error *err) {
    if (strcmp(text, "head")) return rb_quant_parse_gran(text, q, flag, err);
    q->gran = RB_GRAN_GROUP;
    q->group = c->head_dim;
    return RB_OK;
}

int rb_run_quant(const rb_run_spec *s, const rb_config *c, rb_quant_config *q, rb_error *err) {
    rb_quant_config_init(q);
    q->w.bits = s->w_bits;
    q->w.asym = s->w_asym;
    q->w.scale_f16 = s->w_scale_f16;
    q->a.bits = s->a_bits;
    q->a.asym = s->a_asym;
    q->a_static = s->a_static;
    q->kv.bits = s->kv_bits;
    q->kv.asym = s->kv_asym;
    q->kv_static = s->kv_static;
    q->quantize_classifier = s->quantize_classifier;
    q->a_high_bits = s->a_high_bits;
    q->kv_high_bits = s->kv_high_bits;
    q->w_high_bits = s->w_high_bits;
    int rc;
    if ((rc = rb_quant_parse_gran(s->w_gran, &q->w, "--w-gran", err)) ||
        (rc = rb_quant_parse_gran(s->a_gran, &q->a, "--a-gran", err)) ||
        (rc = rb_quant_parse_clip(s->w_clip, &q->w, "--w-clip", err)) ||
        (rc = rb_quant_parse_clip(s->a_clip, &q->a, "--a-clip", err)))
        return rc;
    if (s->w_override &&
        (rc = rb_quant_overrides_parse(s->w_override, &q->w_override, "--w-override", err)))
        return rc;
    if (s->a_override &&
        (rc = rb_quant_overrides_parse(s->a_override, &q->a_override, "--a-override", err)))
        return rc;
    q->override_layers = c->n_layers;
    if ((rc = kv_gran(s->kv_gran, c, &q->kv, "--kv-gran", err)) ||
        (rc = rb_quant_parse_clip(s->kv_clip, &q->kv, "--kv-clip", err)))
        return rc;
    /* --k-* / --v-*: K and V separately, each starting from --kv-* */
    q->kv_separate = s->k_bits || s->k_gran || s->k_clip || s->k_asym || s->v_bits ||
                     s->v_gran || s->v_clip || s->v_asym;
    if (!q->kv_separate) return RB_OK;
    q->k = q->v = q->kv;
    if (s->k_bits) q->k.bits = s->k_bits;
    if (s->v_bits) q->v.bits = s->v_bits;
    q->k.asym |= s->k_asym;
    q->v.asym |= s->v_asym;
    if ((s->k_gran && (rc = kv_gran(s->k_gran, c, &q->k, "--k-gran", err))) ||
        (s->v_gran && (rc = kv_gran(s->v_gran, c, &q->v, "--v-gran", err))) ||
        (s->k_clip && (rc = rb_quant_parse_clip(s->k_clip, &q->k, "--k-clip", err))) ||
        (s->v_clip && (rc = rb_quant_parse_clip(s->v_clip, &q->v, "--v-clip", err))))
        return rc;
    return RB_OK;
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
