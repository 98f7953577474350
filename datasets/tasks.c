#include "datasets/tasks.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/io.h"


static char *dup_range(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
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
            const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
            size_t n = nl ? (size_t)(nl - s) : len - pos;
            pos += n + (nl != NULL);
            if (n && s[n - 1] == '\r') n--;
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

typedef int (*item_fn)(json_object *o, rb_zs_item *it, const char **why);

static int set_text(char **dst, const char *a, const char *b, const char *c, const char *d,
                    const char *e) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(e);
    *dst = malloc(n + 1);
    if (!*dst) return -1;
    snprintf(*dst, n + 1, "%s%s%s%s%s", a, b, c, d, e);
    return 0;
}

static const char *get_str(json_object *o, const char *key) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int piqa_item(json_object *o, rb_zs_item *it, const char **why) {
    const char *g = get_str(o, "goal"), *s1 = get_str(o, "sol1"), *s2 = get_str(o, "sol2");
    if (!g || !s1 || !s2) return *why = "needs string fields goal, sol1, sol2", -1;
    it->n_choices = 2;
    if (set_text(&it->context, "Question: ", g, "\nAnswer:", "", "") ||
        set_text(&it->choices[0], s1, "", "", "", "") ||
        set_text(&it->choices[1], s2, "", "", "", ""))
        return *why = "out of memory", -1;
    it->gold = -1; /* from the labels file */
    return 0;
}

/* choices [{text,label}] (AI2) or {text: [...], label: [...]} (HF) */
static int mc_choices(json_object *choices, const char *key, rb_zs_item *it, const char **why) {
    json_object *texts = NULL, *labels = NULL;
    int n;
    if (json_object_is_type(choices, json_type_array)) {
        n = (int)json_object_array_length(choices);
    } else if (json_object_is_type(choices, json_type_object) &&
               json_object_object_get_ex(choices, "text", &texts) &&
               json_object_object_get_ex(choices, "label", &labels) &&
               json_object_is_type(texts, json_type_array) &&
               json_object_is_type(labels, json_type_array) &&
               json_object_array_length(texts) == json_object_array_length(labels)) {
        n = (int)json_object_array_length(texts);
    } else {
        return *why = "choices must be [{text, label}] or {text: [...], label: [...]}", -1;
    }
    if (n < 2 || n > RB_ZS_MAX_CHOICES) return *why = "needs 2..8 choices", -1;
    it->gold = -1;
    for (int i = 0; i < n; i++) {
        const char *t, *l;
        if (texts) {
            json_object *tv = json_object_array_get_idx(texts, (size_t)i);
            json_object *lv = json_object_array_get_idx(labels, (size_t)i);
            t = json_object_is_type(tv, json_type_string) ? json_object_get_string(tv) : NULL;
            l = json_object_is_type(lv, json_type_string) ? json_object_get_string(lv) : NULL;
        } else {
            json_object *c = json_object_array_get_idx(choices, (size_t)i);
            t = get_str(c, "text");
            l = get_str(c, "label");
        }
        if (!t || !l) return *why = "every choice needs string text and label", -1;
        if (set_text(&it->choices[i], t, "", "", "", "")) return *why = "out of memory", -1;
        it->n_choices = i + 1;
        if (strcmp(l, key) == 0) it->gold = i;
    }
    if (it->gold < 0) return *why = "answerKey is not one of the choice labels", -1;
    return 0;
}

static int arc_item(json_object *o, rb_zs_item *it, const char **why) {
    const char *q = get_str(o, "question"), *key = get_str(o, "answerKey");
    json_object *ch;
    if (!q || !key || !json_object_object_get_ex(o, "choices", &ch))
        return *why = "needs question (string), choices and answerKey (HF ai2_arc layout)", -1;
    if (set_text(&it->context, "Question: ", q, "\nAnswer:", "", ""))
        return *why = "out of memory", -1;
    return mc_choices(ch, key, it, why);
}

