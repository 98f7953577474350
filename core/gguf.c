/* GGUF parsing and validation (see core/gguf.h). */
#include "core/gguf.h"
#include "base/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ARRAY_DEPTH = 4, MAX_NAME = 256 };

/* ggml's types: name, block size (elements), block bytes. */
static const struct { const char *name; uint32_t block, bytes; } ggml_types[] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},  [39] = {"MXFP4", 32, 17}};
enum { N_GGML_TYPES = sizeof ggml_types / sizeof *ggml_types };

const char *rb_ggml_type_name(uint32_t t) { return t < N_GGML_TYPES ? ggml_types[t].name : NULL; }

static const unsigned value_bytes[RB_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const value_names[RB_GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string",
    "array", "uint64", "int64", "float64"};

typedef struct cursor {
    const unsigned char *p;
    uint64_t at, size;
    const char *what;
    rb_error *err;
} cursor;

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int need(cursor *c, uint64_t n, const char *field) {
    if (n > c->size - c->at)
        return rb_error_set(c->err, RB_EFORMAT,
                            "%s: %s at byte %llu needs %llu bytes but the file ends at %llu "
                            "(truncated?)",
                            c->what, field, (unsigned long long)c->at, (unsigned long long)n,
                            (unsigned long long)c->size);
    return RB_OK;
}

static int rd(cursor *c, int n, uint64_t *v, const char *field) {
    int rc = need(c, (uint64_t)n, field);
    if (rc) return rc;
    *v = le(c->p + c->at, n);
    c->at += (uint64_t)n;
    return RB_OK;
}

static int rd_string(cursor *c, const char **s, uint64_t *len, const char *field) {
    int rc = rd(c, 8, len, field);
    if (!rc) rc = need(c, *len, field);
    if (rc) return rc;
    *s = (const char *)c->p + c->at;
    c->at += *len;
    return RB_OK;
}

/* Skips one value of type t (validating it); for arrays, depth counts nesting. */
static int skip_value(cursor *c, uint32_t t, int depth, const char *key, size_t key_len) {
    if (t >= RB_GGUF_TYPE_COUNT)
        return rb_error_set(c->err, RB_EFORMAT, "%s: key \"%.*s\" has unknown value type %u",
                            c->what, (int)(key_len > 200 ? 200 : key_len), key, t);
    if (t == RB_GGUF_STRING) {
        const char *s;
        uint64_t len;
        return rd_string(c, &s, &len, "a string value");
    }
    if (t != RB_GGUF_ARRAY) {
        int rc = need(c, value_bytes[t], value_names[t]);
        if (!rc) c->at += value_bytes[t];
        return rc;
    }
    if (depth >= MAX_ARRAY_DEPTH)
        return rb_error_set(c->err, RB_EFORMAT, "%s: key \"%.*s\" nests arrays deeper than %d",
                            c->what, (int)(key_len > 200 ? 200 : key_len), key, MAX_ARRAY_DEPTH);
    uint64_t et, n;
    int rc = rd(c, 4, &et, "an array's element type");
    if (!rc) rc = rd(c, 8, &n, "an array's length");
    if (rc) return rc;
    if (et >= RB_GGUF_TYPE_COUNT)
        return rb_error_set(c->err, RB_EFORMAT,
                            "%s: key \"%.*s\" is an array of unknown value type %llu", c->what,
                            (int)(key_len > 200 ? 200 : key_len), key, (unsigned long long)et);
    if (et != RB_GGUF_STRING && et != RB_GGUF_ARRAY) {
        uint64_t per = value_bytes[et];
        if (n > (c->size - c->at) / per)
            return rb_error_set(c->err, RB_EFORMAT,
                                "%s: key \"%.*s\": an array of %llu %s runs past the end of the "
                                "file",
                                c->what, (int)(key_len > 200 ? 200 : key_len), key,
                                (unsigned long long)n, value_names[et]);
        c->at += n * per;
        return RB_OK;
    }
    /* every string or array takes at least 8 bytes */
    if (n > (c->size - c->at) / 8)
        return rb_error_set(c->err, RB_EFORMAT,
                            "%s: key \"%.*s\": an array of %llu elements cannot fit in the file",
                            c->what, (int)(key_len > 200 ? 200 : key_len), key,
                            (unsigned long long)n);
    for (uint64_t i = 0; i < n && !rc; i++) rc = skip_value(c, (uint32_t)et, depth + 1, key, key_len);
    return rc;
}

static int key_is(const rb_gguf_kv *kv, const char *key) {
    return kv->key_len == strlen(key) && memcmp(kv->key, key, kv->key_len) == 0;
}

static int parse_kvs(cursor *c, rb_gguf *g, uint64_t n_kv) {
    for (uint64_t i = 0; i < n_kv; i++) {
        rb_gguf_kv *kv = &g->kv[i];
        uint64_t len, t;
        int rc = rd_string(c, &kv->key, &len, "a metadata key");
        if (!rc) rc = rd(c, 4, &t, "a metadata value type");
        if (rc) return rc;
        kv->key_len = (size_t)len;
        if (len == 0 || len > 65535)
            return rb_error_set(c->err, RB_EFORMAT, "%s: metadata key %llu has length %llu",
                                c->what, (unsigned long long)i, (unsigned long long)len);
        kv->type = t < RB_GGUF_TYPE_COUNT ? (rb_gguf_type)t : RB_GGUF_TYPE_COUNT;
        kv->value = c->p + c->at;
        if (t == RB_GGUF_STRING) {
            uint64_t sl;
            if ((rc = rd(c, 8, &sl, "a string length")) || (rc = need(c, sl, "a string value")))
                return rc;
            kv->value = c->p + c->at;
            kv->count = sl;
            c->at += sl;
        } else if (t == RB_GGUF_ARRAY) {
            uint64_t start = c->at;
            if ((rc = skip_value(c, (uint32_t)t, 0, kv->key, kv->key_len))) return rc;
            kv->elem_type = (rb_gguf_type)le(c->p + start, 4);
            kv->count = le(c->p + start + 4, 8);
            kv->value = c->p + start + 12;
        } else if ((rc = skip_value(c, (uint32_t)t, 0, kv->key, kv->key_len))) {
            return rc;
        }
        g->n_kv++;
        if (key_is(kv, "general.alignment")) {
            if (kv->type != RB_GGUF_U32)
                return rb_error_set(c->err, RB_EFORMAT, "%s: general.alignment is a %s, not a uint32",
                                    c->what, kv->type < RB_GGUF_TYPE_COUNT ? value_names[kv->type] : "?");
            uint64_t a = le(kv->value, 4);
            if (a == 0 || (a & (a - 1)) || a > (1u << 20))
                return rb_error_set(c->err, RB_EFORMAT,
                                    "%s: general.alignment = %llu is not a power of two up to 2^20",
                                    c->what, (unsigned long long)a);
            g->alignment = a;
        }
    }
    return RB_OK;
}

static int cmp_key(const void *a, const void *b) {
    const rb_gguf_kv *x = *(const rb_gguf_kv *const *)a, *y = *(const rb_gguf_kv *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static int check_unique_keys(cursor *c, const rb_gguf *g) {
    const rb_gguf_kv **s = malloc(sizeof *s * (g->n_kv ? g->n_kv : 1));
    if (!s) return rb_error_set(c->err, RB_ENOMEM, "%s: out of memory", c->what);
    for (size_t i = 0; i < g->n_kv; i++) s[i] = &g->kv[i];
    qsort(s, g->n_kv, sizeof *s, cmp_key);
    int rc = RB_OK;
    for (size_t i = 1; i < g->n_kv && !rc; i++)
        if (cmp_key(&s[i - 1], &s[i]) == 0)
            rc = rb_error_set(c->err, RB_EFORMAT, "%s: metadata key \"%.*s\" appears twice",
                              c->what, (int)(s[i]->key_len > 200 ? 200 : s[i]->key_len), s[i]->key);
    free(s);
    return rc;
}

static int parse_tensor_infos(cursor *c, rb_gguf *g, uint64_t n_t) {
    for (uint64_t i = 0; i < n_t; i++) {
        rb_gguf_tensor *t = &g->t[i];
        uint64_t len, nd, type, off;
        int rc = rd_string(c, &t->name, &len, "a tensor name");
        if (!rc) rc = rd(c, 4, &nd, "a tensor's n_dims");
        if (rc) return rc;
        t->name_len = (size_t)len;
        int nl = (int)(len > 200 ? 200 : len);
        if (len == 0 || len >= MAX_NAME)
            return rb_error_set(c->err, RB_EFORMAT, "%s: tensor %llu has a name of %llu bytes",
                                c->what, (unsigned long long)i, (unsigned long long)len);
        if (nd < 1 || nd > 4)
            return rb_error_set(c->err, RB_EFORMAT, "%s: tensor \"%.*s\" has n_dims = %llu (1..4)",
                                c->what, nl, t->name, (unsigned long long)nd);
        t->n_dims = (uint32_t)nd;
        t->n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            if ((rc = rd(c, 8, &t->ne[d], "a tensor dimension"))) return rc;
            if (t->ne[d] == 0 || t->ne[d] > (1ull << 40) || t->n > UINT64_MAX / t->ne[d])
                return rb_error_set(c->err, RB_EFORMAT,
                                    "%s: tensor \"%.*s\" dimension %u = %llu is out of range",
                                    c->what, nl, t->name, d, (unsigned long long)t->ne[d]);
            t->n *= t->ne[d];
        }
        for (uint32_t d = t->n_dims; d < 4; d++) t->ne[d] = 1;
        if ((rc = rd(c, 4, &type, "a tensor type")) || (rc = rd(c, 8, &off, "a tensor offset")))
            return rc;
        if (!rb_ggml_type_name((uint32_t)type))
            return rb_error_set(c->err, RB_EFORMAT, "%s: tensor \"%.*s\" has unknown ggml type %llu",
                                c->what, nl, t->name, (unsigned long long)type);
        t->type = (uint32_t)type;
        uint32_t blk = ggml_types[type].block;
        if (t->ne[0] % blk)
            return rb_error_set(c->err, RB_EFORMAT,
                                "%s: tensor \"%.*s\": ne[0] = %llu is not a multiple of %s's block "
                                "of %u",
                                c->what, nl, t->name, (unsigned long long)t->ne[0],
                                ggml_types[type].name, blk);
        t->bytes = t->n / blk * ggml_types[type].bytes;
        t->offset = off;
    }
    return RB_OK;
}

static int cmp_off(const void *a, const void *b) {
    const rb_gguf_tensor *x = *(const rb_gguf_tensor *const *)a, *y = *(const rb_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int cmp_name(const void *a, const void *b) {
    const rb_gguf_tensor *x = *(const rb_gguf_tensor *const *)a, *y = *(const rb_gguf_tensor *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* Offsets aligned, data inside the file, no overlaps, no duplicate names. */
static int check_data(cursor *c, rb_gguf *g) {
    uint64_t avail = g->size - g->data_start;
    for (size_t i = 0; i < g->n_t; i++) {
        rb_gguf_tensor *t = &g->t[i];
        int nl = (int)(t->name_len > 200 ? 200 : t->name_len);
        if (t->offset % g->alignment)
            return rb_error_set(c->err, RB_EFORMAT,
                                "%s: tensor \"%.*s\" offset %llu is not a multiple of the "
                                "alignment %llu",
                                c->what, nl, t->name, (unsigned long long)t->offset,
                                (unsigned long long)g->alignment);
        if (t->offset > avail || t->bytes > avail - t->offset)
            return rb_error_set(c->err, RB_EFORMAT,
                                "%s: tensor \"%.*s\" data [%llu, +%llu) runs past the end of the "
                                "file (%llu bytes of data)",
                                c->what, nl, t->name, (unsigned long long)t->offset,
                                (unsigned long long)t->bytes, (unsigned long long)avail);
    }
    rb_gguf_tensor **s = malloc(sizeof *s * (g->n_t ? g->n_t : 1));
    if (!s) return rb_error_set(c->err, RB_ENOMEM, "%s: out of memory", c->what);
    for (size_t i = 0; i < g->n_t; i++) s[i] = &g->t[i];
    int rc = RB_OK;
    qsort(s, g->n_t, sizeof *s, cmp_off);
    for (size_t i = 1; i < g->n_t && !rc; i++)
        if (s[i]->offset < s[i - 1]->offset + s[i - 1]->bytes)
            rc = rb_error_set(c->err, RB_EFORMAT, "%s: tensors \"%.*s\" and \"%.*s\" overlap",
                              c->what, (int)(s[i - 1]->name_len > 200 ? 200 : s[i - 1]->name_len),
                              s[i - 1]->name, (int)(s[i]->name_len > 200 ? 200 : s[i]->name_len),
                              s[i]->name);
    qsort(s, g->n_t, sizeof *s, cmp_name);
    for (size_t i = 1; i < g->n_t && !rc; i++)
        if (cmp_name(&s[i - 1], &s[i]) == 0)
            rc = rb_error_set(c->err, RB_EFORMAT, "%s: tensor \"%.*s\" appears twice", c->what,
                              (int)(s[i]->name_len > 200 ? 200 : s[i]->name_len), s[i]->name);
    free(s);
    if (!rc)
        for (size_t i = 0; i < g->n_t; i++) g->t[i].offset += g->data_start;
    return rc;
}

int rb_gguf_parse(const unsigned char *buf, uint64_t size, const char *what, rb_gguf *g,
                  rb_error *err) {
    memset(g, 0, sizeof *g);
    snprintf(g->path, sizeof g->path, "%s", what);
    g->data = buf;
    g->size = size;
    g->alignment = 32;
    cursor c = {buf, 0, size, what, err};
    if (size < 4 || memcmp(buf, "GGUF", 4) != 0)
        return rb_error_set(err, RB_EFORMAT, "%s: bad magic: not a GGUF file (no \"GGUF\" at byte 0)",
                            what);
    c.at = 4;
    uint64_t version, n_t, n_kv;
    int rc = rd(&c, 4, &version, "the version");
    if (rc) return rc;
    g->version = (uint32_t)version;
    if (version == 1)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: GGUF version 1 is not supported (versions 2 and 3 are); "
                            "re-convert the model with a current llama.cpp",
                            what);
    if (version != 2 && version != 3)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: GGUF version %llu is not 2 or 3%s", what,
                            (unsigned long long)version,
                            version > 0xffff ? " (a big-endian file?)" : "");
    if ((rc = rd(&c, 8, &n_t, "the tensor count")) || (rc = rd(&c, 8, &n_kv, "the metadata count")))
        return rc;
    /* a key-value pair takes at least 8+1+4+1 bytes, a tensor info 8+1+4+8+4+8 */
    if (n_kv > (size - c.at) / 14 || n_t > (size - c.at) / 33)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: counts of %llu tensors and %llu metadata pairs cannot fit in "
                            "%llu bytes",
                            what, (unsigned long long)n_t, (unsigned long long)n_kv,
                            (unsigned long long)size);
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->t = calloc(n_t ? n_t : 1, sizeof *g->t);
    if (!g->kv || !g->t) rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", what);
    if (!rc) rc = parse_kvs(&c, g, n_kv);
    if (!rc) rc = check_unique_keys(&c, g);
    if (!rc) rc = parse_tensor_infos(&c, g, n_t);
    g->n_t = (size_t)n_t;
    if (!rc) {
        uint64_t start = (c.at + g->alignment - 1) / g->alignment * g->alignment;
        if (start > size && n_t)
            rc = rb_error_set(err, RB_EFORMAT, "%s: the file ends before its tensor data (byte %llu)",
                              what, (unsigned long long)start);
        g->data_start = start > size ? size : start;
    }
    if (!rc) rc = check_data(&c, g);
    if (rc) {
        g->map = NULL;
        rb_gguf_close(g);
    }
    return rc;
}

int rb_gguf_open(const char *path, rb_gguf *g, rb_error *err) {
    memset(g, 0, sizeof *g);
    void *map;
    uint64_t size;
    int rc = rb_map_file(path, &map, &size, err);
    if (rc) return rc;
    static const unsigned char empty[1];
    rc = rb_gguf_parse(map ? map : empty, size, path, g, err);
    if (rc) {
        rb_unmap_file(map, size);
        return rc;
    }
    g->map = map;
    return RB_OK;
}

void rb_gguf_close(rb_gguf *g) {
    rb_unmap_file(g->map, g->size);
    free(g->kv);
    free(g->t);
    memset(g, 0, sizeof *g);
}

const rb_gguf_kv *rb_gguf_find(const rb_gguf *g, const char *key) {
    for (size_t i = 0; i < g->n_kv; i++)
        if (key_is(&g->kv[i], key)) return &g->kv[i];
    return NULL;
}

const rb_gguf_tensor *rb_gguf_find_tensor(const rb_gguf *g, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < g->n_t; i++)
        if (g->t[i].name_len == n && memcmp(g->t[i].name, name, n) == 0) return &g->t[i];
    return NULL;
}

int rb_gguf_get_int(const rb_gguf *g, const char *key, int64_t *out) {
    const rb_gguf_kv *kv = rb_gguf_find(g, key);
    if (!kv) return 0;
    const unsigned char *p = kv->value;
    switch (kv->type) {
    case RB_GGUF_U8: case RB_GGUF_BOOL: *out = p[0]; break;
    case RB_GGUF_I8: *out = (int8_t)p[0]; break;
    case RB_GGUF_U16: *out = (int64_t)le(p, 2); break;
    case RB_GGUF_I16: *out = (int16_t)le(p, 2); break;
    case RB_GGUF_U32: *out = (int64_t)le(p, 4); break;
    case RB_GGUF_I32: *out = (int32_t)le(p, 4); break;
    case RB_GGUF_U64: {
        uint64_t v = le(p, 8);
        *out = v > INT64_MAX ? INT64_MAX : (int64_t)v;
        break;
    }
    case RB_GGUF_I64: *out = (int64_t)le(p, 8); break;
    default: return -1;
    }
    return 1;
}

int rb_gguf_get_float(const rb_gguf *g, const char *key, double *out) {
    const rb_gguf_kv *kv = rb_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type == RB_GGUF_F32) {
        uint32_t u = (uint32_t)le(kv->value, 4);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return 1;
    }
    if (kv->type == RB_GGUF_F64) {
        uint64_t u = le(kv->value, 8);
        memcpy(out, &u, 8);
        return 1;
    }
    int64_t i;
    int r = rb_gguf_get_int(g, key, &i);
    if (r == 1) *out = (double)i;
    return r;
}

int rb_gguf_get_string(const rb_gguf *g, const char *key, const char **s, size_t *len) {
    const rb_gguf_kv *kv = rb_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != RB_GGUF_STRING) return -1;
    *s = (const char *)kv->value;
    *len = (size_t)kv->count;
    return 1;
}

