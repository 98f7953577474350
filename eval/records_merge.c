/* Several results files as one (eval/records_merge.h). */
#include "eval/records_merge.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/sweep_expand.h"

int rb_records_merge_ignored(const char *key) {
    size_t n = strlen(key);
    return !strcmp(key, "provenance") || !strcmp(key, "blas_kernels") ||
           !strcmp(key, "seconds") || (n > 8 && !strcmp(key + n - 8, "_seconds")) ||
           (n > 11 && !strcmp(key + n - 11, "_per_second"));
}

/* Deletes the ignored keys of o at any depth (o is a private copy). */
static void strip_ignored(json_object *o) {
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            strip_ignored(json_object_array_get_idx(o, i));
        return;
    }
    if (!json_object_is_type(o, json_type_object)) return;
    int again = 1;
    while (again) { /* deleting while iterating is not allowed: one key per pass */
        again = 0;
        json_object_object_foreach(o, k, v) {
            if (rb_records_merge_ignored(k)) {
                json_object_object_del(o, k);
                again = 1;
                break;
            }
            strip_ignored(v);
        }
    }
}

/* The canonical text of rec without the ignored fields (malloc'd; NULL when
 * out of memory), and the stripped copy in *copy. */
static char *compared_text(json_object *rec, json_object **copy) {
    *copy = NULL;
    if (json_object_deep_copy(rec, copy, NULL) || !*copy) return NULL;
    strip_ignored(*copy);
    return rb_json_canonical(*copy);
}

/* The first top-level field where a and b (stripped) differ. */
static void first_difference(json_object *a, json_object *b, char *out, size_t cap) {
    snprintf(out, cap, "?");
    json_object_object_foreach(a, k, va) {
        json_object *vb;
        if (!json_object_object_get_ex(b, k, &vb)) {
            snprintf(out, cap, "\"%s\" (only in the first)", k);
            return;
        }
        char *ta = rb_json_canonical(va), *tb = rb_json_canonical(vb);
        int same = ta && tb && !strcmp(ta, tb);
        if (!same) snprintf(out, cap, "\"%s\" (%.60s vs %.60s)", k, ta ? ta : "?", tb ? tb : "?");
        free(ta);
        free(tb);
        if (!same) return;
    }
    json_object_object_foreach(b, k2, vb2) {
        (void)vb2;
        if (!json_object_object_get_ex(a, k2, NULL)) {
            snprintf(out, cap, "\"%s\" (only in the second)", k2);
            return;
        }
    }
}

