#include "eval/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/io.h"
#include "eval/eval_flags.h"
#include "eval/records.h"

/* ==== config ================================================================ */

/* "file: jpath: message" (no "jpath: " when jpath is empty). */
__attribute__((format(printf, 5, 6))) static int cfg_err(rb_error *err, rb_status st,
                                                         const char *file, const char *jpath,
                                                         const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (jpath && *jpath) return rb_error_set(err, st, "%s: %s: %s", file, jpath, msg);
    return rb_error_set(err, st, "%s: %s", file, msg);
}

static const char *type_word(json_object *o) {
    switch (json_object_get_type(o)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double: return "a number";
    case json_type_int: return "an integer";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "?";
}

static void jp_key(char *out, size_t cap, const char *base, const char *key) {
    snprintf(out, cap, "%s%s%s", base, *base ? "." : "", key);
}

static void jp_idx(char *out, size_t cap, const char *base, size_t i) {
    snprintf(out, cap, "%s[%zu]", base, i);
}

static int check_keys(const char *file, const char *jpath, json_object *o,
                      const char *const *allowed, rb_error *err) {
    json_object_object_foreach(o, k, v) {
        (void)v;
        int ok = !strcmp(k, "description") || !strcmp(k, "comment");
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(k, *a);
        if (!ok) {
            char allowed_list[256] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(allowed_list, a == allowed ? "" : ", ",
                        sizeof allowed_list - strlen(allowed_list) - 1);
                strncat(allowed_list, *a, sizeof allowed_list - strlen(allowed_list) - 1);
            }
            return cfg_err(err, RB_EFORMAT, file, jpath, "unknown key \"%s\" (expected %s)", k,
                           allowed_list);
        }
    }
    return RB_OK;
}

/* obj[key] as a string (strdup'd into *out; NULL when absent and optional). */
static int get_string(const char *file, const char *jpath, json_object *obj, const char *key,
                      int required, int nonempty, char **out, rb_error *err) {
    *out = NULL;
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) {
        if (required) return cfg_err(err, RB_EFORMAT, file, jpath, "missing \"%s\"", key);
        return RB_OK;
    }
    char p[512];
    jp_key(p, sizeof p, jpath, key);
    if (!json_object_is_type(v, json_type_string))
        return cfg_err(err, RB_EFORMAT, file, p, "expected a string, got %s", type_word(v));
    if (nonempty && json_object_get_string_len(v) == 0)
        return cfg_err(err, RB_EFORMAT, file, p, "must not be empty");
    if (!(*out = strdup(json_object_get_string(v))))
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    return RB_OK;
}

static int get_bool(const char *file, const char *jpath, json_object *obj, const char *key,
                    int *out, rb_error *err) {
    json_object *v;
    *out = 0;
    if (!json_object_object_get_ex(obj, key, &v)) return RB_OK;
    if (!json_object_is_type(v, json_type_boolean)) {
        char p[512];
        jp_key(p, sizeof p, jpath, key);
        return cfg_err(err, RB_EFORMAT, file, p, "expected true or false, got %s", type_word(v));
    }
    *out = json_object_get_boolean(v);
    return RB_OK;
}

