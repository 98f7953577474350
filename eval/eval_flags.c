#include "eval/eval_flags.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG40 1099511627776.0 /* 2^40 */

static const rb_flag_spec flags[] = {
    /* what to evaluate */
    {"model", RB_FLAG_TEXT, 0, 0, NULL},
    {"tokenizer", RB_FLAG_TEXT, 0, 0, NULL},
    {"task", RB_FLAG_TEXT, 0, 0, NULL},
    {"text", RB_FLAG_TEXT, 0, 0, NULL},
    {"limit", RB_FLAG_INT, 1, BIG40, NULL},
    {"num-fewshot", RB_FLAG_INT, 0, 1000, NULL},
    {"ppl-scoring", RB_FLAG_ENUM, 0, 0, "rotbench|llama.cpp"},
    {"ctx", RB_FLAG_INT, 2, 1 << 20, NULL},
    {"allow-long-ctx", RB_FLAG_BOOL, 0, 0, NULL},
    {"max-tokens", RB_FLAG_INT, 2, BIG40, NULL},
    {"threads", RB_FLAG_INT, 0, 1024, NULL},
    {"data-dir", RB_FLAG_TEXT, 0, 0, NULL},
    {"json", RB_FLAG_BOOL, 0, 0, NULL},
    /* methods, calibration */
    {"pipeline", RB_FLAG_TEXT, 0, 0, NULL},
    {"seed", RB_FLAG_INT, 0, 4611686018427387904.0 /* 2^62 */, NULL},
    {"calib", RB_FLAG_TEXT, 0, 0, NULL},
    {"calib-windows", RB_FLAG_INT, 1, 1 << 20, NULL},
    {"calib-len", RB_FLAG_INT, 2, 1 << 20, NULL},
    {"calib-skip", RB_FLAG_INT, 0, BIG40, NULL},
    {"save-model", RB_FLAG_TEXT, 0, 0, NULL},
    {"save-dtype", RB_FLAG_ENUM, 0, 0, "f32|bf16|f16|q8_0|q4_0"},
    {"save-what", RB_FLAG_ENUM, 0, 0, "trans|fake|quant"},
    /* quantizers */
    {"w-bits", RB_FLAG_BITS, 2, 8, NULL},
    {"w-gran", RB_FLAG_ENUM, 1, 1 << 20, "tensor|channel|token|row|group:N"},
    {"w-asym", RB_FLAG_BOOL, 0, 0, NULL},
    {"w-clip", RB_FLAG_FLOAT, 0, 1, "mse"},
    {"w-override", RB_FLAG_TEXT, 0, 0, NULL},
    {"w-scale-f16", RB_FLAG_BOOL, 0, 0, NULL},
    {"a-bits", RB_FLAG_BITS, 2, 8, NULL},
    {"a-gran", RB_FLAG_ENUM, 1, 1 << 20, "tensor|channel|token|row|group:N"},
    {"a-static", RB_FLAG_BOOL, 0, 0, NULL},
    {"a-dynamic", RB_FLAG_BOOL, 0, 0, NULL},
    {"a-asym", RB_FLAG_BOOL, 0, 0, NULL},
    {"a-clip", RB_FLAG_FLOAT, 0, 1, "mse"},
    {"a-override", RB_FLAG_TEXT, 0, 0, NULL},
    {"kv-bits", RB_FLAG_BITS, 2, 8, NULL},
    {"kv-gran", RB_FLAG_ENUM, 1, 1 << 20, "tensor|channel|token|row|head|group:N"},
    {"kv-static", RB_FLAG_BOOL, 0, 0, NULL},
    {"kv-asym", RB_FLAG_BOOL, 0, 0, NULL},
    {"kv-clip", RB_FLAG_FLOAT, 0, 1, NULL},
    {"k-bits", RB_FLAG_BITS, 2, 8, NULL},
    {"k-gran", RB_FLAG_ENUM, 1, 1 << 20, "tensor|channel|token|row|head|group:N"},
    {"k-asym", RB_FLAG_BOOL, 0, 0, NULL},
    {"k-clip", RB_FLAG_FLOAT, 0, 1, NULL},
    {"v-bits", RB_FLAG_BITS, 2, 8, NULL},
    {"v-gran", RB_FLAG_ENUM, 1, 1 << 20, "tensor|channel|token|row|head|group:N"},
    {"v-asym", RB_FLAG_BOOL, 0, 0, NULL},
    {"v-clip", RB_FLAG_FLOAT, 0, 1, NULL},
    {"quantize-classifier", RB_FLAG_BOOL, 0, 0, NULL},
    {"kernels", RB_FLAG_ENUM, 0, 0, "fake|int"},
    {"a-high-bits", RB_FLAG_BITS, 2, 8, NULL},
    {"kv-high-bits", RB_FLAG_BITS, 2, 8, NULL},
    {"w-high-bits", RB_FLAG_BITS, 2, 8, NULL},
};

