#include "run/flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_flags.h"
#include "eval/sweep_expand.h" /* rb_sweep_arg_value */

#define OFF(f) offsetof(rb_run_spec, f)
#define SW(n, g, f, v) {n, RB_FIELD_SWITCH, g, OFF(f), 0, v}
#define INT(n, g, f) {n, RB_FIELD_INT, g, OFF(f), 0, 0}
#define LONG(n, g, f) {n, RB_FIELD_INT, g, OFF(f), 1, 0}
#define TEXT(n, g, f) {n, RB_FIELD_TEXT, g, OFF(f), 0, 0}

static const rb_run_flag flags[] = {
    TEXT("model", RB_FLAGS_LOAD, model),
    TEXT("tokenizer", RB_FLAGS_LOAD, tokenizer),
    TEXT("data-dir", RB_FLAGS_LOAD, data_dir),
    TEXT("task", RB_FLAGS_EVAL, task),
    TEXT("text", RB_FLAGS_EVAL, text),
    LONG("ctx", RB_FLAGS_EVAL, ctx),
    LONG("max-tokens", RB_FLAGS_EVAL, max_tokens),
    LONG("limit", RB_FLAGS_EVAL, limit),
    LONG("num-fewshot", RB_FLAGS_EVAL, num_fewshot),
    TEXT("ppl-scoring", RB_FLAGS_EVAL, ppl_scoring),
    TEXT("save-model", RB_FLAGS_EVAL, save_model),
    TEXT("save-dtype", RB_FLAGS_EVAL, save_dtype),
    TEXT("save-what", RB_FLAGS_EVAL, save_what),
    TEXT("pipeline", RB_FLAGS_PIPELINE, pipeline),
    LONG("seed", RB_FLAGS_PIPELINE, seed),
    TEXT("calib", RB_FLAGS_PIPELINE, calib),
    LONG("calib-windows", RB_FLAGS_PIPELINE, calib_windows),
    LONG("calib-len", RB_FLAGS_PIPELINE, calib_len),
    LONG("calib-skip", RB_FLAGS_PIPELINE, calib_skip),
    SW("allow-long-ctx", RB_FLAGS_PIPELINE, allow_long_ctx, 1),
    INT("w-bits", RB_FLAGS_WEIGHTS, w_bits),
    TEXT("w-gran", RB_FLAGS_WEIGHTS, w_gran),
    SW("w-asym", RB_FLAGS_WEIGHTS, w_asym, 1),
    TEXT("w-clip", RB_FLAGS_WEIGHTS, w_clip),
    TEXT("w-override", RB_FLAGS_WEIGHTS, w_override),
    SW("w-scale-f16", RB_FLAGS_WEIGHTS, w_scale_f16, 1),
    INT("a-bits", RB_FLAGS_ACT, a_bits),
    TEXT("a-gran", RB_FLAGS_ACT, a_gran),
    SW("a-static", RB_FLAGS_ACT, a_static, 1),
    SW("a-dynamic", RB_FLAGS_ACT, a_static, 0),
    SW("a-asym", RB_FLAGS_ACT, a_asym, 1),
    TEXT("a-clip", RB_FLAGS_ACT, a_clip),
    TEXT("a-override", RB_FLAGS_ACT, a_override),
    INT("kv-bits", RB_FLAGS_ACT, kv_bits),
    TEXT("kv-gran", RB_FLAGS_ACT, kv_gran),
    SW("kv-static", RB_FLAGS_ACT, kv_static, 1),
    SW("kv-asym", RB_FLAGS_ACT, kv_asym, 1),
    TEXT("kv-clip", RB_FLAGS_ACT, kv_clip),
    INT("k-bits", RB_FLAGS_ACT, k_bits),
    TEXT("k-gran", RB_FLAGS_ACT, k_gran),
    SW("k-asym", RB_FLAGS_ACT, k_asym, 1),
    TEXT("k-clip", RB_FLAGS_ACT, k_clip),
    INT("v-bits", RB_FLAGS_ACT, v_bits),
    TEXT("v-gran", RB_FLAGS_ACT, v_gran),
    SW("v-asym", RB_FLAGS_ACT, v_asym, 1),
    TEXT("v-clip", RB_FLAGS_ACT, v_clip),
    SW("quantize-classifier", RB_FLAGS_ACT, quantize_classifier, 1),
    TEXT("kernels", RB_FLAGS_EVAL, kernels),
    INT("a-high-bits", RB_FLAGS_EVAL, a_high_bits),
    INT("kv-high-bits", RB_FLAGS_EVAL, kv_high_bits),
    INT("w-high-bits", RB_FLAGS_EVAL, w_high_bits),
    INT("threads", RB_FLAGS_LOAD, threads), /* last: the sweep's command lines end with it */
    {NULL, 0, 0, 0, 0, 0},
};

void rb_run_spec_init(rb_run_spec *s) {
    memset(s, 0, sizeof *s);
    s->pipeline = "";
    s->calib_windows = 32;
    s->calib_len = 256;
    s->w_bits = s->a_bits = s->kv_bits = 16;
    s->a_high_bits = s->kv_high_bits = s->w_high_bits = 8;
    s->w_gran = "channel";
    s->a_gran = "token";
    s->kv_gran = "head";
    s->w_clip = s->a_clip = s->kv_clip = "1";
}