/* Characters safe in a file name: [A-Za-z0-9_.-], not starting with '.'. */
static int filename_safe(const char *s) {
    if (!*s || *s == '.') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

static int flag_name_ok(const char *s) {
    if (!*s || *s == '-') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* An args object: every key an eval flag (eval/eval_flags.h) with a value
 * of its type; runs ("every run", "the runs with a=x") ends the messages. */
static int check_args(const char *file, const char *jpath, const char *runs, json_object *args,
                      rb_error *err) {
    if (!json_object_is_type(args, json_type_object))
        return cfg_err(err, RB_EFORMAT, file, jpath, "expected an object of eval flags, got %s",
                       type_word(args));
    json_object_object_foreach(args, k, v) {
        char p[512];
        jp_key(p, sizeof p, jpath, k);
        if (!flag_name_ok(k))
            return cfg_err(err, RB_EFORMAT, file, p,
                           "\"%s\" is not a flag name (letters, digits, '-', '_'; without the "
                           "leading --)",
                           k);
        if (!strcmp(k, "json"))
            return cfg_err(err, RB_EFORMAT, file, p, "\"json\" is added by the runner");
        switch (json_object_get_type(v)) {
        case json_type_boolean:
        case json_type_int:
        case json_type_string: break;
        case json_type_double:
            if (!isfinite(json_object_get_double(v)))
                return cfg_err(err, RB_EFORMAT, file, p, "not a finite number");
            break;
        default:
            return cfg_err(err, RB_EFORMAT, file, p,
                           "expected a string, number or boolean, got %s", type_word(v));
        }
        if (!strcmp(k, "pipeline") && !json_object_is_type(v, json_type_string))
            return cfg_err(err, RB_EFORMAT, file, p, "expected a string, got %s", type_word(v));
        const rb_flag_spec *f = rb_eval_flag_find(k);
        rb_error e = {0};
        if (!f)
            return cfg_err(err, RB_EFORMAT, file, p,
                           "unknown eval flag \"%s\" (see rotbench eval --help) (%s)", k, runs);
        if (rb_flag_check_json(f, v, &e))
            return cfg_err(err, RB_EFORMAT, file, p, "%s (%s)", e.msg, runs);
    }
    return RB_OK;
}

int rb_sweep_axis_index(const rb_sweep_config *cfg, const char *name) {
    for (size_t i = 0; i < cfg->n_axes; i++)
        if (!strcmp(cfg->axes[i].name, name)) return (int)i;
    return -1;
}

static int axis_ref(const rb_sweep_config *cfg, const char *jpath, json_object *obj,
                    const char *key, int required, char **out, rb_error *err) {
    int rc = get_string(cfg->path, jpath, obj, key, required, 1, out, err);
    if (rc || !*out) return rc;
    if (strcmp(*out, RB_AGG_METRIC_AXIS) && rb_sweep_axis_index(cfg, *out) < 0) {
        char p[512], names[256] = "";
        jp_key(p, sizeof p, jpath, key);
        for (size_t i = 0; i < cfg->n_axes; i++) {
            strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
            strncat(names, cfg->axes[i].name, sizeof names - strlen(names) - 1);
        }
        return cfg_err(err, RB_EFORMAT, cfg->path, p,
                       "\"%s\" is not an axis (axes: %s; or \"" RB_AGG_METRIC_AXIS
                       "\" for a metric list)",
                       *out, names);
    }
    return RB_OK;
}

/* Reads w (at JSON path p), an object {axis: label} (or, with lists,
 * {axis: label or [labels]}), into one filter per (axis, label) pair. */
static int parse_filters(const rb_sweep_config *cfg, const char *p, json_object *w, int lists,
                         rb_sweep_filter **out, size_t *n_out, rb_error *err) {
    *out = NULL;
    *n_out = 0;
    if (!json_object_is_type(w, json_type_object))
        return cfg_err(err, RB_EFORMAT, cfg->path, p, "expected an object {axis: label%s}, got %s",
                       lists ? " or [labels]" : "", type_word(w));
    size_t n = 0;
    json_object_object_foreach(w, k0, v0) {
        (void)k0;
        n += json_object_is_type(v0, json_type_array) ? json_object_array_length(v0) : 1;
    }
    rb_sweep_filter *f = calloc(n ? n : 1, sizeof *f);
    if (!f) return rb_error_set(err, RB_ENOMEM, "out of memory");
    *out = f;
    json_object_object_foreach(w, k, v) {
        char q[600];
        jp_key(q, sizeof q, p, k);
        int ai = rb_sweep_axis_index(cfg, k);
        if (ai < 0) return cfg_err(err, RB_EFORMAT, cfg->path, q, "\"%s\" is not an axis", k);
        int is_list = lists && json_object_is_type(v, json_type_array);
        size_t nl = is_list ? json_object_array_length(v) : 1;
        for (size_t i = 0; i < nl; i++) {
            json_object *l = is_list ? json_object_array_get_idx(v, i) : v;
            if (!json_object_is_type(l, json_type_string))
                return cfg_err(err, RB_EFORMAT, cfg->path, q, "expected a label (string)%s, got %s",
                               lists ? " or a list of labels" : "", type_word(l));
            const rb_sweep_axis *a = &cfg->axes[ai];
            int found = 0;
            for (size_t j = 0; j < a->n_values && !found; j++)
                found = !strcmp(a->values[j].label, json_object_get_string(l));
            if (!found)
                return cfg_err(err, RB_EFORMAT, cfg->path, q, "axis \"%s\" has no label \"%s\"", k,
                               json_object_get_string(l));
            f[*n_out].axis = strdup(k);
            f[*n_out].label = strdup(json_object_get_string(l));
            (*n_out)++;
            if (!f[*n_out - 1].axis || !f[*n_out - 1].label)
                return rb_error_set(err, RB_ENOMEM, "out of memory");
        }
    }
    return RB_OK;
}

static int parse_where(const rb_sweep_config *cfg, const char *jpath, json_object *obj,
                       rb_sweep_filter **out, size_t *n_out, rb_error *err) {
    json_object *w;
    *out = NULL;
    *n_out = 0;
    if (!json_object_object_get_ex(obj, "where", &w)) return RB_OK;
    char p[512];
    jp_key(p, sizeof p, jpath, "where");
    return parse_filters(cfg, p, w, 0, out, n_out, err);
}

/* "exclude": [{axis: label or [labels], ...}, ...] */
static int parse_excludes(rb_sweep_config *cfg, json_object *list, rb_error *err) {
    if (!json_object_is_type(list, json_type_array))
        return cfg_err(err, RB_EFORMAT, cfg->path, "exclude", "expected an array, got %s",
                       type_word(list));
    size_t n = json_object_array_length(list);
    cfg->excludes = calloc(n ? n : 1, sizeof *cfg->excludes);
    if (!cfg->excludes) return rb_error_set(err, RB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char p[512];
        jp_idx(p, sizeof p, "exclude", i);
        rb_sweep_exclude *e = &cfg->excludes[i];
        cfg->n_excludes = i + 1;
        int rc = parse_filters(cfg, p, json_object_array_get_idx(list, i), 1, &e->match,
                               &e->n_match, err);
        if (rc) return rc;
        if (!e->n_match) return cfg_err(err, RB_EFORMAT, cfg->path, p, "an empty exclude matches every run");
    }
    return RB_OK;
}

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

static int parse_axes(rb_sweep_config *cfg, json_object *axes, rb_error *err) {
    const char *file = cfg->path;
    if (!json_object_is_type(axes, json_type_array))
        return cfg_err(err, RB_EFORMAT, file, "axes", "expected an array, got %s",
                       type_word(axes));
    size_t n = json_object_array_length(axes);
    if (!n) return cfg_err(err, RB_EFORMAT, file, "axes", "must have at least one axis");
    cfg->axes = calloc(n, sizeof *cfg->axes);
    if (!cfg->axes) return rb_error_set(err, RB_ENOMEM, "out of memory");
    static const char *const axis_keys[] = {"name", "values", NULL};
    static const char *const value_keys[] = {"label", "args", NULL};
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(axes, i);
        char p[512];
        jp_idx(p, sizeof p, "axes", i);
        if (!json_object_is_type(a, json_type_object))
            return cfg_err(err, RB_EFORMAT, file, p, "expected an object, got %s", type_word(a));
        int rc = check_keys(file, p, a, axis_keys, err);
        rb_sweep_axis *ax = &cfg->axes[i];
        cfg->n_axes = i + 1;
        if (!rc) rc = get_string(file, p, a, "name", 1, 1, &ax->name, err);
        if (rc) return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->axes[j].name, ax->name)) {
                char q[600];
                jp_key(q, sizeof q, p, "name");
                return cfg_err(err, RB_EFORMAT, file, q, "duplicate axis \"%s\" (also axes[%zu])",
                               ax->name, j);
            }
        json_object *vals;
        if (!json_object_object_get_ex(a, "values", &vals))
            return cfg_err(err, RB_EFORMAT, file, p, "missing \"values\"");
        char pv[600];
        jp_key(pv, sizeof pv, p, "values");
        if (!json_object_is_type(vals, json_type_array))
            return cfg_err(err, RB_EFORMAT, file, pv, "expected an array, got %s",
                           type_word(vals));
        size_t nv = json_object_array_length(vals);
        if (!nv) return cfg_err(err, RB_EFORMAT, file, pv, "must have at least one value");
        ax->values = calloc(nv, sizeof *ax->values);
        if (!ax->values) return rb_error_set(err, RB_ENOMEM, "out of memory");
        for (size_t j = 0; j < nv; j++) {
            json_object *v = json_object_array_get_idx(vals, j);
            char q[700];
            jp_idx(q, sizeof q, pv, j);
            if (!json_object_is_type(v, json_type_object))
                return cfg_err(err, RB_EFORMAT, file, q, "expected an object, got %s",
                               type_word(v));
            rb_sweep_value *val = &ax->values[j];
            ax->n_values = j + 1;
            if ((rc = check_keys(file, q, v, value_keys, err)) ||
                (rc = get_string(file, q, v, "label", 1, 1, &val->label, err)))
                return rc;
            for (size_t k = 0; k < j; k++)
                if (!strcmp(ax->values[k].label, val->label)) {
                    char r[800];
                    jp_key(r, sizeof r, q, "label");
                    return cfg_err(err, RB_EFORMAT, file, r,
                                   "duplicate label \"%s\" (also values[%zu])", val->label, k);
                }
            json_object *args;
            if (json_object_object_get_ex(v, "args", &args)) {
                char r[800];
                jp_key(r, sizeof r, q, "args");
                char runs[300];
                snprintf(runs, sizeof runs, "the runs with %s=%s", ax->name, val->label);
                if ((rc = check_args(file, r, runs, args, err))) return rc;
                val->args = args;
            }
        }
    }
    return RB_OK;
}

