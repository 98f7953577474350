/* Sweep configs: parsing and validation (eval/sweep_config.h). */
#include "eval/sweep_config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "eval/eval_flags.h"
#include "eval/sweep_profile.h"
#include "eval/aggregate.h" /* RB_AGG_METRIC_AXIS */

int rb_sweep_config_error(rb_error *err, rb_status st, const char *file, const char *jpath,
                          const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (jpath && *jpath) return rb_error_set(err, st, "%s: %s: %s", file, jpath, msg);
    return rb_error_set(err, st, "%s: %s", file, msg);
}

const char *rb_json_type_word(json_object *o) {
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
            return rb_sweep_config_error(err, RB_EFORMAT, file, jpath, "unknown key \"%s\" (expected %s)", k,
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
        if (required) return rb_sweep_config_error(err, RB_EFORMAT, file, jpath, "missing \"%s\"", key);
        return RB_OK;
    }
    char p[512];
    jp_key(p, sizeof p, jpath, key);
    if (!json_object_is_type(v, json_type_string))
        return rb_sweep_config_error(err, RB_EFORMAT, file, p, "expected a string, got %s", rb_json_type_word(v));
    if (nonempty && json_object_get_string_len(v) == 0)
        return rb_sweep_config_error(err, RB_EFORMAT, file, p, "must not be empty");
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
        return rb_sweep_config_error(err, RB_EFORMAT, file, p, "expected true or false, got %s", rb_json_type_word(v));
    }
    *out = json_object_get_boolean(v);
    return RB_OK;
}

/* Characters safe in a file name: [A-Za-z0-9_.-], not starting with '.'. */
int rb_sweep_name_ok(const char *s) {
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
int rb_sweep_check_args(const char *file, const char *jpath, const char *runs, json_object *args,
                        rb_error *err) {
    if (!json_object_is_type(args, json_type_object))
        return rb_sweep_config_error(err, RB_EFORMAT, file, jpath, "expected an object of eval flags, got %s",
                       rb_json_type_word(args));
    json_object_object_foreach(args, k, v) {
        char p[512];
        jp_key(p, sizeof p, jpath, k);
        if (!flag_name_ok(k))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p,
                           "\"%s\" is not a flag name (letters, digits, '-', '_'; without the "
                           "leading --)",
                           k);
        if (!strcmp(k, "json"))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "\"json\" is added by the runner");
        switch (json_object_get_type(v)) {
        case json_type_boolean:
        case json_type_int:
        case json_type_string: break;
        case json_type_double:
            if (!isfinite(json_object_get_double(v)))
                return rb_sweep_config_error(err, RB_EFORMAT, file, p, "not a finite number");
            break;
        default:
            return rb_sweep_config_error(err, RB_EFORMAT, file, p,
                           "expected a string, number or boolean, got %s", rb_json_type_word(v));
        }
        if (!strcmp(k, "pipeline") && !json_object_is_type(v, json_type_string))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "expected a string, got %s", rb_json_type_word(v));
        const rb_flag_spec *f = rb_eval_flag_find(k);
        rb_error e = {0};
        if (!f)
            return rb_sweep_config_error(err, RB_EFORMAT, file, p,
                           "unknown eval flag \"%s\" (see rotbench eval --help) (%s)", k, runs);
        if (rb_flag_check_json(f, v, &e))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "%s (%s)", e.msg, runs);
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
        return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, p,
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
        return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, p, "expected an object {axis: label%s}, got %s",
                       lists ? " or [labels]" : "", rb_json_type_word(w));
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
        if (ai < 0) return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, q, "\"%s\" is not an axis", k);
        int is_list = lists && json_object_is_type(v, json_type_array);
        size_t nl = is_list ? json_object_array_length(v) : 1;
        for (size_t i = 0; i < nl; i++) {
            json_object *l = is_list ? json_object_array_get_idx(v, i) : v;
            if (!json_object_is_type(l, json_type_string))
                return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, q, "expected a label (string)%s, got %s",
                               lists ? " or a list of labels" : "", rb_json_type_word(l));
            const rb_sweep_axis *a = &cfg->axes[ai];
            int found = 0;
            for (size_t j = 0; j < a->n_values && !found; j++)
                found = !strcmp(a->values[j].label, json_object_get_string(l));
            if (!found)
                return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, q, "axis \"%s\" has no label \"%s\"", k,
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
        return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, "exclude", "expected an array, got %s",
                       rb_json_type_word(list));
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
        if (!e->n_match) return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, p, "an empty exclude matches every run");
    }
    return RB_OK;
}

