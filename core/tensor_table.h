/* The name → tensor table every model format binds through.
 *
 * A format gives one name pattern per rb_tensor_kind (printf, "%d" = the
 * layer for per-layer kinds; NULL where the format has no such tensor), and
 * the table lists every tensor the configuration needs under the format's
 * name, with its expected shape from rb_tensor_shape.  The format then
 * claims each tensor it finds in its file by name and shape: a name the
 * table does not know is an extra tensor, a second claim a duplicate, a
 * shape that disagrees with the configuration an error naming both.  After
 * the last file, rb_tensor_table_finish reports the tensors never claimed by
 * name and checks every weight for NaN/Inf.
 *
 * Shapes are given as the format stores them ([rows][cols], dims[0] = rows;
 * formats with the fastest dimension first, GGUF, reverse theirs first).  A
 * 1-D tensor has ndim 1.
 *
 * Ownership: the table borrows the model (its slots); names are copied.
 */
#ifndef RB_TENSOR_TABLE_H
#define RB_TENSOR_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "core/model.h"

typedef struct rb_tensor_entry {
    char name[128];        /* the format's name, e.g. "model.layers.3.mlp.up_proj.weight" */
    rb_tensor_kind kind;
    int layer;             /* 0 for per-model kinds */
    int ndim;
    int64_t dims[2];       /* expected shape (dims[1] = 1 for 1-D) */
    uint64_t n;            /* elements */
    float **slot;          /* the model's pointer for it: fill *slot, or point it */
    int claimed;
} rb_tensor_entry;

typedef struct rb_tensor_table {
    rb_model *model;
    rb_tensor_entry *e;    /* [n], canonical order */
    size_t n;
    size_t *by_name;       /* [n] indices into e sorted by name */
} rb_tensor_table;

/* Lists m's tensors under names[kind] (NULL entries: the model must not
 * need that kind; RB_EUNSUPPORTED naming it if it does).  `what` names the
 * file or directory in errors. */
int rb_tensor_table_init(rb_tensor_table *t, rb_model *m,
                         const char *const names[RB_TENSOR_KIND_COUNT], const char *what,
                         rb_error *err);
void rb_tensor_table_free(rb_tensor_table *t);

/* The entry called name[0..len), or NULL. */
rb_tensor_entry *rb_tensor_table_find(const rb_tensor_table *t, const char *name, size_t len);

/* Claims the tensor name[0..len) as found in `file` with shape dims[ndim]:
 * RB_EFORMAT for an unknown (extra) name, a second claim or a shape other
 * than the configuration's, each naming the file, the tensor and the
 * shapes.  On success *entry is the table's entry (its slot to fill). */
int rb_tensor_table_claim(rb_tensor_table *t, const char *file, const char *name, size_t len,
                          int ndim, const int64_t *dims, rb_tensor_entry **entry, rb_error *err);

/* RB_EFORMAT naming the unclaimed tensors (the first few and how many),
 * else RB_ENUMERIC naming the first NaN/Inf element (tensor, element,
 * value), else RB_OK. */
int rb_tensor_table_finish(const rb_tensor_table *t, const char *what, rb_error *err);

#endif