static int parse_tables(rb_sweep_config *cfg, json_object *tables, rb_error *err) {
    const char *file = cfg->path;
    if (!json_object_is_type(tables, json_type_array))
        return cfg_err(err, RB_EFORMAT, file, "tables", "expected an array, got %s",
                       type_word(tables));
    size_t n = json_object_array_length(tables);
    cfg->tables = calloc(n ? n : 1, sizeof *cfg->tables);
    if (!cfg->tables) return rb_error_set(err, RB_ENOMEM, "out of memory");
    static const char *const keys[] = {"name", "rows", "cols", "split", "metric", "where", NULL};
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(tables, i);
        char p[512];
        jp_idx(p, sizeof p, "tables", i);
        if (!json_object_is_type(t, json_type_object))
            return cfg_err(err, RB_EFORMAT, file, p, "expected an object, got %s", type_word(t));
        rb_sweep_table *tb = &cfg->tables[i];
        cfg->n_tables = i + 1;
        int rc;
        if ((rc = check_keys(file, p, t, keys, err)) ||
            (rc = get_string(file, p, t, "name", 1, 1, &tb->name, err)) ||
            (rc = axis_ref(cfg, p, t, "rows", 1, &tb->rows, err)) ||
            (rc = axis_ref(cfg, p, t, "cols", 1, &tb->cols, err)) ||
            (rc = axis_ref(cfg, p, t, "split", 0, &tb->split, err)) ||
            (rc = get_string(file, p, t, "metric", 0, 1, &tb->metric, err)) ||
            (rc = parse_where(cfg, p, t, &tb->where, &tb->n_where, err)))
            return rc;
        char q[600];
        jp_key(q, sizeof q, p, "name");
        if (!filename_safe(tb->name))
            return cfg_err(err, RB_EFORMAT, file, q,
                           "\"%s\": use only letters, digits, '_', '.', '-' (it names files)",
                           tb->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->tables[j].name, tb->name))
                return cfg_err(err, RB_EFORMAT, file, q, "duplicate table \"%s\"", tb->name);
        if (!strcmp(tb->rows, tb->cols) || (tb->split && (!strcmp(tb->split, tb->rows) ||
                                                          !strcmp(tb->split, tb->cols))))
            return cfg_err(err, RB_EFORMAT, file, p, "rows, cols and split must be different axes");
        if (!tb->metric && !(tb->metric = strdup("ppl")))
            return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    return RB_OK;
}