const rb_run_flag *rb_run_flags(void) { return flags; }

size_t rb_run_flags_max_argc(void) { return 2 * (sizeof flags / sizeof *flags); }

const rb_run_flag *rb_run_flag_find(const char *name, unsigned groups) {
    for (const rb_run_flag *f = flags; f->name; f++)
        if ((f->group & groups) && !strcmp(f->name, name)) return f;
    return NULL;
}

static long get_int(const rb_run_spec *s, const rb_run_flag *f) {
    const char *p = (const char *)s + f->offset;
    return f->is_long ? *(const long *)p : *(const int *)p;
}

const rb_flag_spec *rb_run_flag_type(const rb_run_flag *f) { return rb_eval_flag_find(f->name); }

int rb_run_flag_set(rb_run_spec *s, const rb_run_flag *f, const char *value, rb_error *err) {
    char *p = (char *)s + f->offset;
    const rb_flag_spec *type = rb_run_flag_type(f);
    long long v = 0;
    if (!type) /* the two tables disagree: a programming error (tests/test_run.c) */
        return rb_error_set(err, RB_EINVAL, "--%s is not in the eval flag table", f->name);
    int rc = rb_flag_parse(type, f->kind == RB_FIELD_SWITCH ? NULL : value, &v, err);
    if (rc) return rc;
    if (f->kind == RB_FIELD_SWITCH)
        *(int *)p = f->value;
    else if (f->kind == RB_FIELD_TEXT)
        *(const char **)p = value;
    else if (f->is_long)
        *(long *)p = (long)v;
    else
        *(int *)p = (int)v;
    return RB_OK;
}

int rb_run_spec_from_args(rb_run_spec *s, json_object *args, unsigned groups, json_object *strings,
                          rb_error *err) {
    json_object_object_foreach(args, key, v) {
        const rb_run_flag *f = rb_run_flag_find(key, groups);
        if (!f) return rb_error_set(err, RB_EINVAL, "\"%s\" is not a flag of rotbench eval", key);
        const rb_flag_spec *type = rb_run_flag_type(f);
        if (!type) return rb_error_set(err, RB_EINVAL, "--%s is not in the eval flag table", key);
        int rc = rb_flag_check_json(type, v, err);
        if (rc) return rc;
        if (json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v))
            continue; /* false: absent */
        if (f->kind == RB_FIELD_TEXT && !json_object_is_type(v, json_type_string)) {
            /* a number given to a text flag (--w-clip 0.9): its canonical text,
             * kept alive in strings */
            if (!strings)
                return rb_error_set(err, RB_EINVAL, "\"%s\": expected a string", key);
            char *text = rb_sweep_arg_value(v);
            json_object *sv = text ? json_object_new_string(text) : NULL;
            free(text);
            if (!sv || json_object_array_add(strings, sv)) {
                json_object_put(sv);
                return rb_error_set(err, RB_ENOMEM, "out of memory");
            }
            v = sv;
        }
        if (f->kind == RB_FIELD_SWITCH) {
            rc = rb_run_flag_set(s, f, NULL, err);
        } else if (f->kind == RB_FIELD_TEXT) {
            rc = rb_run_flag_set(s, f, json_object_get_string(v), err);
        } else {
            char *text = rb_sweep_arg_value(v);
            if (!text) return rb_error_set(err, RB_ENOMEM, "out of memory");
            rc = rb_run_flag_set(s, f, text, err);
            free(text);
        }
        if (rc) return rc;
    }
    return RB_OK;
}

int rb_run_spec_argv(const rb_run_spec *s, char **argv, size_t *n, rb_error *err) {
    rb_run_spec d;
    rb_run_spec_init(&d);
    size_t k = 0;
    int ok = 1;
    for (const rb_run_flag *f = flags; f->name && ok; f++) {
        const char *p = (const char *)s + f->offset, *dp = (const char *)&d + f->offset;
        char value[64] = "";
        const char *text = NULL;
        int emit = 0;
        if (f->kind == RB_FIELD_SWITCH) {
            emit = *(const int *)p == f->value && *(const int *)dp != f->value;
        } else if (f->kind == RB_FIELD_TEXT) {
            const char *v = *(const char *const *)p, *dv = *(const char *const *)dp;
            emit = v && (!dv || strcmp(v, dv));
            text = v;
        } else {
            long v = get_int(s, f);
            emit = v != get_int(&d, f);
            snprintf(value, sizeof value, "%ld", v);
            text = value;
        }
        if (!emit) continue;
        size_t len = strlen(f->name) + 3;
        if (!(ok = (argv[k] = malloc(len)) != NULL)) break;
        snprintf(argv[k++], len, "--%s", f->name);
        if (f->kind != RB_FIELD_SWITCH) ok = (argv[k++] = strdup(text)) != NULL;
    }
    *n = k;
    if (!ok) {
        for (size_t i = 0; i < k; i++) free(argv[i]);
        *n = 0;
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    return RB_OK;
}