static int parse_axes(rb_sweep_config *cfg, json_object *axes, rb_error *err) {
    const char *file = cfg->path;
    if (!json_object_is_type(axes, json_type_array))
        return rb_sweep_config_error(err, RB_EFORMAT, file, "axes", "expected an array, got %s",
                       rb_json_type_word(axes));
    size_t n = json_object_array_length(axes);
    if (!n) return rb_sweep_config_error(err, RB_EFORMAT, file, "axes", "must have at least one axis");
    cfg->axes = calloc(n, sizeof *cfg->axes);
    if (!cfg->axes) return rb_error_set(err, RB_ENOMEM, "out of memory");
    static const char *const axis_keys[] = {"name", "values", NULL};
    static const char *const value_keys[] = {"label", "args", NULL};
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(axes, i);
        char p[512];
        jp_idx(p, sizeof p, "axes", i);
        if (!json_object_is_type(a, json_type_object))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "expected an object, got %s", rb_json_type_word(a));
        int rc = check_keys(file, p, a, axis_keys, err);
        rb_sweep_axis *ax = &cfg->axes[i];
        cfg->n_axes = i + 1;
        if (!rc) rc = get_string(file, p, a, "name", 1, 1, &ax->name, err);
        if (rc) return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->axes[j].name, ax->name)) {
                char q[600];
                jp_key(q, sizeof q, p, "name");
                return rb_sweep_config_error(err, RB_EFORMAT, file, q, "duplicate axis \"%s\" (also axes[%zu])",
                               ax->name, j);
            }
        json_object *vals;
        if (!json_object_object_get_ex(a, "values", &vals))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "missing \"values\"");
        char pv[600];
        jp_key(pv, sizeof pv, p, "values");
        if (!json_object_is_type(vals, json_type_array))
            return rb_sweep_config_error(err, RB_EFORMAT, file, pv, "expected an array, got %s",
                           rb_json_type_word(vals));
        size_t nv = json_object_array_length(vals);
        if (!nv) return rb_sweep_config_error(err, RB_EFORMAT, file, pv, "must have at least one value");
        ax->values = calloc(nv, sizeof *ax->values);
        if (!ax->values) return rb_error_set(err, RB_ENOMEM, "out of memory");
        for (size_t j = 0; j < nv; j++) {
            json_object *v = json_object_array_get_idx(vals, j);
            char q[700];
            jp_idx(q, sizeof q, pv, j);
            if (!json_object_is_type(v, json_type_object))
                return rb_sweep_config_error(err, RB_EFORMAT, file, q, "expected an object, got %s",
                               rb_json_type_word(v));
            rb_sweep_value *val = &ax->values[j];
            ax->n_values = j + 1;
            if ((rc = check_keys(file, q, v, value_keys, err)) ||
                (rc = get_string(file, q, v, "label", 1, 1, &val->label, err)))
                return rc;
            for (size_t k = 0; k < j; k++)
                if (!strcmp(ax->values[k].label, val->label)) {
                    char r[800];
                    jp_key(r, sizeof r, q, "label");
                    return rb_sweep_config_error(err, RB_EFORMAT, file, r,
                                   "duplicate label \"%s\" (also values[%zu])", val->label, k);
                }
            json_object *args;
            if (json_object_object_get_ex(v, "args", &args)) {
                char r[800];
                jp_key(r, sizeof r, q, "args");
                char runs[300];
                snprintf(runs, sizeof runs, "the runs with %s=%s", ax->name, val->label);
                if ((rc = rb_sweep_check_args(file, r, runs, args, err))) return rc;
                val->args = args;
            }
        }
    }
    return RB_OK;
}

