/* MMLU's CSV files (the original release layout, hendrycks/test data.tar):
 * no header; every row is six fields
 *
 *   question, choice A, choice B, choice C, choice D, answer letter (A-D)
 *
 * RFC 4180 quoting (fields holding commas, quotes or newlines are quoted,
 * "" is a literal quote), rows ending in LF or CRLF.  Parsed with libcsv;
 * spaces are data (libcsv's default trimming of spaces around unquoted
 * fields is turned off, as Python's csv module keeps them), newlines inside
 * quoted fields are kept byte for byte (CRLF stays CRLF), blank lines
 * between rows are skipped.
 *
 * Errors are RB_EFORMAT naming NAME:LINE (physical line, 1-based, where the
 * row starts): a row that is not six fields, an answer that is not one of
 * A B C D, a NUL byte in a field, a quote inside an unquoted field or text
 * after a closing quote, a file that ends inside a quoted field, a file
 * with no rows.
 */
#ifndef RB_DATASETS_MMLU_CSV_H
#define RB_DATASETS_MMLU_CSV_H

#include <stddef.h>

#include "base/error.h"

enum { RB_MMLU_FIELDS = 6 };

typedef struct rb_mmlu_row {
    char *field[RB_MMLU_FIELDS]; /* owned, NUL terminated: question, A, B, C, D, answer */
    int answer;                  /* 0..3 (field[5] "A".."D") */
    size_t line;                 /* physical line the row starts on (1-based) */
} rb_mmlu_row;

typedef struct rb_mmlu_rows {
    rb_mmlu_row *rows; /* owned [n] */
    size_t n;
} rb_mmlu_rows;

/* Parses data[0..len) into *out (free with rb_mmlu_rows_free; empty on
 * error).  name is the file name used in error messages. */
int rb_mmlu_csv_parse(const char *name, const char *data, size_t len, rb_mmlu_rows *out,
                      rb_error *err);

/* Reads and parses the file at path (RB_EIO when it cannot be read). */
int rb_mmlu_csv_read(const char *path, rb_mmlu_rows *out, rb_error *err);

void rb_mmlu_rows_free(rb_mmlu_rows *r);

#endif
