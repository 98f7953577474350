/* The name → tensor table (see core/tensor_table.h). */
#include "core/tensor_table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_name(const void *a, const void *b, void *ctx) {
    const rb_tensor_entry *e = ctx;
    return strcmp(e[*(const size_t *)a].name, e[*(const size_t *)b].name);
}

int rb_tensor_table_init(rb_tensor_table *t, rb_model *m,
                         const char *const names[RB_TENSOR_KIND_COUNT], const char *what,
                         rb_error *err) {
    memset(t, 0, sizeof *t);
    t->model = m;
    const rb_config *c = &m->cfg;
    size_t cap = 0;
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++)
        if (rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k))
            cap += rb_tensor_per_layer((rb_tensor_kind)k) ? (size_t)c->n_layers : 1;
    t->e = calloc(cap ? cap : 1, sizeof *t->e);
    t->by_name = calloc(cap ? cap : 1, sizeof *t->by_name);
    if (!t->e || !t->by_name) {
        rb_tensor_table_free(t);
        return rb_error_set(err, RB_ENOMEM, "%s: cannot allocate the tensor table", what);
    }
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
        if (!rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k)) continue;
        if (!names[k]) {
            rb_tensor_table_free(t);
            return rb_error_set(err, RB_EUNSUPPORTED, "%s: the format cannot hold the model's %s",
                                what, rb_tensor_kind_name((rb_tensor_kind)k));
        }
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++) {
            rb_tensor_entry *e = &t->e[t->n];
            snprintf(e->name, sizeof e->name, names[k], l);
            e->kind = (rb_tensor_kind)k;
            e->layer = l;
            rb_tensor_shape(c, e->kind, &e->ndim, e->dims);
            e->n = (uint64_t)e->dims[0] * (uint64_t)e->dims[1];
            e->slot = rb_model_tensor_slot(m, e->kind, l);
            t->by_name[t->n] = t->n;
            t->n++;
        }
    }
    qsort_r(t->by_name, t->n, sizeof *t->by_name, cmp_name, t->e);
    return RB_OK;
}

void rb_tensor_table_free(rb_tensor_table *t) {
    free(t->e);
    free(t->by_name);
    memset(t, 0, sizeof *t);
}

rb_tensor_entry *rb_tensor_table_find(const rb_tensor_table *t, const char *name, size_t len) {
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        rb_tensor_entry *e = &t->e[t->by_name[mid]];
        int c = strncmp(e->name, name, len);
        if (c == 0 && e->name[len] != '\0') c = 1; /* e->name is longer */
        if (c == 0) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static void shape_text(int ndim, const int64_t *dims, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

int rb_tensor_table_claim(rb_tensor_table *t, const char *file, const char *name, size_t len,
                          int ndim, const int64_t *dims, rb_tensor_entry **entry, rb_error *err) {
    *entry = NULL;
    rb_tensor_entry *e = rb_tensor_table_find(t, name, len);
    int shown = len > 200 ? 200 : (int)len;
    if (!e)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: extra tensor \"%.*s\": the configuration has no such tensor",
                            file, shown, name);
    if (e->claimed)
        return rb_error_set(err, RB_EFORMAT, "%s: tensor \"%s\" appears twice", file, e->name);
    int ok = ndim == e->ndim;
    for (int i = 0; ok && i < ndim; i++) ok = dims[i] == e->dims[i];
    if (!ok) {
        char got[96], want[64];
        shape_text(ndim > 8 ? 8 : ndim, dims, got, sizeof got);
        shape_text(e->ndim, e->dims, want, sizeof want);
        return rb_error_set(err, RB_EFORMAT,
                            "%s: tensor \"%s\" has shape %s but the configuration implies %s",
                            file, e->name, got, want);
    }
    e->claimed = 1;
    *entry = e;
    return RB_OK;
}

int rb_tensor_table_finish(const rb_tensor_table *t, const char *what, rb_error *err) {
    size_t missing = 0;
    char list[320] = "";
    size_t o = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->e[i].claimed) continue;
        if (missing < 3 && o < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%s\"", missing ? ", " : "",
                                  t->e[i].name);
        missing++;
    }
    if (missing)
        return rb_error_set(err, RB_EFORMAT, "%s: missing tensor%s %s%s (%zu of %zu missing)",
                            what, missing > 1 ? "s" : "", list, missing > 3 ? ", ..." : "",
                            missing, t->n);
    for (size_t i = 0; i < t->n; i++) {
        const float *w = *t->e[i].slot;
        /* a branch-free scan of the exponent bits per block, the element
         * searched only in a block that has one */
        enum { BLOCK = 4096 };
        for (uint64_t b = 0; b < t->e[i].n; b += BLOCK) {
            uint64_t end = t->e[i].n - b < BLOCK ? t->e[i].n : b + BLOCK;
            uint32_t any = 0;
            for (uint64_t j = b; j < end; j++) {
                uint32_t u;
                memcpy(&u, &w[j], 4);
                any |= (u & 0x7f800000u) == 0x7f800000u;
            }
            if (!any) continue;
            for (uint64_t j = b; j < end; j++)
                if (!isfinite(w[j]))
                    return rb_error_set(err, RB_ENUMERIC, "%s: tensor \"%s\" element %llu is %s",
                                        what, t->e[i].name, (unsigned long long)j,
                                        isnan(w[j]) ? "NaN" : "infinite");
        }
    }
    return RB_OK;
}
