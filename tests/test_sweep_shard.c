/* Shards of a sweep (eval/sweep_shard.h) and merging results files
 * (eval/records_merge.h): --shard parsing, the stable assignment, shards
 * 0/2 and 1/2 merged equal the whole sweep, duplicates and conflicts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/records.h"
#include "eval/records_merge.h"
#include "eval/sweep_shard.h"
#include "run/sweep.h"
#include "tests/sweep_fixtures.h"
#include "tests/test_util.h"

Test(sweep_shard, parse) {
    rb_shard s;
    rb_error err = {0};
    cr_assert_eq(rb_shard_parse("0/2", &s, &err), RB_OK, "%s", err.msg);
    cr_assert(s.k == 0 && s.n == 2);
    cr_assert_eq(rb_shard_parse("99/100", &s, &err), RB_OK);
    cr_assert(s.k == 99 && s.n == 100);
    const char *bad[] = {"", "1", "1/", "/2", "2/2", "3/2", "0/0", "-1/2", "+1/2", "1/2 ",
                         " 1/2", "1/2/3", "a/b", "0x1/2", "1.0/2", "0/100001", "0000001/2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        cr_assert_eq(rb_shard_parse(bad[i], &s, &err), RB_EINVAL, "'%s' accepted", bad[i]);
        cr_assert(strstr(err.msg, "--shard '"), "'%s': %s", bad[i], err.msg);
    }
    rb_shard_parse("2/2", &s, &err);
    cr_assert(strstr(err.msg, "K must be below N"), "%s", err.msg);
}

Test(sweep_shard, assignment_is_stable_and_spread) {
    /* pinned (first 8 bytes of sha256, big-endian, mod N; values from Python's
     * hashlib): shards already on disk must keep their runs */
    cr_assert_eq(rb_shard_of_key("{\"seed\":0}", 1), 0);
    cr_assert_eq(rb_shard_of_key("{\"seed\":0}", 1000), 52);
    cr_assert_eq(rb_shard_of_key("{\"model\":\"m\",\"seed\":1,\"text\":2}", 7), 4);
    cr_assert_eq(rb_shard_of_key("{\"model\":\"m\",\"seed\":1,\"text\":2}", 1000), 90);
    unsigned count[4] = {0};
    char key[64];
    for (int i = 0; i < 400; i++) {
        snprintf(key, sizeof key, "{\"seed\":%d}", i);
        count[rb_shard_of_key(key, 4)]++;
    }
    for (int k = 0; k < 4; k++) cr_assert(count[k] > 60 && count[k] < 140, "shard %d: %u", k, count[k]);
}

Test(sweep_shard, results_path) {
    rb_shard s = {1, 4};
    char *p = rb_shard_results_path("results/x.jsonl", &s);
    cr_assert_str_eq(p, "results/x.shard-1-of-4.jsonl");
    free(p);
    p = rb_shard_results_path("out/x", &s);
    cr_assert_str_eq(p, "out/x.shard-1-of-4");
    free(p);
    p = rb_shard_results_glob("results/x.jsonl");
    cr_assert_str_eq(p, "results/x.shard-*-of-*.jsonl");
    free(p);
}

/* A config of 3 x values x 4 seeds into res, run with the fake rotbench. */
static void grid_cfg(char *text, size_t cap, const char *res) {
    snprintf(text, cap,
             "{\"name\": \"sh\", \"results\": \"%s\", \"base\": {\"model\": \"m\"},"
             " \"axes\": [{\"name\": \"x\", \"values\": [{\"label\": \"1\", \"args\": {\"text\": 1}},"
             " {\"label\": \"2\", \"args\": {\"text\": 2}}, {\"label\": \"3\", \"args\": {\"text\": 3}}]},"
             " {\"name\": \"seed\", \"values\": [{\"label\": \"0\", \"args\": {\"seed\": 0}},"
             " {\"label\": \"1\", \"args\": {\"seed\": 1}}, {\"label\": \"2\", \"args\": {\"seed\": 2}},"
             " {\"label\": \"3\", \"args\": {\"seed\": 3}}]}]}",
             res);
}

