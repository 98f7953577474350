/* A sweep's runs: canonical JSON of args, merging, the cross product
 * (eval/sweep_expand.h). */
#include "eval/sweep_expand.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* Whether a run's labels match an exclude entry: for every axis it names,
 * the run's label is one of those listed for that axis. */
static int excluded_by(const rb_sweep_exclude *e, json_object *labels) {
    for (size_t i = 0; i < e->n_match; i++) {
        json_object *l;
        if (!json_object_object_get_ex(labels, e->match[i].axis, &l)) return 0;
        int any = 0;
        for (size_t j = 0; j < e->n_match && !any; j++)
            any = !strcmp(e->match[j].axis, e->match[i].axis) &&
                  !strcmp(e->match[j].label, json_object_get_string(l));
        if (!any) return 0;
    }
    return 1;
}

static void put_double(rb_buf *b, double x) {
    char s[40];
    if (!isfinite(x)) {
        rb_buf_puts(b, isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, x);
        if (strtod(s, NULL) == x) break;
    }
    rb_buf_puts(b, s);
}

static void put_string(rb_buf *b, const char *s, size_t n) {
    rb_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': rb_buf_puts(b, "\\\""); break;
        case '\\': rb_buf_puts(b, "\\\\"); break;
        case '\n': rb_buf_puts(b, "\\n"); break;
        case '\r': rb_buf_puts(b, "\\r"); break;
        case '\t': rb_buf_puts(b, "\\t"); break;
        case '\b': rb_buf_puts(b, "\\b"); break;
        case '\f': rb_buf_puts(b, "\\f"); break;
        default:
            if (c < 0x20)
                rb_buf_printf(b, "\\u%04x", c);
            else
                rb_buf_append(b, (const char *)&s[i], 1);
        }
    }
    rb_buf_append(b, "\"", 1);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_canonical(rb_buf *b, json_object *o) {
    switch (json_object_get_type(o)) {
    case json_type_null: rb_buf_puts(b, "null"); break;
    case json_type_boolean: rb_buf_puts(b, json_object_get_boolean(o) ? "true" : "false"); break;
    case json_type_int: rb_buf_printf(b, "%" PRId64, json_object_get_int64(o)); break;
    case json_type_double: put_double(b, json_object_get_double(o)); break;
    case json_type_string:
        put_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
        break;
    case json_type_array: {
        rb_buf_puts(b, "[");
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++) {
            if (i) rb_buf_puts(b, ",");
            put_canonical(b, json_object_array_get_idx(o, i));
        }
        rb_buf_puts(b, "]");
        break;
    }
    case json_type_object: {
        size_t n = (size_t)json_object_object_length(o), i = 0;
        const char **keys = malloc((n ? n : 1) * sizeof *keys);
        if (!keys) {
            b->oom = 1;
            return;
        }
        json_object_object_foreach(o, k, v) {
            (void)v;
            keys[i++] = k;
        }
        qsort(keys, n, sizeof *keys, cmp_str);
        rb_buf_puts(b, "{");
        for (i = 0; i < n; i++) {
            if (i) rb_buf_puts(b, ",");
            put_string(b, keys[i], strlen(keys[i]));
            rb_buf_puts(b, ":");
            put_canonical(b, json_object_object_get(o, keys[i]));
        }
        rb_buf_puts(b, "}");
        free(keys);
        break;
    }
    }
}

char *rb_json_canonical(json_object *o) {
    rb_buf b = {0};
    put_canonical(&b, o);
    return rb_buf_take(&b);
}

char *rb_sweep_arg_value(json_object *v) {
    rb_buf b = {0};
    switch (json_object_get_type(v)) {
    case json_type_int: rb_buf_printf(&b, "%" PRId64, json_object_get_int64(v)); break;
    case json_type_double: put_double(&b, json_object_get_double(v)); break;
    case json_type_string: rb_buf_puts(&b, json_object_get_string(v)); break;
    case json_type_boolean: rb_buf_puts(&b, json_object_get_boolean(v) ? "true" : "false"); break;
    default: rb_buf_puts(&b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)); break;
    }
    return rb_buf_take(&b);
}

