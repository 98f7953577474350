/* safetensors files: parse and validate the header, map the data.
 *
 * Layout: an 8-byte little-endian header length N; N bytes of JSON (an
 * object: tensor name → {"dtype": "F32", "shape": [rows, cols],
 * "data_offsets": [begin, end]}, plus an optional "__metadata__" object of
 * strings), padded with spaces; then the data buffer, to which the offsets
 * are relative.  Everything is validated before use: N against the file,
 * the JSON's types, every dtype against the known list, every shape's byte
 * size against its offsets, every range against the buffer, and the ranges
 * against each other (no overlap, no hole: the buffer is exactly covered,
 * as the format requires).
 *
 * Ownership: an rb_safetensors owns its tensor list and names, and the
 * mapping when made by rb_safetensors_open.
 */
#ifndef RB_SAFETENSORS_H
#define RB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum { RB_ST_MAX_DIMS = 8 };

typedef struct rb_st_tensor {
    const char *name;      /* NUL-terminated, owned by the rb_safetensors */
    char dtype[12];        /* as in the file: "F32", "BF16", "I8", ... */
    int elem_bytes;        /* of dtype */
    int ndim;
    int64_t shape[RB_ST_MAX_DIMS];
    uint64_t begin, end;   /* absolute offsets in the file */
} rb_st_tensor;

typedef struct rb_safetensors {
    char path[1024];
    const unsigned char *data; /* the whole file (mapped or borrowed) */
    uint64_t size;
    uint64_t data_start;   /* 8 + N */
    rb_st_tensor *t;       /* [n], in header order */
    size_t n;
    char *names;           /* storage of the names */
    void *map;             /* NULL when parsing a caller's buffer */
} rb_safetensors;

/* Parses the file image buf[0..size) (borrowed: it must outlive *out).
 * `what` names the file in errors (RB_EFORMAT, naming the tensor, field and
 * value). */
int rb_safetensors_parse(const unsigned char *buf, uint64_t size, const char *what,
                         rb_safetensors *out, rb_error *err);

/* mmaps path read-only and parses it. */
int rb_safetensors_open(const char *path, rb_safetensors *out, rb_error *err);

/* The tensor called name, or NULL. */
const rb_st_tensor *rb_safetensors_find(const rb_safetensors *st, const char *name);

void rb_safetensors_close(rb_safetensors *st);

#endif
