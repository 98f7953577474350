#include "eval/records.h"

#include "base/buf.h"
#include "base/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- reading -------------------------------------------------------------- */

static int add_issue(rb_records *r, const char *path, size_t line, const char *what,
                     rb_error *err) {
    rb_records_issue *p = realloc(r->issues, (r->n_issues + 1) * sizeof *p);
    if (!p) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    r->issues = p;
    p[r->n_issues].line = line;
    snprintf(p[r->n_issues].msg, sizeof p[r->n_issues].msg, "%s:%zu: %s; ignored", path, line,
             what);
    r->n_issues++;
    return RB_OK;
}

/* Parses one line as exactly one JSON value; NULL and a message otherwise. */
static json_object *parse_line(const char *s, size_t n, char *why, size_t cap) {
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (e == json_tokener_continue) {
        snprintf(why, cap, "incomplete JSON");
        json_object_put(o);
        o = NULL;
    } else if (e != json_tokener_success) {
        snprintf(why, cap, "not JSON (%s at byte %zu)", json_tokener_error_desc(e), end + 1);
        json_object_put(o);
        o = NULL;
    } else {
        while (end < n && (s[end] == ' ' || s[end] == '\t')) end++;
        if (end < n) {
            snprintf(why, cap, "text after the JSON value at byte %zu", end + 1);
            json_object_put(o);
            o = NULL;
        } else if (!json_object_is_type(o, json_type_object)) {
            snprintf(why, cap, "not a JSON object");
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    return o;
}

int rb_records_parse(const char *text, size_t len, const char *path, rb_records *out,
                     rb_error *err) {
    memset(out, 0, sizeof *out);
    out->items = json_object_new_array();
    if (!out->items) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    out->keep_bytes = len;
    size_t pos = 0, line = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        const char *s = text + pos;
        size_t n = end - pos;
        size_t blank = 0;
        while (blank < n && (s[blank] == ' ' || s[blank] == '\t' || s[blank] == '\r')) blank++;
        if (blank == n) {
            /* an empty line; a final run of blanks without '\n' counts as partial */
            if (!nl && n) {
                out->tail = RB_TAIL_PARTIAL;
                out->keep_bytes = pos;
            }
        } else {
            char why[160];
            json_object *o = parse_line(s, n, why, sizeof why);
            int rc = RB_OK;
            if (o) {
                if (json_object_array_add(out->items, o)) {
                    json_object_put(o);
                    rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
                }
                if (!nl) out->tail = RB_TAIL_NO_NEWLINE;
            } else if (!nl) {
                char what[200];
                snprintf(what, sizeof what, "partial last line (no newline, %s)", why);
                rc = add_issue(out, path, line, what, err);
                out->tail = RB_TAIL_PARTIAL;
                out->keep_bytes = pos;
            } else {
                rc = add_issue(out, path, line, why, err);
            }
            if (rc) {
                rb_records_free(out);
                return rc;
            }
        }
        pos = nl ? end + 1 : len;
    }
    out->n_lines = line;
    return RB_OK;
}

int rb_records_read(const char *path, int missing_ok, rb_records *out, rb_error *err) {
    struct stat st;
    if (missing_ok && stat(path, &st) != 0 && errno == ENOENT) {
        memset(out, 0, sizeof *out);
        out->items = json_object_new_array();
        return out->items ? RB_OK : rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    }
    char *text;
    size_t len;
    int rc = rb_read_file(path, 0, &text, &len, err);
    if (rc) return rc;
    rc = rb_records_parse(text, len, path, out, err);
    free(text);
    return rc;
}

void rb_records_free(rb_records *r) {
    json_object_put(r->items);
    free(r->issues);
    memset(r, 0, sizeof *r);
}

/* ---- fields --------------------------------------------------------------- */

const char *rb_record_label(json_object *rec, const char *axis) {
    json_object *labels, *l;
    if (!json_object_object_get_ex(rec, "labels", &labels) ||
        !json_object_object_get_ex(labels, axis, &l) || !json_object_is_type(l, json_type_string))
        return NULL;
    return json_object_get_string(l);
}

static int is_nonfinite(json_object *v) {
    return json_object_is_type(v, json_type_double) && !isfinite(json_object_get_double(v));
}

static const char *nonfinite_word(double x) { return isnan(x) ? "nan" : x > 0 ? "inf" : "-inf"; }

int rb_json_null_nonfinite(json_object *o) {
    int n = 0;
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            json_object *v = json_object_array_get_idx(o, i);
            if (is_nonfinite(v)) {
                json_object_array_put_idx(o, i, NULL);
                n++;
            } else {
                int k = rb_json_null_nonfinite(v);
                if (k < 0) return -1;
                n += k;
            }
        }
        return n;
    }
    if (!json_object_is_type(o, json_type_object)) return 0;
    /* the keys first: the object is changed only after walking it */
    rb_buf keys = {0};
    size_t n_keys = 0;
    json_object_object_foreach(o, k, v) {
        if (is_nonfinite(v)) {
            rb_buf_append(&keys, k, strlen(k) + 1);
            n_keys++;
        } else {
            int c = rb_json_null_nonfinite(v);
            if (c < 0) return rb_buf_free(&keys), -1;
            n += c;
        }
    }
    if (keys.oom) return rb_buf_free(&keys), -1;
    const char *key = keys.s;
    for (size_t i = 0; i < n_keys; i++, key += strlen(key) + 1) {
        char sib[300];
        snprintf(sib, sizeof sib, "%s_nonfinite", key);
        const char *why = nonfinite_word(json_object_get_double(json_object_object_get(o, key)));
        json_object *w = json_object_new_string(why);
        if (!w || json_object_object_add(o, key, NULL) || json_object_object_add(o, sib, w)) {
            json_object_put(w);
            rb_buf_free(&keys);
            return -1;
        }
        n++;
    }
    rb_buf_free(&keys);
    return n;
}