static int obqa_item(json_object *o, rb_zs_item *it, const char **why) {
    json_object *q, *ch;
    const char *key = get_str(o, "answerKey");
    const char *stem = NULL;
    if (json_object_object_get_ex(o, "question", &q)) stem = get_str(q, "stem");
    if (!stem || !key || !json_object_object_get_ex(q, "choices", &ch))
        return *why = "needs question.stem, question.choices and answerKey (AI2 layout)", -1;
    if (set_text(&it->context, stem, "", "", "", "")) return *why = "out of memory", -1;
    return mc_choices(ch, key, it, why);
}

static int boolq_item(json_object *o, rb_zs_item *it, const char **why) {
    const char *q = get_str(o, "question"), *p = get_str(o, "passage");
    json_object *a;
    if (!q || !p || !json_object_object_get_ex(o, "answer", &a) ||
        !json_object_is_type(a, json_type_boolean))
        return *why = "needs question, passage (strings) and answer (true/false)", -1;
    it->n_choices = 2;
    if (set_text(&it->context, p, "\nQuestion: ", q, "?\nAnswer:", "") ||
        set_text(&it->choices[0], "no", "", "", "", "") ||
        set_text(&it->choices[1], "yes", "", "", "", ""))
        return *why = "out of memory", -1;
    it->gold = json_object_get_boolean(a) ? 1 : 0;
    return 0;
}

static int load_jsonl(const char *path, const char *name, item_fn fn, rb_zs_task *out,
                      rb_error *err) {
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t len = 0;
    int rc = rb_read_file(path, 0, &data, &len, err);
    if (rc) return rc;
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++) n_lines += data[i] == '\n';
    rb_zs_task t = {.delimiter = " "};
    snprintf(t.name, sizeof t.name, "%s", name);
    t.items = calloc(n_lines, sizeof *t.items);
    if (!t.items) {
        free(data);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    json_tokener *tk = json_tokener_new();
    size_t pos = 0, line = 0;
    while (pos < len && !rc) {
        line++;
        char *s = data + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        if (n && s[n - 1] == '\r') n--;
        if (n == 0) continue; /* blank lines (a final newline) */
        json_tokener_reset(tk);
        json_object *o = json_tokener_parse_ex(tk, s, (int)n);
        if (!o || json_tokener_get_error(tk) != json_tokener_success ||
            !json_object_is_type(o, json_type_object)) {
            rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: not a JSON object (%s)", path, line,
                              o ? "wrong type" : json_tokener_error_desc(json_tokener_get_error(tk)));
            json_object_put(o);
            break;
        }
        const char *why = NULL;
        int bad = fn(o, &t.items[t.n_items], &why);
        t.n_items++;
        json_object_put(o);
        if (bad) rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: %s item: %s", path, line, name, why);
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

/* X.jsonl → X-labels.lst: one label 0/1 per item */
static int load_piqa(const char *path, rb_zs_task *out, rb_error *err) {
    int rc = load_jsonl(path, "piqa", piqa_item, out, err);
    if (rc) return rc;
    char lpath[1100];
    size_t pl = strlen(path);
    if (pl > 6 && strcmp(path + pl - 6, ".jsonl") == 0)
        snprintf(lpath, sizeof lpath, "%.*s-labels.lst", (int)(pl - 6), path);
    else
        snprintf(lpath, sizeof lpath, "%s-labels.lst", path);
    char *data = NULL;
    size_t len = 0;
    rc = rb_read_file(lpath, 0, &data, &len, err);
    size_t pos = 0, line = 0;
    while (!rc && pos < len) {
        line++;
        const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        if (n && s[n - 1] == '\r') n--;
        if (line > out->n_items)
            rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: more labels than the %zu items of %s",
                              lpath, line, out->n_items, path);
        else if (n != 1 || (s[0] != '0' && s[0] != '1'))
            rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: label '%.*s' is not 0 or 1", lpath, line,
                              (int)(n > 40 ? 40 : n), s);
        else
            out->items[line - 1].gold = s[0] - '0';
    }
    if (!rc && line != out->n_items)
        rc = rb_error_set(err, RB_EFORMAT, "%s: %zu labels for the %zu items of %s", lpath, line,
                          out->n_items, path);
    free(data);
    if (rc) rb_zs_task_free(out);
    return rc;
}