static void run_sweep(const char *dir, const char *fake, const char *res, rb_shard shard,
                      rb_sweep_summary *sum) {
    char text[2048], cfgp[1200];
    grid_cfg(text, sizeof text, res);
    rb_sweep_config cfg;
    rb_error err = {0};
    load_cfg_file(dir, text, cfgp, sizeof cfgp, &cfg);
    if (shard.n) {
        char *p = rb_shard_results_path(cfg.results, &shard);
        free(cfg.results);
        cfg.results = p;
    }
    rb_sweep_opts o = {.rotbench = fake, .jobs = 2, .threads = 1, .shard = shard};
    cr_assert_eq(rb_sweep_execute(&cfg, &o, sum, &err), RB_OK, "%s", err.msg);
    rb_sweep_config_free(&cfg);
}

/* The record without provenance and timings, canonical. */
static char *compared(json_object *rec) {
    json_object *c = NULL;
    cr_assert_eq(json_object_deep_copy(rec, &c, NULL), 0);
    json_object_object_del(c, "provenance");
    char *t = rb_json_canonical(c);
    json_object_put(c);
    return t;
}

static int cmp_text(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(sweep_shard, shards_merged_equal_the_whole_sweep, .timeout = 120) {
    char dir[1024], fake[1200], full[1200], part[1200];
    test_dir("shards", dir, sizeof dir);
    write_fake(dir, fake, sizeof fake);
    snprintf(full, sizeof full, "%s/full.jsonl", dir);
    snprintf(part, sizeof part, "%s/part.jsonl", dir);
    rb_sweep_summary s_full, s0, s1;
    run_sweep(dir, fake, full, (rb_shard){0}, &s_full);
    run_sweep(dir, fake, part, (rb_shard){0, 2}, &s0);
    run_sweep(dir, fake, part, (rb_shard){1, 2}, &s1);
    cr_assert_eq(s_full.n_done, 12);
    cr_assert_eq(s0.n_done + s1.n_done, 12);
    cr_assert_eq(s0.n_other_shards, s1.n_done);
    cr_assert(s0.n_done > 0 && s1.n_done > 0, "one shard is empty: %zu + %zu", s0.n_done, s1.n_done);

    char g[1300];
    snprintf(g, sizeof g, "%s/part.shard-*-of-2.jsonl", dir);
    const char *src[] = {g};
    rb_records merged, whole;
    rb_merge_info info;
    rb_error err = {0};
    cr_assert_eq(rb_records_merge(src, 1, &merged, &info, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(info.n_files, 2);
    cr_assert_eq(info.n_duplicates, 0);
    cr_assert_eq(rb_records_read(full, 0, &whole, &err), RB_OK);
    size_t n = rb_records_count(&whole);
    cr_assert_eq(rb_records_count(&merged), n);
    char *a[12], *b[12];
    for (size_t i = 0; i < n; i++) {
        a[i] = compared(rb_records_get(&whole, i));
        b[i] = compared(rb_records_get(&merged, i));
    }
    qsort(a, n, sizeof *a, cmp_text);
    qsort(b, n, sizeof *b, cmp_text);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(a[i], b[i]);
        free(a[i]), free(b[i]);
    }
    /* each shard's records say so */
    json_object *p, *v;
    cr_assert(json_object_object_get_ex(rb_records_get(&merged, 0), "provenance", &p));
    cr_assert(json_object_object_get_ex(p, "shard", &v));
    cr_assert_str_eq(json_object_get_string(v), "0/2");
    cr_assert(json_object_object_get_ex(p, "host", &v));
    cr_assert(json_object_object_get_ex(p, "build", &v));
    cr_assert(strstr(json_object_get_string(v), RB_VERSION), "%s", json_object_get_string(v));
    rb_records_free(&merged);
    rb_records_free(&whole);
    cleanup_dir(dir);
}

static void merge_texts(const char *a, const char *b, rb_records *out, rb_merge_info *info,
                        int *rc, rb_error *err) {
    rb_records f[2];
    cr_assert_eq(rb_records_parse(a, strlen(a), "a.jsonl", &f[0], err), RB_OK);
    cr_assert_eq(rb_records_parse(b, strlen(b), "b.jsonl", &f[1], err), RB_OK);
    const char *names[] = {"a.jsonl", "b.jsonl"};
    *rc = rb_records_merge_parsed(f, names, 2, out, info, err);
    rb_records_free(&f[0]);
    rb_records_free(&f[1]);
}

Test(sweep_shard, merge_duplicates_and_conflicts) {
    const char *a = "{\"run_key\": \"k1\", \"ppl\": 5.5, \"seconds\": 1.0, \"method\": "
                    "{\"prepare_seconds\": 0.1}, \"provenance\": {\"host\": \"a\"}}\n"
                    "{\"ppl\": 1}\n"
                    "{\"run_key\": \"k2\", \"ppl\": 6.5}\n";
    /* the same runs from elsewhere, slower: identical duplicates */
    const char *b = "{\"run_key\": \"k2\", \"ppl\": 6.5, \"tokens_per_second\": 3}\n"
                    "{\"run_key\": \"k1\", \"ppl\": 5.5, \"seconds\": 9.0, \"method\": "
                    "{\"prepare_seconds\": 0.7}, \"provenance\": {\"host\": \"b\", \"rank\": 2}}\n"
                    "{\"ppl\": 1}\n"
                    "not json\n";
    rb_records m;
    rb_merge_info info;
    rb_error err = {0};
    int rc;
    merge_texts(a, b, &m, &info, &rc, &err);
    cr_assert_eq(rc, RB_OK, "%s", err.msg);
    cr_assert_eq(info.n_duplicates, 2);
    cr_assert_eq(rb_records_count(&m), 4); /* k1, {ppl 1}, k2, {ppl 1}: no key, both kept */
    cr_assert_eq(m.n_issues, 1);
    cr_assert(strstr(m.issues[0].msg, "b.jsonl:4:"), "%s", m.issues[0].msg);
    json_object *p, *h;
    json_object_object_get_ex(rb_records_get(&m, 0), "provenance", &p);
    json_object_object_get_ex(p, "host", &h);
    cr_assert_str_eq(json_object_get_string(h), "a", "the first one is kept");
    rb_records_free(&m);

    /* a metric differs: refused, naming both files and the field */
    const char *c = "{\"run_key\": \"k0\", \"ppl\": 1}\n{\"run_key\": \"k2\", \"ppl\": 6.25}\n";
    merge_texts(a, c, &m, &info, &rc, &err);
    cr_assert_eq(rc, RB_EINVAL);
    cr_assert(strstr(err.msg, "conflicting records for run k2: a.jsonl (record 3) and b.jsonl "
                              "(record 2) differ in \"ppl\" (6.5 vs 6.25)"),
              "%s", err.msg);
    /* a field only one of them has */
    const char *d = "{\"run_key\": \"k2\", \"ppl\": 6.5, \"acc\": 0.5}\n";
    merge_texts(a, d, &m, &info, &rc, &err);
    cr_assert_eq(rc, RB_EINVAL);
    cr_assert(strstr(err.msg, "\"acc\" (only in the second)"), "%s", err.msg);
}

Test(sweep_shard, merge_sources) {
    char dir[1024], p1[1200], p2[1200], g[1200];
    test_dir("merge_src", dir, sizeof dir);
    snprintf(p1, sizeof p1, "%s/r.shard-0-of-2.jsonl", dir);
    snprintf(p2, sizeof p2, "%s/r.shard-1-of-2.jsonl", dir);
    write_text(p1, "{\"run_key\": \"a\", \"ppl\": 1}\n");
    write_text(p2, "{\"run_key\": \"b\", \"ppl\": 2}\n");
    snprintf(g, sizeof g, "%s/r.shard-*", dir);
    rb_records m;
    rb_merge_info info;
    rb_error err = {0};
    /* a file named twice (by a path and a glob) is read once */
    const char *src[] = {p2, g};
    cr_assert_eq(rb_records_merge(src, 2, &m, &info, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(info.n_files, 2);
    cr_assert_eq(info.n_duplicates, 0);
    cr_assert_eq(rb_records_count(&m), 2);
    double v;
    rb_record_number(rb_records_get(&m, 0), "ppl", &v);
    cr_assert_eq(v, 2, "sources keep their order");
    rb_records_free(&m);
    snprintf(g, sizeof g, "%s/nothing-*.jsonl", dir);
    const char *none[] = {g};
    cr_assert_eq(rb_records_merge(none, 1, &m, &info, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "no results file matches"), "%s", err.msg);
    snprintf(g, sizeof g, "%s/missing.jsonl", dir);
    cr_assert_neq(rb_records_merge(none, 1, &m, &info, &err), RB_OK);
    cr_assert(strstr(err.msg, "missing.jsonl") || strstr(err.msg, "nothing-"), "%s", err.msg);
    cleanup_dir(dir);
}
