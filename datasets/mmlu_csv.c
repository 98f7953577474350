/* MMLU CSV rows through libcsv (see datasets/mmlu_csv.h).  The input is fed
 * to the parser one physical line at a time so that every error can name
 * its line; libcsv's callbacks collect fields and rows and keep the first
 * problem they see, which stops the feeding. */
#include "datasets/mmlu_csv.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"

typedef struct csv_state {
    const char *name;
    rb_mmlu_rows *out;
    size_t cap;
    char *field[RB_MMLU_FIELDS]; /* the row being collected */
    int n_field;                 /* fields seen in it (may exceed RB_MMLU_FIELDS) */
    size_t line;                 /* physical line being fed */
    size_t row_line;             /* line the current row started on */
    int in_row;                  /* a row has started and not ended */
    int oom;
    rb_error *err;
    int failed;
} csv_state;

static int never_space(unsigned char c) {
    (void)c;
    return 0;
}

static void drop_fields(csv_state *s) {
    for (int i = 0; i < RB_MMLU_FIELDS; i++) {
        free(s->field[i]);
        s->field[i] = NULL;
    }
    s->n_field = 0;
}

static void on_field(void *data, size_t len, void *ctx) {
    csv_state *s = ctx;
    if (s->failed) return;
    if (memchr(data, 0, len)) {
        s->failed = 1;
        rb_error_set(s->err, RB_EFORMAT, "%s:%zu: field %d contains a NUL byte", s->name,
                     s->row_line, s->n_field + 1);
        return;
    }
    if (s->n_field < RB_MMLU_FIELDS) {
        char *f = malloc(len + 1);
        if (!f) {
            s->oom = s->failed = 1;
            return;
        }
        memcpy(f, data, len);
        f[len] = 0;
        s->field[s->n_field] = f;
    }
    s->n_field++;
}

static void on_row(int term, void *ctx) {
    (void)term;
    csv_state *s = ctx;
    s->in_row = 0;
    if (s->failed) return;
    if (s->n_field != RB_MMLU_FIELDS) {
        s->failed = 1;
        rb_error_set(s->err, RB_EFORMAT,
                     "%s:%zu: row has %d field%s, expected 6 (question, A, B, C, D, answer)",
                     s->name, s->row_line, s->n_field, s->n_field == 1 ? "" : "s");
        drop_fields(s);
        return;
    }
    const char *a = s->field[5];
    if (strlen(a) != 1 || a[0] < 'A' || a[0] > 'D') {
        s->failed = 1;
        rb_error_set(s->err, RB_EFORMAT, "%s:%zu: answer \"%.20s\" is not one of A B C D",
                     s->name, s->row_line, a);
        drop_fields(s);
        return;
    }
    if (s->out->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        rb_mmlu_row *r = realloc(s->out->rows, cap * sizeof *r);
        if (!r) {
            s->oom = s->failed = 1;
            drop_fields(s);
            return;
        }
        s->out->rows = r;
        s->cap = cap;
    }
    rb_mmlu_row *r = &s->out->rows[s->out->n++];
    for (int i = 0; i < RB_MMLU_FIELDS; i++) r->field[i] = s->field[i];
    memset(s->field, 0, sizeof s->field);
    s->n_field = 0;
    r->answer = a[0] - 'A';
    r->line = s->row_line;
}

void rb_mmlu_rows_free(rb_mmlu_rows *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++)
        for (int f = 0; f < RB_MMLU_FIELDS; f++) free(r->rows[i].field[f]);
    free(r->rows);
    r->rows = NULL;
    r->n = 0;
}

int rb_mmlu_csv_parse(const char *name, const char *data, size_t len, rb_mmlu_rows *out,
                      rb_error *err) {
    memset(out, 0, sizeof *out);
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory", name);
    csv_set_space_func(&p, never_space);
    csv_state s = {.name = name, .out = out, .err = err};
    size_t pos = 0;
    while (pos < len && !s.failed) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) + 1 : len - pos;
        s.line++;
        /* a row starts on the first line with something besides its ending */
        if (!s.in_row && !(n == 1 || (n == 2 && data[pos] == '\r'))) {
            s.in_row = 1;
            s.row_line = s.line;
        }
        if (csv_parse(&p, data + pos, n, on_field, on_row, &s) != n && !s.failed) {
            s.failed = 1;
            if (csv_error(&p) == CSV_ENOMEM || csv_error(&p) == CSV_ETOOBIG)
                s.oom = 1;
            else
                rb_error_set(err, RB_EFORMAT,
                             "%s:%zu: malformed CSV (a quote inside an unquoted field, or text "
                             "after a closing quote)",
                             name, s.line);
        }
        pos += n;
    }
    if (!s.failed && csv_fini(&p, on_field, on_row, &s) != 0 && !s.failed) {
        s.failed = 1;
        rb_error_set(err, RB_EFORMAT,
                     "%s:%zu: unterminated quoted field (the file ends inside quotes)", name,
                     s.row_line);
    }
    csv_free(&p);
    drop_fields(&s);
    if (!s.failed && out->n == 0) {
        s.failed = 1;
        rb_error_set(err, RB_EFORMAT, "%s: no rows (expected question, A, B, C, D, answer)",
                     name);
    }
    if (s.oom) rb_error_set(err, RB_ENOMEM, "%s: out of memory", name);
    if (s.failed) {
        rb_mmlu_rows_free(out);
        return s.oom ? RB_ENOMEM : RB_EFORMAT;
    }
    return RB_OK;
}

int rb_mmlu_csv_read(const char *path, rb_mmlu_rows *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t len = 0;
    int rc = rb_read_file(path, 0, &data, &len, err);
    if (rc) return rc;
    rc = rb_mmlu_csv_parse(path, data, len, out, err);
    free(data);
    return rc;
}