static int parse_tables(rb_sweep_config *cfg, json_object *tables, rb_error *err) {
    const char *file = cfg->path;
    if (!json_object_is_type(tables, json_type_array))
        return rb_sweep_config_error(err, RB_EFORMAT, file, "tables", "expected an array, got %s",
                       rb_json_type_word(tables));
    size_t n = json_object_array_length(tables);
    cfg->tables = calloc(n ? n : 1, sizeof *cfg->tables);
    if (!cfg->tables) return rb_error_set(err, RB_ENOMEM, "out of memory");
    static const char *const keys[] = {"name", "rows", "cols", "split", "metric", "where", NULL};
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(tables, i);
        char p[512];
        jp_idx(p, sizeof p, "tables", i);
        if (!json_object_is_type(t, json_type_object))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "expected an object, got %s", rb_json_type_word(t));
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
        if (!rb_sweep_name_ok(tb->name))
            return rb_sweep_config_error(err, RB_EFORMAT, file, q,
                           "\"%s\": use only letters, digits, '_', '.', '-' (it names files)",
                           tb->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->tables[j].name, tb->name))
                return rb_sweep_config_error(err, RB_EFORMAT, file, q, "duplicate table \"%s\"", tb->name);
        if (!strcmp(tb->rows, tb->cols) || (tb->split && (!strcmp(tb->split, tb->rows) ||
                                                          !strcmp(tb->split, tb->cols))))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "rows, cols and split must be different axes");
        if (!tb->metric && !(tb->metric = strdup("ppl")))
            return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    return RB_OK;
}

static int parse_plots(rb_sweep_config *cfg, json_object *plots, rb_error *err) {
    const char *file = cfg->path;
    if (!json_object_is_type(plots, json_type_array))
        return rb_sweep_config_error(err, RB_EFORMAT, file, "plots", "expected an array, got %s",
                       rb_json_type_word(plots));
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
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "expected an object, got %s", rb_json_type_word(t));
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
        if (!rb_sweep_name_ok(pl->name))
            return rb_sweep_config_error(err, RB_EFORMAT, file, q,
                           "\"%s\": use only letters, digits, '_', '.', '-' (it names files)",
                           pl->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->plots[j].name, pl->name))
                return rb_sweep_config_error(err, RB_EFORMAT, file, q, "duplicate plot \"%s\"", pl->name);
        if (pl->series && !strcmp(pl->series, pl->x))
            return rb_sweep_config_error(err, RB_EFORMAT, file, p, "x and series must be different axes");
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

