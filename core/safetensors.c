/* safetensors parsing and validation (see core/safetensors.h). */
#include "core/safetensors.h"
#include "base/io.h"
#include "base/json_text.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The format caps its header at 100 MB. */
#define MAX_HEADER_BYTES (100ull * 1000 * 1000)

static const struct { const char *name; int bytes; } dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
    {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},  {"BOOL", 1},
    {"F8_E4M3", 1}, {"F8_E5M2", 1}};

static int dtype_bytes(const char *d) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(d, dtypes[i].name) == 0) return dtypes[i].bytes;
    return 0;
}

static int get_u64(json_object *v, uint64_t *out) {
    if (!v || !json_object_is_type(v, json_type_int)) return 0;
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (x < 0 || errno) return 0;
    *out = (uint64_t)x;
    return 1;
}

static int parse_tensor(const char *what, const char *name, json_object *o, uint64_t data_bytes,
                        rb_st_tensor *t, rb_error *err) {
    if (!json_object_is_type(o, json_type_object))
        return rb_error_set(err, RB_EFORMAT, "%s: header entry \"%.200s\" is not an object", what,
                            name);
    json_object *d, *sh, *off;
    if (!json_object_object_get_ex(o, "dtype", &d) || !json_object_is_type(d, json_type_string))
        return rb_error_set(err, RB_EFORMAT, "%s: tensor \"%.200s\" has no dtype string", what,
                            name);
    const char *ds = json_object_get_string(d);
    int eb = dtype_bytes(ds);
    if (!eb)
        return rb_error_set(err, RB_EFORMAT, "%s: tensor \"%.200s\" has unknown dtype \"%.32s\"",
                            what, name, ds);
    snprintf(t->dtype, sizeof t->dtype, "%s", ds);
    t->elem_bytes = eb;
    if (!json_object_object_get_ex(o, "shape", &sh) || !json_object_is_type(sh, json_type_array))
        return rb_error_set(err, RB_EFORMAT, "%s: tensor \"%.200s\" has no shape array", what,
                            name);
    size_t nd = json_object_array_length(sh);
    if (nd > RB_ST_MAX_DIMS)
        return rb_error_set(err, RB_EFORMAT, "%s: tensor \"%.200s\" has %zu dimensions (at most %d)",
                            what, name, nd, RB_ST_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t elems = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t v;
        if (!get_u64(json_object_array_get_idx(sh, i), &v) || v > (1ull << 40))
            return rb_error_set(err, RB_EFORMAT,
                                "%s: tensor \"%.200s\" shape[%zu] is not an integer in 0..2^40",
                                what, name, i);
        t->shape[i] = (int64_t)v;
        if (v && elems > UINT64_MAX / v)
            return rb_error_set(err, RB_EFORMAT, "%s: tensor \"%.200s\" shape overflows", what,
                                name);
        elems *= v;
    }
    if (!json_object_object_get_ex(o, "data_offsets", &off) ||
        !json_object_is_type(off, json_type_array) || json_object_array_length(off) != 2 ||
        !get_u64(json_object_array_get_idx(off, 0), &t->begin) ||
        !get_u64(json_object_array_get_idx(off, 1), &t->end))
        return rb_error_set(err, RB_EFORMAT,
                            "%s: tensor \"%.200s\" needs data_offsets [begin, end] of "
                            "non-negative integers",
                            what, name);
    if (t->begin > t->end || t->end > data_bytes)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: tensor \"%.200s\" data_offsets [%llu, %llu] are out of range: "
                            "the data buffer has %llu bytes",
                            what, name, (unsigned long long)t->begin, (unsigned long long)t->end,
                            (unsigned long long)data_bytes);
    if (elems > UINT64_MAX / (uint64_t)eb || elems * (uint64_t)eb != t->end - t->begin)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: tensor \"%.200s\" (%s, %llu elements) needs %llu bytes but its "
                            "data_offsets [%llu, %llu] hold %llu",
                            what, name, ds, (unsigned long long)elems,
                            (unsigned long long)(elems * (uint64_t)eb),
                            (unsigned long long)t->begin, (unsigned long long)t->end,
                            (unsigned long long)(t->end - t->begin));
    return RB_OK;
}