int rb_gguf_array_strings(const rb_gguf_kv *kv, const char **s, size_t *len) {
    if (kv->type != RB_GGUF_ARRAY || kv->elem_type != RB_GGUF_STRING) return 0;
    const unsigned char *p = kv->value; /* validated at parse: every length fits */
    for (uint64_t i = 0; i < kv->count; i++) {
        len[i] = (size_t)le(p, 8);
        s[i] = (const char *)p + 8;
        p += 8 + len[i];
    }
    return 1;
}

void rb_gguf_vocab_free(rb_gguf_vocab *v) {
    free(v->tokens);
    free(v->token_lens);
    free(v->scores);
    free(v->token_types);
    free(v->merges);
    free(v->merge_lens);
    memset(v, 0, sizeof *v);
}

/* An array key of n elements of element type t (t = RB_GGUF_TYPE_COUNT: any
 * 32-bit numeric), or NULL when absent; *bad set when present but wrong. */
static const rb_gguf_kv *array_key(const rb_gguf *g, const char *key, int *bad) {
    const rb_gguf_kv *kv = rb_gguf_find(g, key);
    *bad = kv && kv->type != RB_GGUF_ARRAY;
    return *bad ? NULL : kv;
}

static int id_key(const rb_gguf *g, const char *key, int n, int *out, rb_error *err) {
    int64_t v;
    int r = rb_gguf_get_int(g, key, &v);
    *out = -1;
    if (r < 0) return rb_error_set(err, RB_EFORMAT, "%s: %s is not an integer", g->path, key);
    if (r == 0 || v == 0xffffffffll || v == -1) return RB_OK; /* absent / llama.cpp's "none" */
    if (v < 0 || v >= n)
        return rb_error_set(err, RB_EFORMAT, "%s: %s = %lld is not a token id (0..%d)", g->path,
                            key, (long long)v, n - 1);
    *out = (int)v;
    return RB_OK;
}

