/* Results files (JSON Lines): reading them and the fields of their records
 * (eval/records.c).  Their aggregation: eval/aggregate.h.
 *
 * A results file holds one JSON object per line, each terminated by '\n'
 * (rotbench sweep appends them; see eval/sweep.h).  Reading is robust to a
 * crash of the writer: a final line without a newline that does not parse
 * (a torn write) is ignored, and so is any line that is not a JSON object;
 * each such line becomes an rb_records_issue naming the file and the line
 * ("results/x.jsonl:7: ...") for the caller to print as a warning.  A final
 * line without a newline that is a complete JSON object is kept (a file
 * edited by hand); the sweep runner then writes the missing newline before
 * appending.
 */
#ifndef RB_RECORDS_H
#define RB_RECORDS_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"

/* ---- reading -------------------------------------------------------------- */

typedef struct rb_records_issue {
    size_t line;   /* 1-based */
    char msg[300]; /* "<path>:<line>: <what>; ignored" */
} rb_records_issue;

typedef enum rb_records_tail {
    RB_TAIL_CLEAN = 0,     /* empty, or ends with '\n' */
    RB_TAIL_PARTIAL,       /* last line has no '\n' and does not parse: ignored */
    RB_TAIL_NO_NEWLINE,    /* last line has no '\n' but is a complete object: kept */
} rb_records_tail;

typedef struct rb_records {
    json_object *items;       /* array of the records (objects), in file order; owned */
    rb_records_issue *issues; /* ignored lines, in file order */
    size_t n_issues;
    size_t n_lines;           /* lines in the file, the partial last one included */
    rb_records_tail tail;
    size_t keep_bytes;        /* bytes before the partial last line (the file size
                                 unless tail == RB_TAIL_PARTIAL) */
} rb_records;

/* Reads path.  A missing file is an empty result when missing_ok, else an
 * error.  Only I/O errors and out-of-memory fail; bad lines are issues. */
int rb_records_read(const char *path, int missing_ok, rb_records *out, rb_error *err);

/* Parses text[0..len) as a results file named path (for the messages). */
int rb_records_parse(const char *text, size_t len, const char *path, rb_records *out,
                     rb_error *err);

void rb_records_free(rb_records *r);

static inline size_t rb_records_count(const rb_records *r) {
    return r->items ? json_object_array_length(r->items) : 0;
}
static inline json_object *rb_records_get(const rb_records *r, size_t i) {
    return json_object_array_get_idx(r->items, i);
}

/* ---- fields --------------------------------------------------------------- */

/* rec.labels[axis] as a string, or NULL when absent / not a string. */
const char *rb_record_label(json_object *rec, const char *axis);

/* Makes o standard JSON (no NaN/Infinity tokens): every non-finite double,
 * at any depth, becomes null, and in an object its key K gets a sibling
 * "K_nonfinite": "inf", "-inf" or "nan" (an array element just becomes
 * null).  Returns how many were replaced (-1 when out of memory). */
int rb_json_null_nonfinite(json_object *o);

/* The number at a dotted path ("ppl", "method.prepare_seconds"): 0 and *out
 * set when present and numeric (int or double, NaN/Inf included; a null
 * with a "<key>_nonfinite" sibling, as rb_json_null_nonfinite writes it,
 * reads as that value), else -1. */
int rb_record_number(json_object *rec, const char *path, double *out);

/* A filter on labels: keep records whose labels[axis] equals label. */
typedef struct rb_where {
    const char *axis;
    const char *label;
} rb_where;

/* Splits "axis=label" in place (text is modified: the '=' becomes NUL). */
int rb_where_parse(char *text, rb_where *out, rb_error *err);

/* Whether rec passes every filter of where[0..n): labels[axis] equals label,
 * or, for a filter whose axis is NULL, some label of rec equals it. */
int rb_record_matches(json_object *rec, const rb_where *where, size_t n);

#endif