static int parse_plots(rb_sweep_config *cfg, json_object *plots, rb_error *err) {
    const char *file = cfg->path;
    if (!json_object_is_type(plots, json_type_array))
        return cfg_err(err, RB_EFORMAT, file, "plots", "expected an array, got %s",
                       type_word(plots));
    size_t n = json_object_array_length(plots);
    cfg->plots = calloc(n ? n : 1, sizeof *cfg->plots);
    if (!cfg->plots) return rb_error_set(err, RB_ENOMEM, "out of memory");
    static const char *const keys[] = {"name", "x",    "series", "metric", "logy",
                                       "logx", "title", "where", NULL};
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(plots, i);
        char p[512];
        jp_idx(p, sizeof p, "plots", i);
        if (!json_object_is_type(t, json_type_object))
            return cfg_err(err, RB_EFORMAT, file, p, "expected an object, got %s", type_word(t));
        rb_sweep_plot *pl = &cfg->plots[i];
        cfg->n_plots = i + 1;
        int rc;
        if ((rc = check_keys(file, p, t, keys, err)) ||
            (rc = get_string(file, p, t, "name", 1, 1, &pl->name, err)) ||
            (rc = axis_ref(cfg, p, t, "x", 1, &pl->x, err)) ||
            (rc = axis_ref(cfg, p, t, "series", 0, &pl->series, err)) ||
            (rc = get_string(file, p, t, "metric", 0, 1, &pl->metric, err)) ||
            (rc = get_string(file, p, t, "title", 0, 0, &pl->title, err)) ||
            (rc = get_bool(file, p, t, "logy", &pl->logy, err)) ||
            (rc = get_bool(file, p, t, "logx", &pl->logx, err)) ||
            (rc = parse_where(cfg, p, t, &pl->where, &pl->n_where, err)))
            return rc;
        char q[600];
        jp_key(q, sizeof q, p, "name");
        if (!filename_safe(pl->name))
            return cfg_err(err, RB_EFORMAT, file, q,
                           "\"%s\": use only letters, digits, '_', '.', '-' (it names files)",
                           pl->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->plots[j].name, pl->name))
                return cfg_err(err, RB_EFORMAT, file, q, "duplicate plot \"%s\"", pl->name);
        if (pl->series && !strcmp(pl->series, pl->x))
            return cfg_err(err, RB_EFORMAT, file, p, "x and series must be different axes");
        if (!pl->metric && !(pl->metric = strdup("ppl")))
            return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    return RB_OK;
}

static void offset_to_line_col(const char *text, size_t off, size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && text[i]; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int rb_sweep_config_parse(const char *text, size_t len, const char *path, rb_sweep_config *cfg,
                          rb_error *err) {
    memset(cfg, 0, sizeof *cfg);
    if (!(cfg->path = strdup(path))) return rb_error_set(err, RB_ENOMEM, "out of memory");
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        rb_sweep_config_free(cfg); /* frees cfg->path */
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    }
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    int rc = RB_OK;
    if (e != json_tokener_success) {
        size_t line, col;
        offset_to_line_col(text, end, &line, &col);
        rc = cfg_err(err, RB_EFORMAT, path, "", "line %zu, column %zu: %s", line, col,
                     e == json_tokener_continue ? "unexpected end of file"
                                                : json_tokener_error_desc(e));
    } else {
        while (end < len && strchr(" \t\r\n", text[end])) end++;
        if (end < len) {
            size_t line, col;
            offset_to_line_col(text, end, &line, &col);
            rc = cfg_err(err, RB_EFORMAT, path, "", "line %zu, column %zu: text after the JSON "
                         "object", line, col);
        }
    }
    cfg->root = root;
    if (rc) {
        rb_sweep_config_free(cfg);
        return rc;
    }
    static const char *const keys[] = {"name",   "results", "base", "axes",
                                       "exclude", "tables", "plots", NULL};
    json_object *v;
    if (!json_object_is_type(root, json_type_object))
        rc = cfg_err(err, RB_EFORMAT, path, "", "expected a JSON object, got %s",
                     type_word(root));
    if (!rc) rc = check_keys(path, "", root, keys, err);
    if (!rc) rc = get_string(path, "", root, "name", 1, 1, &cfg->name, err);
    if (!rc && !filename_safe(cfg->name))
        rc = cfg_err(err, RB_EFORMAT, path, "name",
                     "\"%s\": use only letters, digits, '_', '.', '-' (it names files)",
                     cfg->name);
    if (!rc) rc = get_string(path, "", root, "results", 1, 1, &cfg->results, err);
    if (!rc) {
        if (json_object_object_get_ex(root, "base", &v)) {
            rc = check_args(path, "base", "every run", v, err);
            cfg->base = v;
        }
    }
    if (!rc) {
        if (json_object_object_get_ex(root, "axes", &v))
            rc = parse_axes(cfg, v, err);
        else
            rc = cfg_err(err, RB_EFORMAT, path, "", "missing \"axes\"");
    }
    if (!rc && json_object_object_get_ex(root, "exclude", &v)) rc = parse_excludes(cfg, v, err);
    if (!rc && json_object_object_get_ex(root, "tables", &v)) rc = parse_tables(cfg, v, err);
    if (!rc && json_object_object_get_ex(root, "plots", &v)) rc = parse_plots(cfg, v, err);
    if (!rc) {
        double total = 1;
        for (size_t i = 0; i < cfg->n_axes; i++) total *= (double)cfg->axes[i].n_values;
        if (total > 1e6)
            rc = cfg_err(err, RB_EFORMAT, path, "axes", "%.0f runs in the cross product (max 1e6)",
                         total);
    }
    if (rc) rb_sweep_config_free(cfg);
    return rc;
}