static int cmp_begin(const void *a, const void *b, void *ctx) {
    const rb_st_tensor *t = ctx;
    const rb_st_tensor *x = &t[*(const size_t *)a], *y = &t[*(const size_t *)b];
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Every byte of the buffer in exactly one tensor. */
static int check_coverage(const char *what, const rb_safetensors *st, uint64_t data_bytes,
                          rb_error *err) {
    size_t *idx = malloc(sizeof *idx * (st->n ? st->n : 1));
    if (!idx) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < st->n; i++) idx[i] = i;
    qsort_r(idx, st->n, sizeof *idx, cmp_begin, st->t);
    uint64_t at = 0;
    int rc = RB_OK;
    for (size_t i = 0; i < st->n && !rc; i++) {
        const rb_st_tensor *t = &st->t[idx[i]];
        if (t->begin < at)
            rc = rb_error_set(err, RB_EFORMAT,
                              "%s: tensor \"%.200s\" data_offsets [%llu, %llu] overlap tensor "
                              "\"%.200s\"",
                              what, t->name, (unsigned long long)t->begin,
                              (unsigned long long)t->end, st->t[idx[i - 1]].name);
        else if (t->begin > at)
            rc = rb_error_set(err, RB_EFORMAT,
                              "%s: bytes %llu..%llu of the data buffer belong to no tensor (a "
                              "hole before \"%.200s\")",
                              what, (unsigned long long)at, (unsigned long long)t->begin, t->name);
        at = t->end;
    }
    if (!rc && at != data_bytes)
        rc = rb_error_set(err, RB_EFORMAT,
                          "%s: the tensors cover %llu bytes but the data buffer has %llu "
                          "(trailing bytes)",
                          what, (unsigned long long)at, (unsigned long long)data_bytes);
    free(idx);
    return rc;
}

int rb_safetensors_parse(const unsigned char *buf, uint64_t size, const char *what,
                         rb_safetensors *st, rb_error *err) {
    memset(st, 0, sizeof *st);
    snprintf(st->path, sizeof st->path, "%s", what);
    if (size < 8)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: file has %llu bytes, too short for a safetensors header length "
                            "(8 bytes)",
                            what, (unsigned long long)size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n > size - 8)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: header length %llu runs past the end of the file (%llu bytes; "
                            "truncated?)",
                            what, (unsigned long long)n, (unsigned long long)size);
    if (n > MAX_HEADER_BYTES || n < 2)
        return rb_error_set(err, RB_EFORMAT, "%s: header length %llu is outside 2..%llu", what,
                            (unsigned long long)n, MAX_HEADER_BYTES);
    const char *text = (const char *)buf + 8;
    if (text[0] != '{')
        return rb_error_set(err, RB_EFORMAT, "%s: the header does not start with '{'", what);
    /* the format pads the header with spaces (0x20) only */
    json_object *root;
    int rc = rb_json_parse_object_padded(text, n, MAX_HEADER_BYTES, what, "the header", " ", &root,
                                         err);
    if (rc) return rc;
    uint64_t data_bytes = size - 8 - n;
    st->data = buf;
    st->size = size;
    st->data_start = 8 + n;
    size_t count = 0, name_bytes = 0;
    if (!rc) {
        json_object_object_foreach(root, key, val) {
            (void)val;
            if (strcmp(key, "__metadata__") == 0) continue;
            count++;
            name_bytes += strlen(key) + 1;
        }
        st->t = calloc(count ? count : 1, sizeof *st->t);
        st->names = malloc(name_bytes ? name_bytes : 1);
        if (!st->t || !st->names) rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", what);
    }
    char *np = st->names;
    if (!rc) {
        json_object_object_foreach(root, key, val) {
            if (strcmp(key, "__metadata__") == 0) {
                if (!json_object_is_type(val, json_type_object)) {
                    rc = rb_error_set(err, RB_EFORMAT, "%s: __metadata__ is not an object", what);
                    break;
                }
                continue;
            }
            rb_st_tensor *t = &st->t[st->n];
            size_t kl = strlen(key) + 1;
            memcpy(np, key, kl);
            t->name = np;
            np += kl;
            if ((rc = parse_tensor(what, key, val, data_bytes, t, err))) break;
            st->n++;
        }
    }
    json_object_put(root);
    if (!rc) rc = check_coverage(what, st, data_bytes, err);
    if (!rc)
        for (size_t i = 0; i < st->n; i++) {
            st->t[i].begin += st->data_start;
            st->t[i].end += st->data_start;
        }
    if (rc) rb_safetensors_close(st);
    return rc;
}

int rb_safetensors_open(const char *path, rb_safetensors *st, rb_error *err) {
    memset(st, 0, sizeof *st);
    void *map;
    uint64_t size;
    int rc = rb_map_file(path, &map, &size, err);
    if (rc) return rc;
    static const unsigned char empty[1];
    rc = rb_safetensors_parse(map ? map : empty, size, path, st, err);
    if (rc) {
        rb_unmap_file(map, size);
        return rc;
    }
    st->map = map;
    return RB_OK;
}

const rb_st_tensor *rb_safetensors_find(const rb_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->n; i++)
        if (strcmp(st->t[i].name, name) == 0) return &st->t[i];
    return NULL;
}

void rb_safetensors_close(rb_safetensors *st) {
    rb_unmap_file(st->map, st->size);
    free(st->t);
    free(st->names);
    memset(st, 0, sizeof *st);
}
