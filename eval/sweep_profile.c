/* Sweep profiles: validation and application (eval/sweep_profile.h). */
#include "eval/sweep_profile.h"

#include <stdio.h>
#include <string.h>

static const rb_sweep_value *find_value(const rb_sweep_axis *a, const char *label) {
    for (size_t j = 0; j < a->n_values; j++)
        if (!strcmp(a->values[j].label, label)) return &a->values[j];
    return NULL;
}

static int expect_object(const char *file, const char *p, json_object *o, rb_error *err) {
    if (json_object_is_type(o, json_type_object)) return RB_OK;
    return rb_sweep_config_error(err, RB_EFORMAT, file, p, "expected an object, got %s",
                                 rb_json_type_word(o));
}

/* The axis named name, or an error at p naming the config's axes. */
static int find_axis(const rb_sweep_config *cfg, const char *p, const char *name,
                     const rb_sweep_axis **out, rb_error *err) {
    int ai = rb_sweep_axis_index(cfg, name);
    if (ai >= 0) {
        *out = &cfg->axes[ai];
        return RB_OK;
    }
    char names[256] = "";
    for (size_t i = 0; i < cfg->n_axes; i++) {
        strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, cfg->axes[i].name, sizeof names - strlen(names) - 1);
    }
    return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, p, "\"%s\" is not an axis (axes: %s)",
                                 name, names);
}

static int no_label(const rb_sweep_config *cfg, const char *p, const rb_sweep_axis *a,
                    const char *label, rb_error *err) {
    return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, p, "axis \"%s\" has no label \"%s\"",
                                 a->name, label);
}

/* "keep": {axis: [labels]} */
static int check_keep(const rb_sweep_config *cfg, const char *p, json_object *keep,
                      rb_error *err) {
    int rc = expect_object(cfg->path, p, keep, err);
    if (rc) return rc;
    json_object_object_foreach(keep, axis, labels) {
        char q[1024];
        snprintf(q, sizeof q, "%.500s.%.200s", p, axis);
        const rb_sweep_axis *a = NULL;
        if ((rc = find_axis(cfg, q, axis, &a, err))) return rc;
        if (!json_object_is_type(labels, json_type_array) || !json_object_array_length(labels))
            return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, q,
                                         "expected a non-empty list of labels, got %s",
                                         rb_json_type_word(labels));
        for (size_t i = 0; i < json_object_array_length(labels); i++) {
            json_object *l = json_object_array_get_idx(labels, i);
            char r[1024];
            snprintf(r, sizeof r, "%.800s[%zu]", q, i);
            if (!json_object_is_type(l, json_type_string))
                return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, r,
                                             "expected a label (string), got %s",
                                             rb_json_type_word(l));
            if (!find_value(a, json_object_get_string(l)))
                return no_label(cfg, r, a, json_object_get_string(l), err);
        }
    }
    return RB_OK;
}

/* "values": {axis: {label: {args}}} */
static int check_values(const rb_sweep_config *cfg, const char *p, json_object *values,
                        rb_error *err) {
    int rc = expect_object(cfg->path, p, values, err);
    if (rc) return rc;
    json_object_object_foreach(values, axis, by_label) {
        char q[1024];
        snprintf(q, sizeof q, "%.500s.%.200s", p, axis);
        const rb_sweep_axis *a = NULL;
        if ((rc = find_axis(cfg, q, axis, &a, err)) ||
            (rc = expect_object(cfg->path, q, by_label, err)))
            return rc;
        json_object_object_foreach(by_label, label, args) {
            char r[1024], runs[300];
            snprintf(r, sizeof r, "%.750s.%.200s", q, label);
            if (!find_value(a, label)) return no_label(cfg, r, a, label, err);
            snprintf(runs, sizeof runs, "the runs with %.100s=%.150s", axis, label);
            if ((rc = rb_sweep_check_args(cfg->path, r, runs, args, err))) return rc;
        }
    }
    return RB_OK;
}

