/* Rotation matrices stored as raw arrays with a small JSON description, so
 * that rotations learned elsewhere (SpinQuant's published R.bin, a torch
 * dict) can be converted with a few lines of Python (README, "SpinQuant
 * rotations from other tools") and loaded with spinquant:rotations=FILE.json.
 *
 * The description (UTF-8 JSON, at most 16 MiB):
 *   {"dtype": "float32" | "float64",        little-endian IEEE 754
 *    "order": "row-major",                  element [i][j] at (i·cols + j)
 *    "data": "R.f64",                       the raw file; relative paths are
 *                                           relative to the JSON file's folder
 *    "tolerance": 1e-6,                     optional: max |RᵀR − I| accepted
 *                                           (default 1e-6 for float64, 1e-4
 *                                           for float32)
 *    "matrices": [{"name": "R1", "rows": 4096, "cols": 4096, "offset": 0},
 *                 {"name": "model.layers.0.self_attn.R2", "rows": 128,
 *                  "cols": 128, "offset": 134217728}, ...]}
 * offset is in bytes from the start of the data file.  Names are
 * SpinQuant's state-dict keys: "R1" (dim × dim) and one
 * "model.layers.<l>.self_attn.R2" (head_dim × head_dim) per layer, each
 * exactly once.  The orientation is rotbench's (methods/spinquant.h), which
 * is the reference's: embedding and readers W·R1, writers R1ᵀ·W, values
 * R2ᵀ per head on v_proj's output rows, o_proj's input columns ·R2.
 */
#ifndef RB_METHODS_ROTATION_DESC_H
#define RB_METHODS_ROTATION_DESC_H

#include <stdint.h>

#include "base/error.h"
#include "core/model.h"
#include "methods/spinquant.h"

enum { RB_ROTATION_NAME_BYTES = 64, RB_ROTATION_PATH_BYTES = 1024 };

typedef struct rb_rotation_entry {
    char name[RB_ROTATION_NAME_BYTES];
    int64_t rows, cols;
    uint64_t offset; /* bytes into the data file */
} rb_rotation_entry;

typedef struct rb_rotation_desc {
    int elem_bytes;                      /* 4 (float32) or 8 (float64) */
    double tolerance;                    /* max |RᵀR − I| accepted */
    char data[RB_ROTATION_PATH_BYTES];   /* as written in the description */
    int n;
    rb_rotation_entry *m;                /* [n], owned */
} rb_rotation_desc;

/* Parses a description json [len] (not NUL-terminated); `what` names it in
 * errors.  Checks types and ranges only (rows, cols 1..65536, offsets
 * < 2^62, names shorter than 64 bytes, no duplicate names, at most 65536
 * matrices), not sizes against a model.  RB_EFORMAT naming the field;
 * RB_ENOMEM.  On success out owns m (rb_rotation_desc_free). */
int rb_rotation_desc_parse(const char *json, size_t len, const char *what, rb_rotation_desc *out,
                           rb_error *err);
void rb_rotation_desc_free(rb_rotation_desc *d);

/* Loads R1 and every layer's R2 for cfg from the description at path and
 * its data file: every matrix the model needs present with its shape
 * (unknown names are refused), inside the data file, finite, and
 * orthogonal to the tolerance.  Errors name the file and the matrix
 * (RB_EIO, RB_EFORMAT, RB_EINVAL, RB_ENOMEM).  r is owned on success
 * (rb_spin_rotations_free). */
int rb_spin_rotations_load_raw(rb_spin_rotations *r, const rb_config *cfg, const char *path,
                               rb_error *err);

#endif
