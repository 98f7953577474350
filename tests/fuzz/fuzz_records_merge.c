/* libFuzzer target: merging results files (eval/records_merge.h).  The input
 * is split at its first NUL byte into two files' texts, each parsed as a
 * results file; the merge either succeeds (no more records than both files
 * hold, duplicates counted) or fails with a message. */
#include <stdlib.h>
#include <string.h>

#include "eval/records.h"
#include "eval/records_merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, 0, size);
    size_t na = nul ? (size_t)(nul - text) : size;
    const char *b = nul ? nul + 1 : "";
    size_t nb = nul ? size - na - 1 : 0;
    rb_records f[2];
    rb_error err = {0};
    if (rb_records_parse(text, na, "a.jsonl", &f[0], &err)) return 0;
    if (rb_records_parse(b, nb, "b.jsonl", &f[1], &err)) {
        rb_records_free(&f[0]);
        return 0;
    }
    const char *names[] = {"a.jsonl", "b.jsonl"};
    rb_records m;
    rb_merge_info info;
    if (rb_records_merge_parsed(f, names, 2, &m, &info, &err) == RB_OK) {
        size_t total = rb_records_count(&f[0]) + rb_records_count(&f[1]);
        if (rb_records_count(&m) + info.n_duplicates != total) abort();
        rb_records_free(&m);
    } else if (!err.msg[0]) {
        abort();
    }
    rb_records_free(&f[0]);
    rb_records_free(&f[1]);
    return 0;
}