typedef struct keyed {
    const char *key; /* run_key (borrowed from the record) */
    size_t file, index;
    json_object *rec;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c) return c;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int rb_records_merge_parsed(const rb_records *files, const char *const *names, size_t n_files,
                            rb_records *out, rb_merge_info *info, rb_error *err) {
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    info->n_files = n_files;
    size_t total = 0;
    for (size_t f = 0; f < n_files; f++) total += rb_records_count(&files[f]);
    keyed *ks = malloc((total ? total : 1) * sizeof *ks);
    unsigned char *drop = calloc(total ? total : 1, 1);
    out->items = json_object_new_array();
    int rc = RB_OK;
    if (!ks || !drop || !out->items) {
        rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        goto done;
    }
    /* the keyed records, sorted by key then position: duplicates are adjacent */
    size_t nk = 0, pos = 0;
    for (size_t f = 0; f < n_files; f++)
        for (size_t i = 0; i < rb_records_count(&files[f]); i++, pos++) {
            json_object *rec = rb_records_get(&files[f], i), *k;
            if (json_object_object_get_ex(rec, "run_key", &k) &&
                json_object_is_type(k, json_type_string))
                ks[nk++] = (keyed){json_object_get_string(k), f, pos, rec};
        }
    qsort(ks, nk, sizeof *ks, cmp_keyed);
    for (size_t i = 0; i < nk && !rc;) {
        size_t j = i + 1;
        while (j < nk && !strcmp(ks[j].key, ks[i].key)) j++;
        if (j - i > 1) {
            json_object *first_copy;
            char *first = compared_text(ks[i].rec, &first_copy);
            if (!first) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
            for (size_t d = i + 1; d < j && !rc; d++) {
                json_object *copy;
                char *text = compared_text(ks[d].rec, &copy);
                if (!text) {
                    rc = rb_error_set(err, RB_ENOMEM, "out of memory");
                } else if (strcmp(text, first)) {
                    char what[200];
                    first_difference(first_copy, copy, what, sizeof what);
                    size_t ia = ks[i].index, id = ks[d].index;
                    for (size_t f = 0; f < ks[i].file; f++) ia -= rb_records_count(&files[f]);
                    for (size_t f = 0; f < ks[d].file; f++) id -= rb_records_count(&files[f]);
                    rc = rb_error_set(err, RB_EINVAL,
                                      "conflicting records for run %.200s: %s (record %zu) and "
                                      "%s (record %zu) differ in %s; remove one of them",
                                      ks[i].key, names[ks[i].file], ia + 1, names[ks[d].file],
                                      id + 1, what);
                } else {
                    drop[ks[d].index] = 1;
                    info->n_duplicates++;
                }
                free(text);
                json_object_put(copy);
            }
            free(first);
            json_object_put(first_copy);
        }
        i = j;
    }
    pos = 0;
    for (size_t f = 0; f < n_files && !rc; f++) {
        for (size_t i = 0; i < rb_records_count(&files[f]) && !rc; i++, pos++) {
            if (drop[pos]) continue;
            json_object *rec = rb_records_get(&files[f], i);
            if (json_object_array_add(out->items, json_object_get(rec))) {
                json_object_put(rec);
                rc = rb_error_set(err, RB_ENOMEM, "out of memory");
            }
        }
        out->n_lines += files[f].n_lines;
        if (!rc && files[f].n_issues) {
            rb_records_issue *p =
                realloc(out->issues, (out->n_issues + files[f].n_issues) * sizeof *p);
            if (!p) {
                rc = rb_error_set(err, RB_ENOMEM, "out of memory");
                break;
            }
            memcpy(p + out->n_issues, files[f].issues, files[f].n_issues * sizeof *p);
            out->issues = p;
            out->n_issues += files[f].n_issues;
        }
    }
done:
    free(ks);
    free(drop);
    if (rc) rb_records_free(out);
    return rc;
}

static int is_pattern(const char *s) { return strpbrk(s, "*?[") != NULL; }

/* Appends path to the list unless it is there already. */
static int add_path(char ***paths, size_t *n, const char *path, rb_error *err) {
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*paths)[i], path)) return RB_OK;
    char **p = realloc(*paths, (*n + 1) * sizeof *p);
    if (!p) return rb_error_set(err, RB_ENOMEM, "out of memory");
    *paths = p;
    if (!(p[*n] = strdup(path))) return rb_error_set(err, RB_ENOMEM, "out of memory");
    (*n)++;
    return RB_OK;
}

int rb_records_merge(const char *const *sources, size_t n_sources, rb_records *out,
                     rb_merge_info *info, rb_error *err) {
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    char **paths = NULL;
    size_t n_paths = 0;
    int rc = RB_OK;
    for (size_t s = 0; s < n_sources && !rc; s++) {
        if (!is_pattern(sources[s])) {
            rc = add_path(&paths, &n_paths, sources[s], err);
            continue;
        }
        glob_t g;
        int gr = glob(sources[s], GLOB_ERR, NULL, &g);
        if (gr == GLOB_NOMATCH)
            rc = rb_error_set(err, RB_EINVAL, "%s: no results file matches this pattern",
                              sources[s]);
        else if (gr)
            rc = rb_error_set(err, gr == GLOB_NOSPACE ? RB_ENOMEM : RB_EIO,
                              "%s: cannot expand the pattern", sources[s]);
        for (size_t i = 0; !gr && i < g.gl_pathc && !rc; i++)
            rc = add_path(&paths, &n_paths, g.gl_pathv[i], err);
        if (gr != GLOB_NOMATCH) globfree(&g);
    }
    rb_records *files = rc ? NULL : calloc(n_paths ? n_paths : 1, sizeof *files);
    if (!rc && !files) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    size_t n_read = 0;
    for (; !rc && n_read < n_paths; n_read++)
        if ((rc = rb_records_read(paths[n_read], 0, &files[n_read], err))) break;
    if (!rc) rc = rb_records_merge_parsed(files, (const char *const *)paths, n_paths, out, info, err);
    for (size_t i = 0; i < n_read; i++) rb_records_free(&files[i]);
    free(files);
    for (size_t i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
    return rc;
}