/* sentence with one "_": contexts sentence[:_] + option_i, the shared
 * continuation sentence[_+1:].strip() */
static int wino_item(json_object *o, rb_zs_item *it, const char **why) {
    const char *s = get_str(o, "sentence"), *o1 = get_str(o, "option1"),
               *o2 = get_str(o, "option2"), *a = get_str(o, "answer");
    if (!s || !o1 || !o2 || !a)
        return *why = "needs string fields sentence, option1, option2, answer", -1;
    const char *blank = strchr(s, '_');
    if (!blank) return *why = "sentence has no '_' blank", -1;
    if (strcmp(a, "1") && strcmp(a, "2")) return *why = "answer must be \"1\" or \"2\"", -1;
    const char *tail = blank + 1, *end = tail + strlen(tail);
    while (*tail == ' ' || *tail == '\t' || *tail == '\n') tail++;
    while (end > tail && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n')) end--;
    int pre = (int)(blank - s);
    it->n_choices = 2;
    it->gold = a[0] - '1';
    size_t tl = (size_t)(end - tail);
    it->context = malloc(tl + 1);
    if (!it->context) return *why = "out of memory", -1;
    memcpy(it->context, tail, tl);
    it->context[tl] = 0;
    const char *opt[2] = {o1, o2};
    for (int i = 0; i < 2; i++) {
        size_t n = (size_t)pre + strlen(opt[i]);
        it->choices[i] = malloc(n + 1);
        if (!it->choices[i]) return *why = "out of memory", -1;
        snprintf(it->choices[i], n + 1, "%.*s%s", pre, s, opt[i]);
    }
    return 0;
}

/* context = text up to its last ' ', target = " " + the last word */
static int lambada_item(json_object *o, rb_zs_item *it, const char **why) {
    const char *t = get_str(o, "text");
    if (!t) return *why = "needs a string field text", -1;
    const char *sp = strrchr(t, ' ');
    if (!sp || !sp[1] || sp == t) return *why = "text needs at least two space-separated words", -1;
    it->n_choices = 1;
    it->gold = 0;
    int pre = (int)(sp - t);
    it->context = malloc((size_t)pre + 1);
    if (!it->context || set_text(&it->choices[0], sp, "", "", "", ""))
        return *why = "out of memory", -1;
    memcpy(it->context, t, (size_t)pre);
    it->context[pre] = 0;
    return 0;
}

const char *rb_zs_task_names(void) {
    return "hellaswag, piqa, arc_easy, arc_challenge, openbookqa, boolq, winogrande, lambada";
}

int rb_zs_task_load(const char *name, const char *path, rb_zs_task *out, rb_error *err) {
    if (strcmp(name, "hellaswag") == 0) return rb_hellaswag_load(path, out, err);
    if (strcmp(name, "piqa") == 0) return load_piqa(path, out, err);
    if (strcmp(name, "arc_easy") == 0 || strcmp(name, "arc_challenge") == 0)
        return load_jsonl(path, name, arc_item, out, err);
    if (strcmp(name, "openbookqa") == 0) return load_jsonl(path, name, obqa_item, out, err);
    if (strcmp(name, "boolq") == 0) return load_jsonl(path, name, boolq_item, out, err);
    if (strcmp(name, "winogrande") == 0) {
        int rc = load_jsonl(path, name, wino_item, out, err);
        if (!rc) out->kind = RB_ZS_PARTIAL;
        return rc;
    }
    if (strcmp(name, "lambada") == 0) {
        int rc = load_jsonl(path, name, lambada_item, out, err);
        if (!rc) {
            out->kind = RB_ZS_GREEDY;
            out->delimiter = ""; /* the target carries its space */
        }
        return rc;
    }
    return rb_error_set(err, RB_EINVAL, "unknown zero-shot task '%s' (known: %s)", name,
                        rb_zs_task_names());
}