int rb_sweep_config_load(const char *path, rb_sweep_config *cfg, rb_error *err) {
    char *text;
    size_t len;
    memset(cfg, 0, sizeof *cfg);
    int rc = rb_read_file(path, (size_t)64 << 20, &text, &len, err);
    if (rc) return rc;
    rc = rb_sweep_config_parse(text, len, path, cfg, err);
    free(text);
    return rc;
}

static void free_filters(rb_sweep_filter *f, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(f[i].axis);
        free(f[i].label);
    }
    free(f);
}

void rb_sweep_config_free(rb_sweep_config *cfg) {
    for (size_t i = 0; i < cfg->n_axes; i++) {
        for (size_t j = 0; j < cfg->axes[i].n_values; j++) free(cfg->axes[i].values[j].label);
        free(cfg->axes[i].values);
        free(cfg->axes[i].name);
    }
    free(cfg->axes);
    for (size_t i = 0; i < cfg->n_tables; i++) {
        rb_sweep_table *t = &cfg->tables[i];
        free(t->name), free(t->rows), free(t->cols), free(t->split), free(t->metric);
        free_filters(t->where, t->n_where);
    }
    free(cfg->tables);
    for (size_t i = 0; i < cfg->n_plots; i++) {
        rb_sweep_plot *p = &cfg->plots[i];
        free(p->name), free(p->x), free(p->series), free(p->metric), free(p->title);
        free_filters(p->where, p->n_where);
    }
    free(cfg->plots);
    for (size_t i = 0; i < cfg->n_excludes; i++)
        free_filters(cfg->excludes[i].match, cfg->excludes[i].n_match);
    free(cfg->excludes);
    free(cfg->name);
    free(cfg->results);
    free(cfg->path);
    json_object_put(cfg->root);
    memset(cfg, 0, sizeof *cfg);
}

/* ==== canonical JSON, merging, expansion ==================================== */

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

static const rb_sweep_run *g_sort_runs; /* qsort context (single-threaded use) */
static int cmp_run_key(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(g_sort_runs[i].key, g_sort_runs[j].key);
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
        return cfg_err(err, RB_EFORMAT, cfg->path, "exclude", "every run is excluded");
    }
    /* every run must differ in its args */
    size_t *order = malloc(total * sizeof *order);
    if (!order) goto oom;
    for (size_t i = 0; i < total; i++) order[i] = i;
    g_sort_runs = runs;
    qsort(order, total, sizeof *order, cmp_run_key);
    for (size_t i = 1; i < total; i++) {
        const rb_sweep_run *a = &runs[order[i - 1]], *b = &runs[order[i]];
        if (!strcmp(a->key, b->key)) {
            int rc = cfg_err(err, RB_EFORMAT, cfg->path, "axes",
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

/* ==== command lines ========================================================= */

void rb_sweep_argv_free(char **argv) {
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

int rb_sweep_argv(const rb_sweep_run *run, const char *rotbench, int threads, char ***out,
                  rb_error *err) {
    size_t n = (size_t)json_object_object_length(run->args);
    char **argv = calloc(2 * n + 7, sizeof *argv);
    if (!argv) return rb_error_set(err, RB_ENOMEM, "out of memory");
    size_t k = 0;
    int ok = (argv[k++] = strdup(rotbench)) && (argv[k++] = strdup("eval"));
    json_object_object_foreach(run->args, key, v) {
        if (!ok) break;
        if (json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v)) continue;
        size_t len = strlen(key) + 3;
        char *flag = malloc(len);
        if (!(ok = flag != NULL)) break;
        snprintf(flag, len, "--%s", key);
        argv[k++] = flag;
        if (!json_object_is_type(v, json_type_boolean)) ok = (argv[k++] = rb_sweep_arg_value(v)) != NULL;
    }
    if (ok && threads > 0 && !json_object_object_get_ex(run->args, "threads", NULL)) {
        char t[32];
        snprintf(t, sizeof t, "%d", threads);
        ok = (argv[k++] = strdup("--threads")) && (argv[k++] = strdup(t));
    }
    if (ok) ok = (argv[k++] = strdup("--json")) != NULL;
    if (!ok) {
        rb_sweep_argv_free(argv);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    *out = argv;
    return RB_OK;
}

char *rb_shell_join(char *const *argv) {
    rb_buf b = {0};
    for (size_t i = 0; argv[i]; i++) {
        const char *a = argv[i];
        if (i) rb_buf_puts(&b, " ");
        int plain = *a != 0;
        for (const char *p = a; *p && plain; p++)
            plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+-@%",
                           *p) != NULL;
        if (plain) {
            rb_buf_puts(&b, a);
            continue;
        }
        rb_buf_puts(&b, "'");
        for (const char *p = a; *p; p++) {
            if (*p == '\'')
                rb_buf_puts(&b, "'\\''");
            else
                rb_buf_append(&b, p, 1);
        }
        rb_buf_puts(&b, "'");
    }
    return rb_buf_take(&b);
}

/* ==== processes ============================================================= */

int rb_find_program(const char *prog, char *path, size_t cap) {
    if (strchr(prog, '/')) {
        snprintf(path, cap, "%s", prog);
        struct stat st;
        return access(prog, X_OK) == 0 && stat(prog, &st) == 0 && S_ISREG(st.st_mode);
    }
    const char *env = getenv("PATH");
    if (!env) env = "/usr/local/bin:/usr/bin:/bin";
    while (*env) {
        const char *colon = strchr(env, ':');
        size_t n = colon ? (size_t)(colon - env) : strlen(env);
        snprintf(path, cap, "%.*s%s%s", (int)n, n ? env : ".", "/", prog);
        struct stat st;
        if (access(path, X_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) return 1;
        if (!colon) break;
        env = colon + 1;
    }
    return 0;
}

void rb_describe_status(int status, char *buf, size_t cap) {
    if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "wait status %d", status);
}

int rb_mkdir_parents(const char *path, rb_error *err) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return RB_OK;
    *slash = 0;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0777) && errno != EEXIST)
            return rb_error_set(err, RB_EIO, "%s: cannot create directory: %s", dir,
                                strerror(errno));
        *p = '/';
    }
    if (*dir && mkdir(dir, 0777) && errno != EEXIST)
        return rb_error_set(err, RB_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    return RB_OK;
}