int rb_record_number(json_object *rec, const char *path, double *out) {
    json_object *o = rec;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char key[256];
        if (n == 0 || n >= sizeof key || !json_object_is_type(o, json_type_object)) return -1;
        memcpy(key, p, n);
        key[n] = 0;
        json_object *parent = o;
        if (!json_object_object_get_ex(parent, key, &o)) return -1;
        if (!dot) {
            /* null + "<key>_nonfinite": a non-finite number (rb_json_null_nonfinite) */
            char sib[300];
            json_object *w;
            snprintf(sib, sizeof sib, "%s_nonfinite", key);
            if (!o && json_object_object_get_ex(parent, sib, &w) &&
                json_object_is_type(w, json_type_string)) {
                const char *t = json_object_get_string(w);
                if (!strcmp(t, "inf") || !strcmp(t, "-inf") || !strcmp(t, "nan")) {
                    *out = !strcmp(t, "nan") ? NAN : t[0] == '-' ? -INFINITY : INFINITY;
                    return 0;
                }
            }
            break;
        }
        p = dot + 1;
    }
    if (!json_object_is_type(o, json_type_double) && !json_object_is_type(o, json_type_int))
        return -1;
    *out = json_object_get_double(o);
    return 0;
}

int rb_where_parse(char *text, rb_where *out, rb_error *err) {
    char *eq = strchr(text, '=');
    if (!eq || eq == text)
        return rb_error_set(err, RB_EINVAL, "--where expects AXIS=LABEL, got '%s'", text);
    *eq = 0;
    out->axis = text;
    out->label = eq + 1;
    return RB_OK;
}

static int has_label(json_object *rec, const char *label) {
    json_object *labels;
    if (!json_object_object_get_ex(rec, "labels", &labels) ||
        !json_object_is_type(labels, json_type_object))
        return 0;
    json_object_object_foreach(labels, k, v) {
        (void)k;
        if (json_object_is_type(v, json_type_string) && !strcmp(json_object_get_string(v), label))
            return 1;
    }
    return 0;
}

int rb_record_matches(json_object *rec, const rb_where *where, size_t n) {
    for (size_t w = 0; w < n; w++) {
        if (!where[w].axis) {
            if (!has_label(rec, where[w].label)) return 0;
            continue;
        }
        const char *l = rb_record_label(rec, where[w].axis);
        if (!l || strcmp(l, where[w].label)) return 0;
    }
    return 1;
}
