#include "datasets/tasks.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "datasets/task_defs.h"


static char *dup_range(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* HellaSwag's doc: the fields lm-eval's process_docs makes (query, choices,
 * gold) from the item; NULL when out of memory. */
static char *hellaswag_doc(const rb_zs_item *it) {
    json_object *o = json_object_new_object(), *ch = json_object_new_array();
    json_object_object_add(o, "query", json_object_new_string(it->context));
    for (int c = 0; c < it->n_choices; c++)
        json_object_array_add(ch, json_object_new_string(it->choices[c]));
    json_object_object_add(o, "choices", ch);
    json_object_object_add(o, "gold", json_object_new_int(it->gold));
    char *d = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return d;
}

/* The JSON object text *doc with the member "key": v added at its end (the
 * object was validated when its line was read); NULL when out of memory. */
static char *doc_with_int(char *doc, const char *key, int v) {
    char *close = strrchr(doc, '}'), *p = close;
    while (p > doc && strchr(" \t\r\n", p[-1])) p--;
    int empty = p > doc && p[-1] == '{';
    size_t head = (size_t)(close - doc), n = head + strlen(key) + 32;
    char *d = malloc(n);
    if (d) snprintf(d, n, "%.*s%s\"%s\": %d}", (int)head, doc, empty ? "" : ", ", key, v);
    return d;
}

/* The line at data[*pos] (without its '\n' or "\r\n"), of *n bytes; moves
 * *pos past it.  Call while *pos < len. */
static char *next_line(char *data, size_t len, size_t *pos, size_t *n) {
    char *s = data + *pos, *nl = memchr(s, '\n', len - *pos);
    *n = nl ? (size_t)(nl - s) : len - *pos;
    *pos += *n + (nl != NULL);
    if (*n && s[*n - 1] == '\r') (*n)--;
    return s;
}

int rb_hellaswag_load(const char *path, rb_zs_task *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t len = 0;
    int rc = rb_read_file(path, 0, &data, &len, err);
    if (rc) return rc;
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += data[i] == '\n';
    if (len && data[len - 1] != '\n') n_lines++;
    if (n_lines == 0) {
        free(data);
        return rb_error_set(err, RB_EFORMAT, "%s: empty file, expected 6 lines per item", path);
    }
    rb_zs_task t = {.delimiter = " "};
    snprintf(t.name, sizeof t.name, "hellaswag");
    t.items = calloc(n_lines / 6 + 1, sizeof *t.items);
    if (!t.items) {
        free(data);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    size_t pos = 0, line = 0;
    while (pos < len && !rc) {
        rb_zs_item *it = &t.items[t.n_items];
        it->n_choices = 4;
        for (int f = 0; f < 6; f++) {
            if (pos >= len) {
                rc = rb_error_set(err, RB_EFORMAT,
                                  "%s:%zu: file ends inside an item (item %zu has %d of 6 lines: "
                                  "context, label, 4 endings)",
                                  path, line, t.n_items + 1, f);
                break;
            }
            line++;
            size_t n;
            const char *s = next_line(data, len, &pos, &n);
            if (n == 0) {
                rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: empty line (expected the %s of item %zu)",
                                  path, line, f == 0 ? "context" : f == 1 ? "label" : "ending",
                                  t.n_items + 1);
                break;
            }
            if (f == 1) {
                if (n != 1 || s[0] < '0' || s[0] > '3') {
                    rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: label '%.*s' is not 0..3", path,
                                      line, (int)(n > 40 ? 40 : n), s);
                    break;
                }
                it->gold = s[0] - '0';
                continue;
            }
            char *d = dup_range(s, n);
            if (!d) {
                rc = rb_error_set(err, RB_ENOMEM, "out of memory");
                break;
            }
            if (f == 0)
                it->context = d;
            else
                it->choices[f - 2] = d;
        }
        t.n_items++; /* counted even when partial so rb_zs_task_free frees it */
        if (!rc && !(it->doc = hellaswag_doc(it)))
            rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    free(data);
    if (rc) {
        rb_zs_task_free(&t);
        return rc;
    }
    *out = t;
    return RB_OK;
}


/* ---- jsonl tasks ------------------------------------------------------------ */

/* The k-th '|' alternative of spec into buf. */
static const char *alternative(const char *spec, int k, char *buf, size_t cap) {
    const char *p = spec;
    for (int i = 0; i < k && p; i++) {
        p = strchr(p, '|');
        if (p) p++;
    }
    if (!p) return NULL;
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n >= cap) return NULL;
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

/* One item of a definition from its JSON object; -1 with why set. */
static int def_item(const rb_task_def *d, json_object *o, rb_zs_item *it, char *why) {
    if (rb_task_render(d->context, o, &it->context, why)) return -1;
    const char *labels[RB_ZS_MAX_CHOICES];
    int n_labels = 0;
    if (d->choice_texts) {
        const char *texts[RB_ZS_MAX_CHOICES];
        int which = 0, n = rb_task_list(d->choice_texts, o, texts, RB_ZS_MAX_CHOICES, &which);
        char lspec[128];
        const char *ls = alternative(d->choice_labels, which, lspec, sizeof lspec);
        n_labels = ls ? rb_task_list(ls, o, labels, RB_ZS_MAX_CHOICES, &which) : -1;
        if (n < 2 || n_labels != n)
            return snprintf(why, RB_TASK_WHY,
                            "needs 2..%d choices with texts and labels (%s / %s)",
                            RB_ZS_MAX_CHOICES, d->choice_texts, d->choice_labels),
                   -1;
        for (int i = 0; i < n; i++) {
            it->choices[i] = strdup(texts[i]);
            if (!it->choices[i]) return snprintf(why, RB_TASK_WHY, "out of memory"), -1;
            it->n_choices = i + 1;
        }
    } else {
        for (int i = 0; i < RB_ZS_MAX_CHOICES && d->choices[i]; i++) {
            if (rb_task_render(d->choices[i], o, &it->choices[i], why)) return -1;
            it->n_choices = i + 1;
        }
    }
    json_object *g = NULL;
    if (d->gold_field) json_object_object_get_ex(o, d->gold_field, &g);
    it->gold = -1;
    switch (d->gold) {
    case RB_GOLD_NONE: it->gold = 0; break;
    case RB_GOLD_LABELS_FILE: break; /* filled from the labels file */
    case RB_GOLD_BOOL:
        if (!g || !json_object_is_type(g, json_type_boolean))
            return snprintf(why, RB_TASK_WHY, "needs %s (true/false)", d->gold_field), -1;
        it->gold = json_object_get_boolean(g) ? 1 : 0;
        break;
    case RB_GOLD_ONE_BASED: {
        const char *a = g && json_object_is_type(g, json_type_string) ? json_object_get_string(g)
                                                                     : NULL;
        if (!a || a[0] < '1' || a[0] > '0' + it->n_choices || a[1])
            return snprintf(why, RB_TASK_WHY, "%s must be \"1\"..\"%d\"", d->gold_field,
                            it->n_choices),
                   -1;
        it->gold = a[0] - '1';
        break;
    }
    case RB_GOLD_KEY_IN_LABELS: {
        const char *key = g && json_object_is_type(g, json_type_string) ? json_object_get_string(g)
                                                                       : NULL;
        if (!key) return snprintf(why, RB_TASK_WHY, "needs a string %s", d->gold_field), -1;
        for (int i = 0; i < n_labels && it->gold < 0; i++)
            if (strcmp(labels[i], key) == 0) it->gold = i;
        if (it->gold < 0)
            return snprintf(why, RB_TASK_WHY, "%s '%.20s' is not one of the choice labels",
                            d->gold_field, key),
                   -1;
        break;
    }
    }
    return 0;
}

/* The line s[0..n) as exactly one JSON object, or NULL with why[RB_TASK_WHY]
 * saying what is wrong. */
static json_object *parse_line(json_tokener *tk, const char *s, size_t n, char *why) {
    json_tokener_reset(tk);
    json_object *o = json_tokener_parse_ex(tk, s, (int)n);
    enum json_tokener_error e = json_tokener_get_error(tk);
    size_t end = json_tokener_get_parse_end(tk);
    if (e == json_tokener_continue) {
        snprintf(why, RB_TASK_WHY, "truncated JSON: the line ends inside a JSON value "
                                   "(%zu bytes)", n);
    } else if (e != json_tokener_success) {
        snprintf(why, RB_TASK_WHY, "not JSON: %s at byte %zu", json_tokener_error_desc(e),
                 end + 1);
    } else {
        while (end < n && strchr(" \t\r", s[end]) && s[end]) end++;
        if (end < n)
            snprintf(why, RB_TASK_WHY, "text after the JSON object at byte %zu: '%.*s'",
                     end + 1, (int)(n - end > 20 ? 20 : n - end), s + end);
        else if (!json_object_is_type(o, json_type_object))
            snprintf(why, RB_TASK_WHY, "expected a JSON object, got a JSON %s",
                     json_type_to_name(json_object_get_type(o)));
        else
            return o;
    }
    json_object_put(o);
    return NULL;
}

static int load_jsonl(const char *path, const rb_task_def *d, rb_zs_task *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t len = 0;
    int rc = rb_read_file(path, 0, &data, &len, err);
    if (rc) return rc;
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += data[i] == '\n';
    rb_zs_task t = {.delimiter = d->delimiter, .kind = d->kind};
    snprintf(t.name, sizeof t.name, "%s", d->name);
    t.items = calloc(n_lines, sizeof *t.items);
    if (!t.items) {
        free(data);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    json_tokener *tk = json_tokener_new();
    if (!tk) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    size_t pos = 0, line = 0;
    while (pos < len && !rc) {
        line++;
        size_t n;
        char *s = next_line(data, len, &pos, &n);
        if (n == 0) continue; /* blank lines (a final newline) */
        char why[RB_TASK_WHY];
        json_object *o = parse_line(tk, s, n, why);
        if (!o) {
            rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: %s", path, line, why);
            break;
        }
        rb_zs_item *it = &t.items[t.n_items];
        int bad = def_item(d, o, it, why);
        t.n_items++;
        json_object_put(o);
        if (bad) rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: %s item: %s", path, line, d->name, why);
        else if (!(it->doc = dup_range(s, n))) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    json_tokener_free(tk);
    free(data);
    if (!rc && t.n_items == 0) rc = rb_error_set(err, RB_EFORMAT, "%s: no items", path);
    if (rc) {
        rb_zs_task_free(&t);
        return rc;
    }
    *out = t;
    return RB_OK;
}

/* X.jsonl → X-labels.lst: one 0-based label per item */
static int read_labels_file(const char *path, rb_zs_task *out, rb_error *err) {
    char lpath[1100];
    size_t pl = strlen(path);
    if (pl > 6 && strcmp(path + pl - 6, ".jsonl") == 0)
        snprintf(lpath, sizeof lpath, "%.*s-labels.lst", (int)(pl - 6), path);
    else
        snprintf(lpath, sizeof lpath, "%s-labels.lst", path);
    char *data = NULL;
    size_t len = 0;
    int rc = rb_read_file(lpath, 0, &data, &len, err);
    size_t pos = 0, line = 0;
    while (!rc && pos < len) {
        line++;
        size_t n;
        const char *s = next_line(data, len, &pos, &n);
        if (line > out->n_items)
            rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: more labels than the %zu items of %s",
                              lpath, line, out->n_items, path);
        else if (n != 1 || s[0] < '0' || s[0] >= '0' + out->items[line - 1].n_choices)
            rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: label '%.*s' is not 0..%d", lpath, line,
                              (int)(n > 40 ? 40 : n), s, out->items[line - 1].n_choices - 1);
        else {
            /* the gold goes into the doc too, as HF piqa's "label" */
            rb_zs_item *it = &out->items[line - 1];
            it->gold = s[0] - '0';
            char *doc = it->doc ? doc_with_int(it->doc, "label", it->gold) : NULL;
            if (it->doc && !doc) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
            free(it->doc);
            it->doc = doc;
        }
    }
    if (!rc && line != out->n_items)
        rc = rb_error_set(err, RB_EFORMAT, "%s: %zu labels for the %zu items of %s", lpath, line,
                          out->n_items, path);
    free(data);
    return rc;
}

const char *rb_zs_task_names(char *buf, size_t cap) { return rb_task_def_names(buf, cap); }

int rb_zs_task_load(const char *name, const char *path, rb_zs_task *out, rb_error *err) {
    const rb_task_def *d = rb_task_def_find(name);
    char names[256];
    if (!d)
        return rb_error_set(err, RB_EINVAL, "unknown zero-shot task '%s' (known: %s)", name,
                            rb_zs_task_names(names, sizeof names));
    if (d->format == RB_TASK_HELLASWAG_TXT) return rb_hellaswag_load(path, out, err);
    int rc = load_jsonl(path, d, out, err);
    if (!rc && d->gold == RB_GOLD_LABELS_FILE && (rc = read_labels_file(path, out, err)))
        rb_zs_task_free(out);
    return rc;
}