int rb_sweep_profiles_check(const rb_sweep_config *cfg, json_object *root, rb_error *err) {
    json_object *profiles;
    if (!json_object_object_get_ex(root, "profiles", &profiles)) return RB_OK;
    int rc = expect_object(cfg->path, "profiles", profiles, err);
    if (rc) return rc;
    static const char *const keys[] = {"description", "comment", "results", "base",
                                       "keep",        "values",  NULL};
    json_object_object_foreach(profiles, name, prof) {
        char p[512];
        snprintf(p, sizeof p, "profiles.%.200s", name);
        if (!rb_sweep_name_ok(name))
            return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, p,
                                         "\"%s\": use only letters, digits, '_', '.', '-' "
                                         "(it names files)",
                                         name);
        if ((rc = expect_object(cfg->path, p, prof, err))) return rc;
        json_object_object_foreach(prof, k, v) {
            int known = 0;
            for (const char *const *a = keys; *a && !known; a++) known = !strcmp(k, *a);
            char q[1024];
            snprintf(q, sizeof q, "%.500s.%.200s", p, k);
            if (!known)
                return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, p,
                                             "unknown key \"%s\" (expected description, "
                                             "results, base, keep, values)",
                                             k);
            if (!strcmp(k, "results") && (!json_object_is_type(v, json_type_string) ||
                                          !json_object_get_string_len(v)))
                return rb_sweep_config_error(err, RB_EFORMAT, cfg->path, q,
                                             "expected a non-empty string, got %s",
                                             rb_json_type_word(v));
            if (!strcmp(k, "base") && (rc = rb_sweep_check_args(cfg->path, q, "every run", v, err)))
                return rc;
            if (!strcmp(k, "keep") && (rc = check_keep(cfg, q, v, err))) return rc;
            if (!strcmp(k, "values") && (rc = check_values(cfg, q, v, err))) return rc;
        }
    }
    return RB_OK;
}

/* dst[k] = src[k] for every key of src (deep copies). */
static int override(json_object *dst, json_object *src, rb_error *err) {
    json_object_object_foreach(src, k, v) {
        json_object *c = NULL;
        if (json_object_deep_copy(v, &c, NULL) || json_object_object_add(dst, k, c)) {
            json_object_put(c);
            return rb_error_set(err, RB_ENOMEM, "out of memory");
        }
    }
    return RB_OK;
}

static int contains(json_object *list, const char *label) {
    for (size_t i = 0; i < json_object_array_length(list); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(list, i)), label)) return 1;
    return 0;
}

/* The axes array with "keep" and "values" applied, in place. */
static int reduce_axes(json_object *axes, json_object *keep, json_object *values, rb_error *err) {
    for (size_t i = 0; i < json_object_array_length(axes); i++) {
        json_object *a = json_object_array_get_idx(axes, i), *name, *vals, *kept = NULL,
                    *by_label = NULL;
        json_object_object_get_ex(a, "name", &name);
        json_object_object_get_ex(a, "values", &vals);
        const char *axis = json_object_get_string(name);
        if (keep) json_object_object_get_ex(keep, axis, &kept);
        if (values) json_object_object_get_ex(values, axis, &by_label);
        for (size_t j = json_object_array_length(vals); j-- > 0;) {
            json_object *v = json_object_array_get_idx(vals, j), *label, *args, *over;
            json_object_object_get_ex(v, "label", &label);
            if (kept && !contains(kept, json_object_get_string(label))) {
                json_object_array_del_idx(vals, j, 1);
                continue;
            }
            if (!by_label || !json_object_object_get_ex(by_label, json_object_get_string(label), &over))
                continue;
            if (!json_object_object_get_ex(v, "args", &args)) {
                if (!(args = json_object_new_object()) || json_object_object_add(v, "args", args))
                    return rb_error_set(err, RB_ENOMEM, "out of memory");
            }
            int rc = override(args, over, err);
            if (rc) return rc;
        }
    }
    return RB_OK;
}

/* Drops the labels keep removed from every exclude entry, and the entries
 * left with an axis that has no label (they match no run now). */
