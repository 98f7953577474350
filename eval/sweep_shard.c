/* Shards of a sweep (eval/sweep_shard.h). */
#include "eval/sweep_shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"

/* A decimal number of at most 6 digits at *p; advances *p.  -1 when none. */
static long parse_count(const char **p) {
    long v = 0;
    int digits = 0;
    while (**p >= '0' && **p <= '9') {
        if (++digits > 6) return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return digits ? v : -1;
}

int rb_shard_parse(const char *text, rb_shard *out, rb_error *err) {
    const char *p = text;
    long k = parse_count(&p);
    long n = -1;
    if (k >= 0 && *p == '/') {
        p++;
        n = parse_count(&p);
    }
    if (k < 0 || n < 0 || *p)
        return rb_error_set(err, RB_EINVAL,
                            "--shard '%.64s': expected K/N, two decimal numbers (shard K of N, "
                            "0 <= K < N), e.g. 0/4",
                            text);
    if (n < 1 || n > RB_SHARD_MAX)
        return rb_error_set(err, RB_EINVAL, "--shard '%s': N must be 1 .. %d", text, RB_SHARD_MAX);
    if (k >= n)
        return rb_error_set(err, RB_EINVAL,
                            "--shard '%s': K must be below N (shards are numbered 0 .. %ld; with "
                            "Slurm use $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT and "
                            "--array=0-%ld)",
                            text, n - 1, n - 1);
    out->k = (unsigned)k;
    out->n = (unsigned)n;
    return RB_OK;
}

unsigned rb_shard_of_key(const char *key, unsigned n) {
    if (n <= 1) return 0;
    char hex[65];
    rb_sha256_hex(key, strlen(key), hex);
    hex[16] = 0; /* the first 8 bytes */
    return (unsigned)(strtoull(hex, NULL, 16) % n);
}

void rb_shard_filter(const rb_shard *s, const rb_sweep_run *runs, size_t n_runs,
                     unsigned char *todo, size_t *n_todo) {
    if (!s || !s->n) return;
    *n_todo = 0;
    for (size_t i = 0; i < n_runs; i++) {
        if (todo[i] && rb_shard_of_key(runs[i].key, s->n) != s->k) todo[i] = 0;
        *n_todo += todo[i];
    }
}

/* results with ".shard-<k>-of-<n>" before a final ".jsonl" (k, n: text). */
static char *with_shard(const char *results, const char *k, const char *n) {
    size_t len = strlen(results);
    size_t stem = len > 6 && !strcmp(results + len - 6, ".jsonl") ? len - 6 : len;
    size_t cap = len + strlen(k) + strlen(n) + 16;
    char *out = malloc(cap);
    if (!out) return NULL;
    snprintf(out, cap, "%.*s.shard-%s-of-%s%s", (int)stem, results, k, n, results + stem);
    return out;
}

char *rb_shard_results_path(const char *results, const rb_shard *s) {
    char k[16], n[16];
    snprintf(k, sizeof k, "%u", s->k);
    snprintf(n, sizeof n, "%u", s->n);
    return with_shard(results, k, n);
}

char *rb_shard_results_glob(const char *results) { return with_shard(results, "*", "*"); }