int rb_sweep_merge_args(json_object *dst, json_object *src, rb_error *err) {
    if (!src) return RB_OK;
    json_object_object_foreach(src, k, v) {
        json_object *old;
        if (!strcmp(k, "pipeline") && json_object_object_get_ex(dst, k, &old) &&
            json_object_is_type(old, json_type_string) && json_object_is_type(v, json_type_string) &&
            json_object_get_string_len(old) > 0) {
            if (json_object_get_string_len(v) == 0) continue;
            rb_buf b = {0};
            rb_buf_printf(&b, "%s,%s", json_object_get_string(old), json_object_get_string(v));
            char *s = rb_buf_take(&b);
            json_object *ns = s ? json_object_new_string(s) : NULL;
            free(s);
            if (!ns || json_object_object_add(dst, k, ns))
                return rb_error_set(err, RB_ENOMEM, "out of memory");
            continue;
        }
        if (json_object_object_add(dst, k, json_object_get(v)))
            return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    return RB_OK;
}

static void run_free_one(rb_sweep_run *run) {
    json_object_put(run->args);
    json_object_put(run->labels);
    free(run->key);
    free(run->label_text);
}

void rb_sweep_runs_free(rb_sweep_run *runs, size_t n_runs) {
    if (!runs) return;
    for (size_t i = 0; i < n_runs; i++) run_free_one(&runs[i]);
    free(runs);
}

/* Orders run indices by key (ties by index); ctx: the runs. */
static int cmp_run_key(const void *a, const void *b, void *ctx) {
    const rb_sweep_run *runs = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(runs[i].key, runs[j].key);
    return c ? c : (i < j ? -1 : i > j);
}

int rb_sweep_expand(const rb_sweep_config *cfg, rb_sweep_run **runs_out, size_t *n_out,
                    rb_error *err) {
    *runs_out = NULL;
    *n_out = 0;
    size_t total = 1;
    for (size_t i = 0; i < cfg->n_axes; i++) total *= cfg->axes[i].n_values;
    rb_sweep_run *runs = calloc(total, sizeof *runs);
    if (!runs) return rb_error_set(err, RB_ENOMEM, "out of memory");
    for (size_t r = 0; r < total; r++) {
        rb_sweep_run *run = &runs[r];
        run->index = r;
        run->args = json_object_new_object();
        run->labels = json_object_new_object();
        if (!run->args || !run->labels) goto oom;
        int rc = rb_sweep_merge_args(run->args, cfg->base, err);
        size_t rest = r, stride = total;
        rb_buf text = {0};
        for (size_t a = 0; a < cfg->n_axes && !rc; a++) {
            stride /= cfg->axes[a].n_values;
            const rb_sweep_value *v = &cfg->axes[a].values[rest / stride];
            rest %= stride;
            rc = rb_sweep_merge_args(run->args, v->args, err);
            if (json_object_object_add(run->labels, cfg->axes[a].name,
                                       json_object_new_string(v->label)))
                rc = rb_error_set(err, RB_ENOMEM, "out of memory");
            if (a) rb_buf_puts(&text, " / ");
            rb_buf_puts(&text, v->label);
        }
        if (rc) {
            rb_buf_free(&text);
            rb_sweep_runs_free(runs, total);
            return rc;
        }
        /* drop false flags: they mean "absent" */
        for (int again = 1; again;) {
            again = 0;
            json_object_object_foreach(run->args, k, v) {
                if (json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v)) {
                    json_object_object_del(run->args, k);
                    again = 1;
                    break;
                }
            }
        }
        run->label_text = rb_buf_take(&text);
        run->key = rb_json_canonical(run->args);
        if (!run->label_text || !run->key) goto oom;
    }
    /* drop the excluded runs, keeping the order */
    size_t kept = 0;
    for (size_t r = 0; r < total; r++) {
        int drop = 0;
        for (size_t e = 0; e < cfg->n_excludes && !drop; e++)
            drop = excluded_by(&cfg->excludes[e], runs[r].labels);
        if (drop)
            run_free_one(&runs[r]);
        else
            runs[kept++] = runs[r];
    }
    total = kept;
    if (!total) {
        free(runs);
        return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, "exclude", "every run is excluded");
    }
    /* every run must differ in its args */
    size_t *order = malloc(total * sizeof *order);
    if (!order) goto oom;
    for (size_t i = 0; i < total; i++) order[i] = i;
    qsort_r(order, total, sizeof *order, cmp_run_key, runs);
    for (size_t i = 1; i < total; i++) {
        const rb_sweep_run *a = &runs[order[i - 1]], *b = &runs[order[i]];
        if (!strcmp(a->key, b->key)) {
            int rc = rb_sweep_config_error(err, RB_EFORMAT, cfg->path, "axes",
                             "runs \"%s\" and \"%s\" have the same arguments %s; every run must "
                             "differ in its args",
                             a->label_text, b->label_text, a->key);
            free(order);
            rb_sweep_runs_free(runs, total);
            return rc;
        }
    }
    free(order);
    *runs_out = runs;
    *n_out = total;
    return RB_OK;
oom:
    rb_sweep_runs_free(runs, total);
    return rb_error_set(err, RB_ENOMEM, "out of memory");
}