static void reduce_excludes(json_object *excludes, json_object *keep) {
    for (size_t i = json_object_array_length(excludes); i-- > 0;) {
        json_object *e = json_object_array_get_idx(excludes, i);
        int dead = 0;
        json_object_object_foreach(e, axis, labels) {
            json_object *kept;
            if (!json_object_object_get_ex(keep, axis, &kept)) continue;
            if (!json_object_is_type(labels, json_type_array)) {
                dead |= !contains(kept, json_object_get_string(labels));
                continue;
            }
            for (size_t j = json_object_array_length(labels); j-- > 0;)
                if (!contains(kept, json_object_get_string(json_object_array_get_idx(labels, j))))
                    json_object_array_del_idx(labels, j, 1);
            dead |= json_object_array_length(labels) == 0;
        }
        if (dead) json_object_array_del_idx(excludes, i, 1);
    }
}

/* Drops the tables or plots whose "where" names a label keep removed (they
 * would be empty). */
static void reduce_views(json_object *views, json_object *keep) {
    for (size_t i = json_object_array_length(views); i-- > 0;) {
        json_object *w, *kept;
        if (!json_object_object_get_ex(json_object_array_get_idx(views, i), "where", &w)) continue;
        int dead = 0;
        json_object_object_foreach(w, axis, label) {
            if (json_object_object_get_ex(keep, axis, &kept))
                dead |= !contains(kept, json_object_get_string(label));
        }
        if (dead) json_object_array_del_idx(views, i, 1);
    }
}

int rb_sweep_profile_apply(const rb_sweep_config *cfg, json_object *root, const char *name,
                           json_object **out, rb_error *err) {
    *out = NULL;
    json_object *profiles = NULL, *prof = NULL;
    if (!json_object_object_get_ex(root, "profiles", &profiles) ||
        !json_object_object_get_ex(profiles, name, &prof)) {
        char names[256] = "";
        if (profiles) {
            json_object_object_foreach(profiles, k, v) {
                (void)v;
                strncat(names, *names ? ", " : "", sizeof names - strlen(names) - 1);
                strncat(names, k, sizeof names - strlen(names) - 1);
            }
        }
        return rb_error_set(err, RB_EINVAL, "%s: no profile \"%s\" (profiles: %s)", cfg->path,
                            name, *names ? names : "none");
    }
    json_object *r = NULL;
    if (json_object_deep_copy(root, &r, NULL)) return rb_error_set(err, RB_ENOMEM, "out of memory");
    json_object_object_del(r, "profiles");
    json_object *v, *base, *axes, *keep = NULL, *values = NULL, *excludes;
    int rc = RB_OK;
    /* results: the profile's, else results/<profile>/<name>.jsonl */
    char results[1024];
    if (json_object_object_get_ex(prof, "results", &v))
        snprintf(results, sizeof results, "%s", json_object_get_string(v));
    else
        snprintf(results, sizeof results, "results/%s/%s.jsonl", name, cfg->name);
    json_object *rs = json_object_new_string(results);
    if (!rs || json_object_object_add(r, "results", rs)) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    if (!rc && json_object_object_get_ex(prof, "base", &v)) {
        if (!json_object_object_get_ex(r, "base", &base)) {
            if (!(base = json_object_new_object()) || json_object_object_add(r, "base", base))
                rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        }
        if (!rc) rc = override(base, v, err);
    }
    json_object_object_get_ex(prof, "keep", &keep);
    json_object_object_get_ex(prof, "values", &values);
    if (!rc && json_object_object_get_ex(r, "axes", &axes)) rc = reduce_axes(axes, keep, values, err);
    if (!rc && keep && json_object_object_get_ex(r, "exclude", &excludes))
        reduce_excludes(excludes, keep);
    if (!rc && keep && json_object_object_get_ex(r, "tables", &v)) reduce_views(v, keep);
    if (!rc && keep && json_object_object_get_ex(r, "plots", &v)) reduce_views(v, keep);
    if (rc) {
        json_object_put(r);
        return rc;
    }
    *out = r;
    return RB_OK;
}
