/* Raw rotation arrays with a JSON description (methods/rotation_desc.h):
 * parse the description, then validate it against the model and the data
 * file before reading a byte of the matrices (validate, then trust). */
#include "methods/rotation_desc.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "base/json_text.h"

enum { MAX_MATRICES = 65536, MAX_SIDE = 65536 };
#define MAX_OFFSET ((uint64_t)1 << 62)

void rb_rotation_desc_free(rb_rotation_desc *d) {
    free(d->m);
    d->m = NULL;
    d->n = 0;
}

/* A non-negative integer field of o in [lo, hi]. */
static int get_int(json_object *o, const char *key, int64_t lo, int64_t hi, const char *where,
                   const char *what, int64_t *out, rb_error *err) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return rb_error_set(err, RB_EFORMAT, "%s: %s: missing \"%s\"", what, where, key);
    if (!json_object_is_type(v, json_type_int))
        return rb_error_set(err, RB_EFORMAT, "%s: %s: \"%s\" is not an integer", what, where, key);
    errno = 0;
    int64_t x = json_object_get_int64(v);
    if (errno || x < lo || x > hi)
        return rb_error_set(err, RB_EFORMAT, "%s: %s: \"%s\" %s outside %lld..%lld", what, where,
                            key, json_object_to_json_string(v), (long long)lo, (long long)hi);
    *out = x;
    return RB_OK;
}

/* A string field of o. */
static int get_str(json_object *o, const char *key, const char *where, const char *what,
                   const char **out, rb_error *err) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return rb_error_set(err, RB_EFORMAT, "%s: %s: missing \"%s\"", what, where, key);
    if (!json_object_is_type(v, json_type_string))
        return rb_error_set(err, RB_EFORMAT, "%s: %s: \"%s\" is not a string", what, where, key);
    *out = json_object_get_string(v);
    if (strlen(*out) != (size_t)json_object_get_string_len(v))
        return rb_error_set(err, RB_EFORMAT, "%s: %s: \"%s\" contains a NUL byte", what, where, key);
    return RB_OK;
}

static int parse_root(json_object *root, const char *what, rb_rotation_desc *d, rb_error *err) {
    const char *dtype = NULL, *order = NULL, *data = NULL;
    int rc;
    if ((rc = get_str(root, "dtype", "description", what, &dtype, err)) ||
        (rc = get_str(root, "order", "description", what, &order, err)) ||
        (rc = get_str(root, "data", "description", what, &data, err)))
        return rc;
    if (!strcmp(dtype, "float32")) d->elem_bytes = 4;
    else if (!strcmp(dtype, "float64")) d->elem_bytes = 8;
    else
        return rb_error_set(err, RB_EFORMAT, "%s: dtype \"%.40s\": expected \"float32\" or \"float64\"",
                            what, dtype);
    if (strcmp(order, "row-major"))
        return rb_error_set(err, RB_EFORMAT, "%s: order \"%.40s\": only \"row-major\" is read", what,
                            order);
    if (!*data || strlen(data) >= sizeof d->data)
        return rb_error_set(err, RB_EFORMAT, "%s: data: the path must have 1..%d bytes", what,
                            (int)sizeof d->data - 1);
    memcpy(d->data, data, strlen(data) + 1);
    d->tolerance = d->elem_bytes == 8 ? 1e-6 : 1e-4;
    json_object *tol;
    if (json_object_object_get_ex(root, "tolerance", &tol)) {
        if (!json_object_is_type(tol, json_type_double) && !json_object_is_type(tol, json_type_int))
            return rb_error_set(err, RB_EFORMAT, "%s: tolerance is not a number", what);
        double t = json_object_get_double(tol);
        if (!(t > 0 && t <= 0.1))
            return rb_error_set(err, RB_EFORMAT, "%s: tolerance %g outside (0, 0.1]", what, t);
        d->tolerance = t;
    }
    json_object *list;
    if (!json_object_object_get_ex(root, "matrices", &list) ||
        !json_object_is_type(list, json_type_array))
        return rb_error_set(err, RB_EFORMAT, "%s: \"matrices\" is missing or not an array", what);
    size_t n = json_object_array_length(list);
    if (n < 1 || n > MAX_MATRICES)
        return rb_error_set(err, RB_EFORMAT, "%s: matrices: %zu entries, expected 1..%d", what, n,
                            MAX_MATRICES);
    if (!(d->m = calloc(n, sizeof *d->m)))
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(list, i);
        char where[48];
        snprintf(where, sizeof where, "matrices[%zu]", i);
        if (!json_object_is_type(e, json_type_object))
            return rb_error_set(err, RB_EFORMAT, "%s: %s is not an object", what, where);
        rb_rotation_entry *m = &d->m[i];
        const char *name;
        int64_t off;
        if ((rc = get_str(e, "name", where, what, &name, err)) ||
            (rc = get_int(e, "rows", 1, MAX_SIDE, where, what, &m->rows, err)) ||
            (rc = get_int(e, "cols", 1, MAX_SIDE, where, what, &m->cols, err)) ||
            (rc = get_int(e, "offset", 0, (int64_t)MAX_OFFSET, where, what, &off, err)))
            return rc;
        if (!*name || strlen(name) >= sizeof m->name)
            return rb_error_set(err, RB_EFORMAT, "%s: %s: the name must have 1..%d bytes", what,
                                where, (int)sizeof m->name - 1);
        memcpy(m->name, name, strlen(name) + 1);
        m->offset = (uint64_t)off;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(d->m[j].name, m->name))
                return rb_error_set(err, RB_EFORMAT, "%s: %s: \"%s\" appears twice", what, where,
                                    m->name);
        d->n = (int)i + 1;
    }
    return RB_OK;
}