const rb_flag_spec *rb_eval_flags(size_t *n) {
    *n = sizeof flags / sizeof *flags;
    return flags;
}

const rb_flag_spec *rb_eval_flag_find(const char *name) {
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (!strcmp(flags[i].name, name)) return &flags[i];
    return NULL;
}

/* A decimal integer in [lo, hi]. */
static int parse_int(const char *s, double lo, double hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || (double)v < lo || (double)v > hi) return -1;
    if (out) *out = v;
    return 0;
}

/* Whether s is one of the '|'-separated words (with "group:N" patterns). */
static int one_of(const rb_flag_spec *f, const char *s) {
    for (const char *w = f->words; w && *w;) {
        const char *bar = strchr(w, '|');
        size_t n = bar ? (size_t)(bar - w) : strlen(w);
        if (n > 2 && !strncmp(w + n - 2, ":N", 2)) {
            if (!strncmp(s, w, n - 1) && !parse_int(s + n - 1, f->lo, f->hi, NULL)) return 1;
        } else if (strlen(s) == n && !strncmp(s, w, n)) {
            return 1;
        }
        w = bar ? bar + 1 : w + n;
    }
    return 0;
}

int rb_flag_parse(const rb_flag_spec *f, const char *value, long long *out, rb_error *err) {
    const char *s = value ? value : "";
    double x;
    char *end;
    switch (f->type) {
    case RB_FLAG_BOOL:
        if (!value) return RB_OK;
        return rb_error_set(err, RB_EINVAL, "--%s is a switch and takes no value, got '%s'",
                            f->name, s);
    case RB_FLAG_INT:
        if (!parse_int(s, f->lo, f->hi, out)) return RB_OK;
        return rb_error_set(err, RB_EINVAL, "--%s expects an integer in %.0f..%.0f, got '%s'",
                            f->name, f->lo, f->hi, s);
    case RB_FLAG_BITS:
        if (!parse_int(s, f->lo, f->hi, out) || !parse_int(s, 16, 16, out)) return RB_OK;
        return rb_error_set(err, RB_EINVAL, "--%s expects %.0f..%.0f or 16 (off), got '%s'",
                            f->name, f->lo, f->hi, s);
    case RB_FLAG_FLOAT:
        errno = 0;
        x = strtod(s, &end);
        if ((*s && !*end && !errno && isfinite(x) && x > f->lo && x <= f->hi) || one_of(f, s))
            return RB_OK;
        return rb_error_set(err, RB_EINVAL, "--%s expects a number in (%g, %g]%s%s, got '%s'",
                            f->name, f->lo, f->hi, f->words ? " or " : "",
                            f->words ? f->words : "", s);
    case RB_FLAG_TEXT:
        if (value) return RB_OK;
        return rb_error_set(err, RB_EINVAL, "--%s needs a value", f->name);
    case RB_FLAG_ENUM:
        if (one_of(f, s)) return RB_OK;
        return rb_error_set(err, RB_EINVAL, "--%s expects one of %s, got '%s'", f->name, f->words,
                            s);
    }
    return rb_error_set(err, RB_EINVAL, "--%s: unknown flag type", f->name);
}

int rb_flag_check_json(const rb_flag_spec *f, json_object *v, rb_error *err) {
    json_type t = json_object_get_type(v);
    const char *text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    if (t == json_type_boolean) {
        if (!json_object_get_boolean(v) || f->type == RB_FLAG_BOOL) return RB_OK; /* false: dropped */
        return rb_error_set(err, RB_EINVAL, "--%s takes a value, got true", f->name);
    }
    if (f->type == RB_FLAG_BOOL)
        return rb_error_set(err, RB_EINVAL, "--%s is a switch: give true or false, got %s",
                            f->name, text);
    if (t == json_type_string) return rb_flag_parse(f, json_object_get_string(v), NULL, err);
    if (t != json_type_int && t != json_type_double)
        return rb_error_set(err, RB_EINVAL, "--%s expects a value, got %s", f->name, text);
    if (f->type == RB_FLAG_ENUM)
        return rb_error_set(err, RB_EINVAL, "--%s expects one of %s, got %s", f->name, f->words,
                            text);
    return rb_flag_parse(f, text, NULL, err); /* a number as written: 512.7 is no integer */
}