/* Validates root (owned from here on: cfg->root) into cfg; cfg->path is set. */
static int parse_root(json_object *root, const char *path, rb_sweep_config *cfg, rb_error *err) {
    cfg->root = root;
    int rc = RB_OK;
    static const char *const keys[] = {"name",   "results", "base",  "axes",
                                       "exclude", "tables", "plots", "profiles", NULL};
    json_object *v;
    if (!json_object_is_type(root, json_type_object))
        rc = rb_sweep_config_error(err, RB_EFORMAT, path, "", "expected a JSON object, got %s",
                     rb_json_type_word(root));
    if (!rc) rc = check_keys(path, "", root, keys, err);
    if (!rc) rc = get_string(path, "", root, "name", 1, 1, &cfg->name, err);
    if (!rc && !rb_sweep_name_ok(cfg->name))
        rc = rb_sweep_config_error(err, RB_EFORMAT, path, "name",
                     "\"%s\": use only letters, digits, '_', '.', '-' (it names files)",
                     cfg->name);
    if (!rc) rc = get_string(path, "", root, "results", 1, 1, &cfg->results, err);
    if (!rc) {
        if (json_object_object_get_ex(root, "base", &v)) {
            rc = rb_sweep_check_args(path, "base", "every run", v, err);
            cfg->base = v;
        }
    }
    if (!rc) {
        if (json_object_object_get_ex(root, "axes", &v))
            rc = parse_axes(cfg, v, err);
        else
            rc = rb_sweep_config_error(err, RB_EFORMAT, path, "", "missing \"axes\"");
    }
    if (!rc && json_object_object_get_ex(root, "exclude", &v)) rc = parse_excludes(cfg, v, err);
    if (!rc && json_object_object_get_ex(root, "tables", &v)) rc = parse_tables(cfg, v, err);
    if (!rc && json_object_object_get_ex(root, "plots", &v)) rc = parse_plots(cfg, v, err);
    if (!rc) {
        double total = 1;
        for (size_t i = 0; i < cfg->n_axes; i++) total *= (double)cfg->axes[i].n_values;
        if (total > 1e6)
            rc = rb_sweep_config_error(err, RB_EFORMAT, path, "axes", "%.0f runs in the cross product (max 1e6)",
                         total);
    }
    if (!rc) rc = rb_sweep_profiles_check(cfg, root, err);
    return rc;
}

int rb_sweep_config_parse_profile(const char *text, size_t len, const char *path,
                                  const char *profile, rb_sweep_config *cfg, rb_error *err) {
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
        rc = rb_sweep_config_error(err, RB_EFORMAT, path, "", "line %zu, column %zu: %s", line, col,
                     e == json_tokener_continue ? "unexpected end of file"
                                                : json_tokener_error_desc(e));
    } else {
        while (end < len && strchr(" \t\r\n", text[end])) end++;
        if (end < len) {
            size_t line, col;
            offset_to_line_col(text, end, &line, &col);
            rc = rb_sweep_config_error(err, RB_EFORMAT, path, "", "line %zu, column %zu: text after the JSON "
                         "object", line, col);
        }
    }
    if (rc) {
        cfg->root = root;
        rb_sweep_config_free(cfg);
        return rc;
    }
    rc = parse_root(root, path, cfg, err);
    if (!rc && profile) {
        /* the reduced config is parsed and validated as any other */
        json_object *reduced = NULL;
        rc = rb_sweep_profile_apply(cfg, root, profile, &reduced, err);
        rb_sweep_config_free(cfg);
        if (!rc && !(cfg->path = strdup(path))) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        if (!rc && (rc = parse_root(reduced, path, cfg, err)))
            rb_error_prefix(err, "with profile \"%s\": ", profile);
        else if (!rc && !(cfg->profile = strdup(profile)))
            rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        if (rc && !cfg->root) json_object_put(reduced);
    }
    if (rc) rb_sweep_config_free(cfg);
    return rc;
}

int rb_sweep_config_parse(const char *text, size_t len, const char *path, rb_sweep_config *cfg,
                          rb_error *err) {
    return rb_sweep_config_parse_profile(text, len, path, NULL, cfg, err);
}

int rb_sweep_config_load_profile(const char *path, const char *profile, rb_sweep_config *cfg,
                                 rb_error *err) {
    char *text;
    size_t len;
    memset(cfg, 0, sizeof *cfg);
    int rc = rb_read_file(path, (size_t)64 << 20, &text, &len, err);
    if (rc) return rc;
    rc = rb_sweep_config_parse_profile(text, len, path, profile, cfg, err);
    free(text);
    return rc;
}

int rb_sweep_config_load(const char *path, rb_sweep_config *cfg, rb_error *err) {
    return rb_sweep_config_load_profile(path, NULL, cfg, err);
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
    free(cfg->profile);
    free(cfg->results);
    free(cfg->path);
    json_object_put(cfg->root);
    memset(cfg, 0, sizeof *cfg);
}
