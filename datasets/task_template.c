/* Template rendering and list resolution for the task definitions
 * (datasets/task_defs.h). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "datasets/task_defs.h"

/* The json value at a dotted path, or NULL. */
static json_object *at_path(json_object *o, const char *path, size_t len) {
    const char *p = path, *end = path + len;
    while (o && p < end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
        char key[128];
        if (n == 0 || n >= sizeof key || !json_object_is_type(o, json_type_object)) return NULL;
        memcpy(key, p, n);
        key[n] = 0;
        if (!json_object_object_get_ex(o, key, &o)) return NULL;
        p += n + (dot != NULL);
    }
    return o;
}

/* The first alternative of "a|b" that is a string field. */
static const char *string_at(json_object *o, const char *alts, size_t len) {
    const char *p = alts, *end = alts + len;
    for (;;) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        size_t n = bar ? (size_t)(bar - p) : (size_t)(end - p);
        json_object *v = at_path(o, p, n);
        if (v && json_object_is_type(v, json_type_string)) return json_object_get_string(v);
        if (!bar) return NULL;
        p = bar + 1;
    }
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Appends filter(s) to b; -1 with *why on failure. */
static int apply_filter(rb_buf *b, const char *s, const char *f, size_t fl, char *why) {
    if (fl == 0) {
        rb_buf_puts(b, s);
        return 0;
    }
#define IS(name) (fl == strlen(name) && memcmp(f, name, fl) == 0)
    if (IS("before_blank") || IS("after_blank")) {
        const char *blank = strchr(s, '_');
        if (!blank) return snprintf(why, RB_TASK_WHY, "the sentence has no '_' blank"), -1;
        if (IS("before_blank")) {
            rb_buf_append(b, s, (size_t)(blank - s));
        } else {
            const char *t = blank + 1, *e = t + strlen(t);
            while (is_space(*t)) t++;
            while (e > t && is_space(e[-1])) e--;
            rb_buf_append(b, t, (size_t)(e - t));
        }
        return 0;
    }
    if (IS("but_last_word") || IS("last_word")) {
        const char *sp = strrchr(s, ' ');
        if (!sp) return snprintf(why, RB_TASK_WHY, "the text has no ' ' before a last word"), -1;
        if (IS("but_last_word"))
            rb_buf_append(b, s, (size_t)(sp - s));
        else
            rb_buf_puts(b, sp + 1);
        return 0;
    }
#undef IS
    return snprintf(why, RB_TASK_WHY, "unknown template filter '%.*s'", (int)fl, f), -1;
}

int rb_task_render(const char *t, json_object *o, char **out, char *why) {
    rb_buf b = {0};
    *out = NULL;
    for (const char *p = t; *p;) {
        const char *open = strchr(p, '{');
        if (!open) {
            rb_buf_puts(&b, p);
            break;
        }
        rb_buf_append(&b, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        if (!close) {
            rb_buf_free(&b);
            return snprintf(why, RB_TASK_WHY, "template has an unclosed '{'"), -1;
        }
        const char *colon = memchr(open, ':', (size_t)(close - open));
        size_t pl = (size_t)((colon ? colon : close) - open - 1);
        const char *s = string_at(o, open + 1, pl);
        if (!s) {
            rb_buf_free(&b);
            return snprintf(why, RB_TASK_WHY, "needs a string field %.*s", (int)pl, open + 1), -1;
        }
        if (apply_filter(&b, s, colon ? colon + 1 : close, colon ? (size_t)(close - colon - 1) : 0,
                         why)) {
            rb_buf_free(&b);
            return -1;
        }
        p = close + 1;
    }
    if (!b.oom) *out = rb_buf_take(&b);
    rb_buf_free(&b);
    return *out ? 0 : (snprintf(why, RB_TASK_WHY, "out of memory"), -1);
}

/* One list path: "a.b" (array of strings) or "a.b[].c" (field c of each
 * object of the array a.b). */
static int list_one(const char *path, size_t len, json_object *o, const char **items, int cap) {
    const char *br = NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if (path[i] == '[' && path[i + 1] == ']') br = path + i;
    json_object *arr = at_path(o, path, br ? (size_t)(br - path) : len);
    if (!arr || !json_object_is_type(arr, json_type_array)) return -1;
    int n = (int)json_object_array_length(arr);
    if (n > cap) return -1;
    for (int i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, (size_t)i);
        if (br) {
            const char *f = br + 3; /* after "[]." */
            if (br + 2 >= path + len || br[2] != '.') return -1;
            e = at_path(e, f, (size_t)(path + len - f));
        }
        if (!e || !json_object_is_type(e, json_type_string)) return -1;
        items[i] = json_object_get_string(e);
    }
    return n;
}

int rb_task_list(const char *spec, json_object *o, const char **items, int cap, int *which) {
    const char *p = spec;
    for (int k = 0;; k++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        int got = list_one(p, n, o, items, cap);
        if (got >= 0) {
            *which = k;
            return got;
        }
        if (!bar) return -1;
        p = bar + 1;
    }
}