int rb_rotation_desc_parse(const char *json, size_t len, const char *what, rb_rotation_desc *out,
                           rb_error *err) {
    memset(out, 0, sizeof *out);
    json_object *root;
    int rc = rb_json_parse_object(json, len, 1u << 24, what, "a rotation description", &root, err);
    if (rc) return rc;
    rc = parse_root(root, what, out, err);
    json_object_put(root);
    if (rc) rb_rotation_desc_free(out);
    return rc;
}

/* ---- loading against a model -------------------------------------------- */

/* Index of the matrix the model needs at slot k (0: R1, 1 + l: R2 of layer
 * l) in d, or -1; the slot of a name, or -1 if the model has no such one. */
static int slot_of(const char *name, int n_layers) {
    if (!strcmp(name, "R1")) return 0;
    const char *pre = "model.layers.", *post = ".self_attn.R2";
    size_t lp = strlen(pre);
    if (strncmp(name, pre, lp)) return -1;
    const char *p = name + lp;
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9')) return -1;
    long l = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        l = l * 10 + (*p - '0');
        if (l >= n_layers) return -1;
    }
    return strcmp(p, post) ? -1 : 1 + (int)l;
}

/* The data path: absolute, or relative to the description's folder. */
static void data_path(const char *desc_path, const char *data, char *out, size_t cap) {
    const char *slash = strrchr(desc_path, '/');
    if (data[0] == '/' || !slash) snprintf(out, cap, "%s", data);
    else snprintf(out, cap, "%.*s/%s", (int)(slash - desc_path), desc_path, data);
}