int rb_gguf_vocab_read(const rb_gguf *g, rb_gguf_vocab *v, rb_error *err) {
    memset(v, 0, sizeof *v);
    int bad;
    const rb_gguf_kv *tok = array_key(g, "tokenizer.ggml.tokens", &bad);
    if (!tok || tok->elem_type != RB_GGUF_STRING || tok->count == 0 || tok->count > (1u << 24))
        return rb_error_set(err, RB_EFORMAT,
                            "%s: tokenizer.ggml.tokens is %s", g->path,
                            tok || bad ? "not an array of 1..2^24 strings" : "missing");
    v->n_tokens = (int)tok->count;
    const char *s;
    size_t sl;
    if (rb_gguf_get_string(g, "tokenizer.ggml.model", &s, &sl) == 1)
        snprintf(v->kind, sizeof v->kind, "%.*s", (int)(sl < 31 ? sl : 31), s);
    if (rb_gguf_get_string(g, "tokenizer.ggml.pre", &s, &sl) == 1)
        snprintf(v->pre, sizeof v->pre, "%.*s", (int)(sl < 63 ? sl : 63), s);
    size_t n = (size_t)v->n_tokens;
    v->tokens = malloc(sizeof *v->tokens * n);
    v->token_lens = malloc(sizeof *v->token_lens * n);
    if (!v->tokens || !v->token_lens) {
        rb_gguf_vocab_free(v);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory for the vocabulary", g->path);
    }
    rb_gguf_array_strings(tok, v->tokens, v->token_lens);
    int rc = RB_OK;
    const rb_gguf_kv *sc = array_key(g, "tokenizer.ggml.scores", &bad);
    if (bad || (sc && (sc->elem_type != RB_GGUF_F32 || sc->count != n)))
        rc = rb_error_set(err, RB_EFORMAT, "%s: tokenizer.ggml.scores is not %zu float32", g->path, n);
    if (!rc && sc && !(v->scores = malloc(sizeof(float) * n)))
        rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", g->path);
    for (size_t i = 0; !rc && sc && i < n; i++) {
        uint32_t u = (uint32_t)le(sc->value + 4 * i, 4);
        memcpy(&v->scores[i], &u, 4);
    }
    const rb_gguf_kv *tt = rc ? NULL : array_key(g, "tokenizer.ggml.token_type", &bad);
    if (!rc && (bad || (tt && ((tt->elem_type != RB_GGUF_I32 && tt->elem_type != RB_GGUF_U32) ||
                               tt->count != n))))
        rc = rb_error_set(err, RB_EFORMAT, "%s: tokenizer.ggml.token_type is not %zu int32", g->path, n);
    if (!rc && tt && !(v->token_types = malloc(sizeof(int32_t) * n)))
        rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", g->path);
    for (size_t i = 0; !rc && tt && i < n; i++) v->token_types[i] = (int32_t)le(tt->value + 4 * i, 4);
    const rb_gguf_kv *mg = rc ? NULL : array_key(g, "tokenizer.ggml.merges", &bad);
    if (!rc && (bad || (mg && (mg->elem_type != RB_GGUF_STRING || mg->count > (1u << 24)))))
        rc = rb_error_set(err, RB_EFORMAT, "%s: tokenizer.ggml.merges is not an array of strings", g->path);
    if (!rc && mg) {
        v->n_merges = (int)mg->count;
        v->merges = malloc(sizeof *v->merges * (mg->count ? mg->count : 1));
        v->merge_lens = malloc(sizeof *v->merge_lens * (mg->count ? mg->count : 1));
        if (!v->merges || !v->merge_lens) rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", g->path);
        else rb_gguf_array_strings(mg, v->merges, v->merge_lens);
    }
    if (!rc) rc = id_key(g, "tokenizer.ggml.bos_token_id", v->n_tokens, &v->bos_id, err);
    if (!rc) rc = id_key(g, "tokenizer.ggml.eos_token_id", v->n_tokens, &v->eos_id, err);
    if (!rc) rc = id_key(g, "tokenizer.ggml.unknown_token_id", v->n_tokens, &v->unk_id, err);
    int64_t ab;
    int r = rc ? 0 : rb_gguf_get_int(g, "tokenizer.ggml.add_bos_token", &ab);
    v->add_bos = r == 1 ? ab != 0 : -1;
    if (rc) rb_gguf_vocab_free(v);
    return rc;
}
