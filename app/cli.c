#include "app/cli.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/io.h"
#include "base/sha256.h"
#include "core/context_limit.h"
#include "datasets/registry.h"
#include "eval/eval_flags.h"
#include "kernels/linear.h"
#include "methods/prepare.h"

int rb_cli_load(const char *model, const char *tokenizer, const char *data_dir,
                int want_tokenizer, int want_hashes, rb_cli_model *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    if (!model) model = RB_DEFAULT_MODEL;
    struct stat st; /* a directory goes to the model loader, which says what it is */
    int rc = stat(model, &st) == 0 && S_ISDIR(st.st_mode)
                 ? (snprintf(out->model_path, sizeof out->model_path, "%s", model), RB_OK)
                 : rb_data_resolve(model, RB_DATA_MODEL, data_dir, out->model_path,
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
    else if ((rc = rb_data_resolve(tokenizer, RB_DATA_TOKENIZER, data_dir, out->tokenizer_path,
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

void rb_cli_unload(rb_cli_model *cm) {
    rb_model_free(cm->model);
    rb_tokenizer_free(cm->tokenizer);
    memset(cm, 0, sizeof *cm);
}

long rb_cli_int(const char *flag, const char *value, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(value ? value : "", &end, 10);
    if (!value || !*value || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "error: %s expects an integer in %ld..%ld, got '%s'\n", flag, lo, hi,
                value ? value : "");
        exit(2);
    }
    return v;
}

long rb_cli_bits(const char *flag, const char *value) {
    long b = rb_cli_int(flag, value, 2, 16);
    if (b > 8 && b != 16) {
        fprintf(stderr, "error: %s expects 2..8 or 16 (off), got %ld\n", flag, b);
        exit(2);
    }
    return b;
}

long long rb_cli_flag(const char *name, const char *value) {
    const rb_flag_spec *f = rb_eval_flag_find(name);
    if (!f) {
        fprintf(stderr, "internal error: --%s is not in the eval flag table (eval/eval_flags.c)\n",
                name);
        exit(70);
    }
    rb_error err = {0};
    long long v = 0;
    if (rb_flag_parse(f, value, &v, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        exit(2);
    }
    return v;
}

int rb_cli_check_flag_table(const struct option *opts) {
    size_t n_flags, n_opts = 0;
    const rb_flag_spec *flags = rb_eval_flags(&n_flags);
    for (; opts[n_opts].name; n_opts++) {
        const struct option *o = &opts[n_opts];
        const rb_flag_spec *f = rb_eval_flag_find(o->name);
        if (strcmp(o->name, "help") &&
            (!f || (f->type == RB_FLAG_BOOL) != (o->has_arg == no_argument))) {
            fprintf(stderr, "internal error: --%s %s the eval flag table (eval/eval_flags.c)\n",
                    o->name, f ? "takes a value unlike in" : "is missing from");
            return 70;
        }
    }
    for (size_t i = 0; i < n_flags; i++) {
        size_t j = 0;
        while (j < n_opts && strcmp(opts[j].name, flags[i].name)) j++;
        if (j == n_opts) {
            fprintf(stderr, "internal error: --%s of the eval flag table is not an option\n",
                    flags[i].name);
            return 70;
        }
    }
    return 0;
}

int rb_cli_set_threads(int threads) {
    if (threads <= 0) threads = omp_get_num_procs();
    rb_set_threads(threads);
    return threads;
}

int rb_cli_fail(const rb_error *err) {
    fprintf(stderr, "error: %s\n", err->msg);
    return 1;
}

void rb_cli_progress(void *state, size_t done, size_t total, double seconds) {
    rb_cli_progress_state *p = state;
    if (done != total && seconds - p->last < 2.0) return;
    p->last = seconds;
    fprintf(stderr, "%s: %s %zu/%zu, %.1f s\n", p->label, p->unit ? p->unit : "window", done,
            total, seconds);
}

/* ---- flags shared by eval and stats ----------------------------------------- */

void rb_cli_prep_init(rb_cli_prep *p) {
    memset(p, 0, sizeof *p);
    p->pipeline = "";
    p->calib_windows = 32;
    p->calib_len = 256;
    p->w_gran = "channel";
    p->a_gran = "token";
    p->kv_gran = "head";
    p->w_clip = p->a_clip = "1";
    rb_quant_config_init(&p->quant);
}

void rb_cli_prep_free(rb_cli_prep *p) { rb_quant_config_free(&p->quant); }

int rb_cli_prep_flag(rb_cli_prep *p, int ch, const char *arg) {
    rb_quant_config *q = &p->quant;
    switch (ch) {
    case RB_CLI_O_PIPE: p->pipeline = arg; break;
    case RB_CLI_O_SEED: p->seed = (long)rb_cli_flag("seed", arg); break;
    case RB_CLI_O_CAL: p->calib = arg; break;
    case RB_CLI_O_CALW: p->calib_windows = (long)rb_cli_flag("calib-windows", arg); break;
    case RB_CLI_O_CALL: p->calib_len = (long)rb_cli_flag("calib-len", arg); break;
    case RB_CLI_O_CALS: p->calib_skip = (long)rb_cli_flag("calib-skip", arg); break;
    case RB_CLI_O_LONG: p->allow_long_ctx = 1; break;
    case RB_CLI_O_WB: q->w.bits = (int)rb_cli_flag("w-bits", arg); break;
    case RB_CLI_O_WG: rb_cli_flag("w-gran", arg); p->w_gran = arg; break;
    case RB_CLI_O_WA: q->w.asym = 1; break;
    case RB_CLI_O_WC: rb_cli_flag("w-clip", arg); p->w_clip = arg; break;
    case RB_CLI_O_AB: q->a.bits = (int)rb_cli_flag("a-bits", arg); break;
    case RB_CLI_O_AG: rb_cli_flag("a-gran", arg); p->a_gran = arg; break;
    case RB_CLI_O_AS: q->a_static = 1; break;
    case RB_CLI_O_AD: q->a_static = 0; break;
    case RB_CLI_O_AA: q->a.asym = 1; break;
    case RB_CLI_O_AC: rb_cli_flag("a-clip", arg); p->a_clip = arg; break;
    case RB_CLI_O_KB: q->kv.bits = (int)rb_cli_flag("kv-bits", arg); break;
    case RB_CLI_O_KG: rb_cli_flag("kv-gran", arg); p->kv_gran = arg; break;
    case RB_CLI_O_KS: q->kv_static = 1; break;
    case RB_CLI_O_KA: q->kv.asym = 1; break;
    case RB_CLI_O_QC: q->quantize_classifier = 1; break;
    default: return 0;
    }
    return 1;
}

int rb_cli_prep_finish(rb_cli_prep *p, const rb_config *c, rb_pipeline *pipe, rb_error *err) {
    rb_quant_config *q = &p->quant;
    int rc;
    if ((rc = rb_quant_parse_gran(p->w_gran, &q->w, "--w-gran", err)) ||
        (rc = rb_quant_parse_gran(p->a_gran, &q->a, "--a-gran", err)) ||
        (rc = rb_quant_parse_clip(p->w_clip, &q->w, "--w-clip", err)) ||
        (rc = rb_quant_parse_clip(p->a_clip, &q->a, "--a-clip", err)))
        return rc;
    if (!strcmp(p->kv_gran, "head")) {
        q->kv.gran = RB_GRAN_GROUP;
        q->kv.group = c->head_dim;
    } else if ((rc = rb_quant_parse_gran(p->kv_gran, &q->kv, "--kv-gran", err))) {
        return rc;
    }
    if ((rc = rb_pipeline_parse(p->pipeline, pipe, err))) return rc;
    return rb_pipeline_complete(pipe, q, err);
}

int rb_cli_build_calib(const rb_cli_prep *p, const rb_cli_model *cm, const char *default_corpus,
                       const char *data_dir, rb_calib *out, char *path, size_t cap,
                       rb_error *err) {
    const char *name = p->calib ? p->calib : default_corpus;
    memset(out, 0, sizeof *out);
    if (cap) *path = 0;
    int rc = rb_ctx_check(&cm->model->cfg, p->calib_len, p->allow_long_ctx, "--calib-len",
                          cm->model_path, err);
    if (rc) return rc;
    rc = rb_data_resolve(name, RB_DATA_CORPUS, data_dir, path, cap, err);
    char *text = NULL;
    size_t n_text = 0, n = 0;
    int32_t *tok = NULL;
    if (!rc) rc = rb_read_file(path, 0, &text, &n_text, err);
    if (!rc) rc = rb_tokenizer_encode(cm->tokenizer, text, n_text, 1, 0, &tok, &n, err);
    if (!rc && (size_t)p->calib_skip >= n)
        rc = rb_error_set(err, RB_EINVAL, "--calib-skip %ld leaves none of its %zu tokens",
                          p->calib_skip, n);
    if (!rc)
        rc = rb_calib_from_tokens(tok + p->calib_skip, n - (size_t)p->calib_skip,
                                  (int)p->calib_windows, (int)p->calib_len, (uint64_t)p->seed, out,
                                  err);
    if (rc) rb_error_prefix(err, "calibration corpus %s: ", cap && *path ? path : name);
    free(tok);
    free(text);
    return rc;
}

json_object *rb_cli_quant_spec_json(const rb_quant_spec *s, int is_static, int with_static) {
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
    return o;
}

int rb_cli_add_where(rb_where *where, size_t *n, size_t cap, char *text) {
    rb_error err = {0};
    if (*n == cap) {
        fprintf(stderr, "error: at most %zu --where\n", cap);
        return 1;
    }
    if (rb_where_parse(text, &where[*n], &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    (*n)++;
    return 0;
}