int rb_spin_rotations_load_raw(rb_spin_rotations *r, const rb_config *cfg, const char *path,
                               rb_error *err) {
    memset(r, 0, sizeof *r);
    char *text = NULL;
    size_t len = 0;
    int rc = rb_read_file(path, 1u << 24, &text, &len, err);
    if (rc) return rc;
    rb_rotation_desc d;
    rc = rb_rotation_desc_parse(text, len, path, &d, err);
    free(text);
    if (rc) return rc;
    const int L = cfg->n_layers, slots = 1 + L;
    int *at = malloc(sizeof(int) * (size_t)slots);
    char dpath[2 * RB_ROTATION_PATH_BYTES];
    data_path(path, d.data, dpath, sizeof dpath);
    void *map = NULL;
    uint64_t size = 0;
    if (!at) rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    for (int k = 0; !rc && k < slots; k++) at[k] = -1;
    /* names and shapes against the model */
    for (int i = 0; !rc && i < d.n; i++) {
        const rb_rotation_entry *m = &d.m[i];
        int k = slot_of(m->name, L);
        int side = k == 0 ? cfg->dim : cfg->head_dim;
        if (k < 0)
            rc = rb_error_set(err, RB_EINVAL,
                              "%s: matrix \"%s\": not a rotation of this model (expected \"R1\" "
                              "and \"model.layers.<l>.self_attn.R2\" for l < %d)",
                              path, m->name, L);
        else if (m->rows != side || m->cols != side)
            rc = rb_error_set(err, RB_EINVAL, "%s: matrix \"%s\" is %lldx%lld; the model needs %dx%d",
                              path, m->name, (long long)m->rows, (long long)m->cols, side, side);
        else
            at[k] = i;
    }
    for (int k = 0; !rc && k < slots; k++)
        if (at[k] < 0) {
            if (k == 0) rc = rb_error_set(err, RB_EINVAL, "%s: no matrix \"R1\"", path);
            else
                rc = rb_error_set(err, RB_EINVAL, "%s: no matrix \"model.layers.%d.self_attn.R2\"",
                                  path, k - 1);
        }
    /* extents against the data file */
    if (!rc && (rc = rb_map_file(dpath, &map, &size, err)))
        rb_error_prefix(err, "%s: data: ", path);
    for (int i = 0; !rc && i < d.n; i++) {
        const rb_rotation_entry *m = &d.m[i];
        uint64_t bytes = (uint64_t)m->rows * (uint64_t)m->cols * (uint64_t)d.elem_bytes;
        if (m->offset > size || bytes > size - m->offset)
            rc = rb_error_set(err, RB_EFORMAT,
                              "%s: matrix \"%s\": bytes %llu..%llu lie past the end of %s (%llu "
                              "bytes)",
                              path, m->name, (unsigned long long)m->offset,
                              (unsigned long long)(m->offset + bytes), dpath,
                              (unsigned long long)size);
    }
    size_t n1 = (size_t)cfg->dim * cfg->dim, n2 = (size_t)cfg->head_dim * cfg->head_dim;
    if (!rc) {
        r->dim = cfg->dim;
        r->head_dim = cfg->head_dim;
        r->n_layers = L;
        r->R1 = malloc(sizeof(double) * n1);
        r->R2 = malloc(sizeof(double) * n2 * (size_t)L);
        if (!r->R1 || !r->R2) rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    }
    /* values: copied (memcpy, so any alignment), finite, orthogonal */
    for (int k = 0; !rc && k < slots; k++) {
        const rb_rotation_entry *m = &d.m[at[k]];
        const unsigned char *src = (const unsigned char *)map + m->offset;
        size_t count = k == 0 ? n1 : n2;
        double *dst = k == 0 ? r->R1 : r->R2 + (size_t)(k - 1) * n2;
        for (size_t j = 0; j < count; j++) {
            if (d.elem_bytes == 8) {
                memcpy(&dst[j], src + 8 * j, 8);
            } else {
                float f;
                memcpy(&f, src + 4 * j, 4);
                dst[j] = f;
            }
            if (!isfinite(dst[j])) {
                rc = rb_error_set(err, RB_EFORMAT, "%s: matrix \"%s\": entry [%zu][%zu] is not finite",
                                  path, m->name, j / (size_t)m->cols, j % (size_t)m->cols);
                break;
            }
        }
        if (rc) break;
        double e = rb_spin_orthogonality_error(dst, (int)m->rows);
        if (!(e <= d.tolerance))
            rc = rb_error_set(err, RB_EFORMAT,
                              "%s: matrix \"%s\" is not orthogonal: max |RᵀR - I| = %.3g > "
                              "tolerance %.3g (the description's \"tolerance\" can relax it)",
                              path, m->name, e, d.tolerance);
    }
    rb_unmap_file(map, size);
    free(at);
    rb_rotation_desc_free(&d);
    if (rc) rb_spin_rotations_free(r);
    return rc;
}