typedef struct child {
    pid_t pid;
    int out_fd, err_fd;
    rb_buf out, errs;
    int out_overflow;
    double t0;
    size_t run; /* index into runs */
    char **argv;
} child;

enum { STDOUT_CAP = 64 << 20, STDERR_KEEP = 16 << 10 };

/* fork + exec with stdout and stderr on pipes (close-on-exec in the parent). */
static int spawn(char *const *argv, const char *cwd, child *c, rb_error *err) {
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC)) return rb_error_set(err, RB_EIO, "pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC)) {
        close(po[0]), close(po[1]);
        return rb_error_set(err, RB_EIO, "pipe: %s", strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return rb_error_set(err, RB_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* the child dies with the runner (a killed sweep leaves no orphans) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        signal(SIGPIPE, SIG_DFL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (cwd && chdir(cwd)) {
            dprintf(2, "cannot change to directory %s: %s\n", cwd, strerror(errno));
            _exit(127);
        }
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    c->pid = pid;
    c->out_fd = po[0];
    c->err_fd = pe[0];
    return RB_OK;
}

/* Reads what is available on fd into b; returns 0 on EOF (fd closed). */
static int drain(int *fd, rb_buf *b, size_t cap, int keep_tail, int *overflow) {
    char tmp[65536];
    ssize_t n = read(*fd, tmp, sizeof tmp);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return 0;
    }
    if (keep_tail) {
        rb_buf_append(b, tmp, (size_t)n);
        if (b->len > 2 * cap) { /* keep the last cap bytes */
            memmove(b->s, b->s + b->len - cap, cap);
            b->len = cap;
            b->s[cap] = 0;
        }
    } else if (b->len + (size_t)n <= cap) {
        rb_buf_append(b, tmp, (size_t)n);
    } else if (overflow) {
        *overflow = 1;
    }
    return 1;
}

static void wait_pid(pid_t pid, int *status) {
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
}

int rb_run_capture(char *const *argv, const char *cwd, char **out, char **err_tail, int *status,
                   rb_error *err) {
    child c = {0};
    *out = *err_tail = NULL;
    int rc = spawn(argv, cwd, &c, err);
    if (rc) return rc;
    while (c.out_fd >= 0 || c.err_fd >= 0) {
        struct pollfd p[2] = {{c.out_fd, POLLIN, 0}, {c.err_fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (c.out_fd >= 0 && p[0].revents) drain(&c.out_fd, &c.out, STDOUT_CAP, 0, &c.out_overflow);
        if (c.err_fd >= 0 && p[1].revents) drain(&c.err_fd, &c.errs, STDERR_KEEP, 1, NULL);
    }
    if (c.out_fd >= 0) close(c.out_fd);
    if (c.err_fd >= 0) close(c.err_fd);
    wait_pid(c.pid, status);
    *out = rb_buf_take(&c.out);
    *err_tail = rb_buf_take(&c.errs);
    return RB_OK;
}

/* ==== the sweep ============================================================= */

static void emit(const rb_sweep_opts *o, const rb_sweep_event *ev) {
    if (o && o->progress) o->progress(o->progress_ctx, ev);
}

static void warn_cb(rb_sweep_progress_fn fn, void *ctx, const char *msg) {
    if (!fn) return;
    rb_sweep_event ev = {.kind = RB_SWEEP_WARN, .message = msg};
    fn(ctx, &ev);
}

/* Reads the results file for the pending runs; keeps the records in *recs. */
static int pending_impl(const rb_sweep_config *cfg, const rb_sweep_run *runs, size_t n_runs,
                        int resume, unsigned char *todo, size_t *n_todo,
                        rb_sweep_progress_fn progress, void *pctx, rb_records *recs,
                        rb_error *err) {
    int rc = rb_records_read(cfg->results, 1, recs, err);
    if (rc) return rc;
    for (size_t i = 0; i < recs->n_issues; i++) warn_cb(progress, pctx, recs->issues[i].msg);
    struct stat st;
    if (!resume && stat(cfg->results, &st) == 0 && st.st_size > 0) {
        rb_records_free(recs);
        return rb_error_set(err, RB_EINVAL,
                            "%s: results file exists, use --resume (or move it away)",
                            cfg->results);
    }
    /* the keys already present, sorted, for bsearch */
    size_t nr = rb_records_count(recs), nk = 0;
    const char **keys = malloc((nr ? nr : 1) * sizeof *keys);
    if (!keys) {
        rb_records_free(recs);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nr; i++) {
        json_object *k;
        if (json_object_object_get_ex(rb_records_get(recs, i), "run_key", &k) &&
            json_object_is_type(k, json_type_string))
            keys[nk++] = json_object_get_string(k);
    }
    qsort(keys, nk, sizeof *keys, cmp_str);
    *n_todo = 0;
    for (size_t i = 0; i < n_runs; i++) {
        const char *key = runs[i].key;
        todo[i] = !(resume && nk && bsearch(&key, keys, nk, sizeof *keys, cmp_str));
        *n_todo += todo[i];
    }
    free(keys);
    return RB_OK;
}

int rb_sweep_pending(const rb_sweep_config *cfg, const rb_sweep_run *runs, size_t n_runs,
                     int resume, unsigned char *todo, size_t *n_todo,
                     rb_sweep_progress_fn progress, void *progress_ctx, rb_error *err) {
    rb_records recs;
    int rc = pending_impl(cfg, runs, n_runs, resume, todo, n_todo, progress, progress_ctx, &recs,
                          err);
    if (!rc) rb_records_free(&recs);
    return rc;
}

/* One write(2) of line (ending in '\n') on the O_APPEND fd, then fsync. */
static int append_line(int fd, const char *path, const char *line, size_t len, rb_error *err) {
    struct stat st;
    if (fstat(fd, &st)) return rb_error_set(err, RB_EIO, "%s: stat: %s", path, strerror(errno));
    ssize_t w;
    do w = write(fd, line, len);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len) {
        int e = errno;
        if (w > 0 && ftruncate(fd, st.st_size)) {
        }
        return rb_error_set(err, RB_EIO, "%s: write: %s", path,
                            w < 0 ? strerror(e) : "short write (disk full?)");
    }
    if (fsync(fd)) return rb_error_set(err, RB_EIO, "%s: fsync: %s", path, strerror(errno));
    return RB_OK;
}

/* The child's stdout as one JSON object (or its last line that is one). */
static json_object *parse_child_json(const char *s, size_t n, char *why, size_t cap) {
    if (!s || !n) {
        snprintf(why, cap, "no output on stdout");
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, s, (int)n) : NULL;
    int ok = tok && json_tokener_get_error(tok) == json_tokener_success &&
             json_object_is_type(o, json_type_object);
    if (ok) {
        size_t end = json_tokener_get_parse_end(tok);
        while (end < n && strchr(" \t\r\n", s[end])) end++;
        ok = end == n;
    }
    json_tokener_free(tok);
    if (ok) return o;
    json_object_put(o);
    /* fall back to the last non-empty line */
    size_t e = n;
    while (e && strchr(" \t\r\n", s[e - 1])) e--;
    size_t b = e;
    while (b && s[b - 1] != '\n') b--;
    o = b < e ? json_tokener_parse(s + b) : NULL; /* s is NUL-terminated */
    if (o && json_object_is_type(o, json_type_object)) return o;
    json_object_put(o);
    snprintf(why, cap, "no JSON object on stdout (%zu bytes)", n);
    return NULL;
}

/* The last lines of a child's stderr; a usage text after an error (a line
 * "usage: ..." that does not start the output) is left out, so the error
 * itself is what the report shows. */
static char *tail_lines(const char *s, size_t max_lines, size_t max_bytes) {
    if (!s) return strdup("");
    size_t n = strlen(s);
    const char *usage = strstr(s, "\nusage: ");
    if (usage) n = (size_t)(usage - s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    size_t b = n, lines = 0;
    while (b > 0 && n - b < max_bytes) {
        if (s[b - 1] == '\n' && ++lines >= max_lines) break;
        b--;
    }
    char *t = strndup(s + b, n - b);
    return t ? t : strdup("");
}

int rb_sweep_execute(const rb_sweep_config *cfg, const rb_sweep_opts *opts,
                     rb_sweep_summary *summary, rb_error *err) {
    memset(summary, 0, sizeof *summary);
    double t_start = rb_now();
    int jobs = opts->jobs < 1 ? 1 : opts->jobs > 64 ? 64 : opts->jobs;
    rb_sweep_run *runs;
    size_t n_runs;
    int rc = rb_sweep_expand(cfg, &runs, &n_runs, err);
    if (rc) return rc;
    summary->n_runs = n_runs;
    unsigned char *todo = calloc(n_runs, 1);
    child *slots = calloc((size_t)jobs, sizeof *slots);
    if (!todo || !slots) {
        free(todo), free(slots);
        rb_sweep_runs_free(runs, n_runs);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    int fd = -1;
    if ((rc = rb_mkdir_parents(cfg->results, err))) goto done;
    fd = open(cfg->results, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = rb_error_set(err, RB_EIO, "%s: cannot open for appending: %s", cfg->results,
                          strerror(errno));
        goto done;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        rc = rb_error_set(err, RB_EIO, "%s: %s", cfg->results,
                          errno == EWOULDBLOCK ? "locked by another running sweep"
                                               : strerror(errno));
        goto done;
    }
    rb_records recs;
    size_t n_todo;
    rc = pending_impl(cfg, runs, n_runs, opts->resume, todo, &n_todo, opts->progress,
                      opts->progress_ctx, &recs, err);
    if (rc) goto done;
    summary->n_skipped = n_runs - n_todo;
    if (recs.tail == RB_TAIL_PARTIAL) {
        char msg[600];
        struct stat st;
        long long extra = fstat(fd, &st) == 0 ? (long long)st.st_size - (long long)recs.keep_bytes : -1;
        snprintf(msg, sizeof msg, "%s: removing the partial last line (%lld bytes) before appending",
                 cfg->results, extra);
        warn_cb(opts->progress, opts->progress_ctx, msg);
        if (ftruncate(fd, (off_t)recs.keep_bytes) || fsync(fd))
            rc = rb_error_set(err, RB_EIO, "%s: truncate: %s", cfg->results, strerror(errno));
    } else if (recs.tail == RB_TAIL_NO_NEWLINE) {
        rc = append_line(fd, cfg->results, "\n", 1, err);
    }
    rb_records_free(&recs);
    if (rc) goto done;
    {
        rb_sweep_event ev = {.kind = RB_SWEEP_PLAN, .n = n_todo, .skipped = summary->n_skipped};
        emit(opts, &ev);
    }
    size_t next = 0, active = 0, finished = 0;
    while (!rc && (active || next < n_runs)) {
        /* start runs while slots are free */
        for (int s = 0; s < jobs && !rc; s++) {
            if (slots[s].pid) continue;
            while (next < n_runs && !todo[next]) next++;
            if (next >= n_runs) break;
            child *c = &slots[s];
            memset(c, 0, sizeof *c);
            c->run = next++;
            if ((rc = rb_sweep_argv(&runs[c->run], opts->rotbench, opts->threads, &c->argv, err)))
                break;
            c->t0 = rb_now();
            if ((rc = spawn(c->argv, NULL, c, err))) {
                rb_sweep_argv_free(c->argv);
                c->argv = NULL;
                break;
            }
            active++;
        }
        if (rc || !active) continue;
        struct pollfd p[2 * 64];
        int np = 0, map[2 * 64];
        for (int s = 0; s < jobs && np < 127; s++) {
            if (!slots[s].pid) continue;
            if (slots[s].out_fd >= 0) map[np] = 2 * s, p[np++] = (struct pollfd){slots[s].out_fd, POLLIN, 0};
            if (slots[s].err_fd >= 0) map[np] = 2 * s + 1, p[np++] = (struct pollfd){slots[s].err_fd, POLLIN, 0};
        }
        if (np && poll(p, (nfds_t)np, -1) < 0 && errno != EINTR) {
            rc = rb_error_set(err, RB_EIO, "poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < np; i++) {
            if (!p[i].revents) continue;
            child *c = &slots[map[i] / 2];
            if (map[i] % 2 == 0)
                drain(&c->out_fd, &c->out, STDOUT_CAP, 0, &c->out_overflow);
            else
                drain(&c->err_fd, &c->errs, STDERR_KEEP, 1, NULL);
        }
        /* reap the children whose pipes are both closed */
        for (int s = 0; s < jobs && !rc; s++) {
            child *c = &slots[s];
            if (!c->pid || c->out_fd >= 0 || c->err_fd >= 0) continue;
            int status;
            wait_pid(c->pid, &status);
            double secs = rb_now() - c->t0;
            const rb_sweep_run *run = &runs[c->run];
            char why[200] = "";
            json_object *rec = NULL;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                rb_describe_status(status, why, sizeof why);
            else if (c->out_overflow)
                snprintf(why, sizeof why, "more than %d bytes on stdout", STDOUT_CAP);
            else
                rec = parse_child_json(c->out.s, c->out.len, why, sizeof why);
            finished++;
            if (rec) {
                json_object_object_add(rec, "run_key", json_object_new_string(run->key));
                json_object_object_add(rec, "labels", json_object_get(run->labels));
                json_object_object_add(rec, "sweep", json_object_new_string(cfg->name));
                json_object_object_add(rec, "args", json_object_get(run->args));
                rb_json_null_nonfinite(rec); /* standard JSON whatever the child printed */
                rb_buf line = {0};
                rb_buf_puts(&line, json_object_to_json_string_ext(
                                       rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                rb_buf_puts(&line, "\n");
                if (line.oom)
                    rc = rb_error_set(err, RB_ENOMEM, "out of memory");
                else
                    rc = append_line(fd, cfg->results, line.s, line.len, err);
                rb_buf_free(&line);
                if (!rc) {
                    summary->n_done++;
                    rb_sweep_event ev = {.kind = RB_SWEEP_DONE, .k = finished, .n = n_todo,
                                         .run = run, .record = rec, .seconds = secs};
                    emit(opts, &ev);
                }
                json_object_put(rec);
            } else {
                summary->n_failed++;
                char *cmd = rb_shell_join(c->argv);
                char *tail = tail_lines(c->errs.s, 20, 4000);
                rb_sweep_event ev = {.kind = RB_SWEEP_FAIL, .k = finished, .n = n_todo,
                                     .run = run, .message = why, .command = cmd ? cmd : "",
                                     .stderr_tail = tail ? tail : "", .seconds = secs};
                emit(opts, &ev);
                free(cmd);
                free(tail);
            }
            rb_sweep_argv_free(c->argv);
            rb_buf_free(&c->out);
            rb_buf_free(&c->errs);
            memset(c, 0, sizeof *c);
            active--;
        }
    }
done:
    /* on a fatal error, stop the runs still going */
    for (int s = 0; s < jobs; s++) {
        child *c = &slots[s];
        if (!c->pid) continue;
        kill(c->pid, SIGKILL);
        if (c->out_fd >= 0) close(c->out_fd);
        if (c->err_fd >= 0) close(c->err_fd);
        int status;
        wait_pid(c->pid, &status);
        rb_sweep_argv_free(c->argv);
        rb_buf_free(&c->out);
        rb_buf_free(&c->errs);
    }
    if (fd >= 0) close(fd);
    free(slots);
    free(todo);
    rb_sweep_runs_free(runs, n_runs);
    summary->seconds = rb_now() - t_start;
    return rc;
}
