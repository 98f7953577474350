/* libFuzzer target: the MMLU CSV reader (rb_mmlu_csv_parse) and the prompt
 * rendering on what it returns (rb_mmlu_doc_text, whose strip() walks UTF-8
 * whitespace, and rb_mmlu_prefix).
 *
 * Input: the file's bytes.  Invariants checked on success (abort otherwise):
 * at least one row, six NUL-free fields per row, answer 0..3 matching the
 * letter, row start lines non-decreasing and within the file's line count;
 * on failure: an RB_EFORMAT message naming the file.  Self-contained (no
 * fuzz_util): the parser takes memory, so no file is needed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/mmlu.h"
#include "datasets/mmlu_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rb_mmlu_rows rows;
    rb_error err = {0};
    int rc = rb_mmlu_csv_parse("fuzz.csv", (const char *)data, size, &rows, &err);
    if (rc != RB_OK) {
        if (rc != RB_EFORMAT && rc != RB_ENOMEM) abort();
        if (rc == RB_EFORMAT && strncmp(err.msg, "fuzz.csv", 8) != 0) abort();
        if (rows.n != 0 || rows.rows != NULL) abort();
        return 0;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    if (rows.n == 0) abort();
    for (size_t r = 0; r < rows.n; r++) {
        const rb_mmlu_row *row = &rows.rows[r];
        for (int f = 0; f < RB_MMLU_FIELDS; f++)
            if (!row->field[f]) abort();
        if (row->answer < 0 || row->answer > 3 || row->field[5][0] != 'A' + row->answer ||
            row->field[5][1] != 0)
            abort();
        if (row->line < 1 || row->line > lines || (r && row->line < rows.rows[r - 1].line))
            abort();
        char *doc = rb_mmlu_doc_text(row);
        if (!doc || !strstr(doc, "\nAnswer:")) abort();
        free(doc);
    }
    char *prefix = NULL;
    int k = rows.n < 5 ? (int)rows.n : 5;
    if (rb_mmlu_prefix(0, &rows, k, "fuzz.csv", &prefix, &err) != RB_OK) abort();
    free(prefix);
    rb_mmlu_rows_free(&rows);
    return 0;
}
