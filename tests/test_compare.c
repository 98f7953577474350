/* base/stats.c and eval/compare.c (rotbench compare): the statistics against
 * scipy/numpy (tests/stats_reference.py, run here), the bootstrap against a
 * numpy bootstrap with its own rng, selection/pairing/verdicts on synthetic
 * records, and the command's exit codes. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/rng.h"
#include "base/stats.h"
#include "eval/compare.h"
#include "eval/table.h"
#include "tests/test_util.h"

/* Runs tests/stats_reference.py on req; skips the test without python3 +
 * scipy (fails under CI). */
static json_object *reference(json_object *req) {
    if (system("/usr/bin/python3 -c 'import scipy, numpy' 2>/dev/null") != 0) {
        if (rb_test_in_ci()) cr_assert_fail("python3 with scipy and numpy is needed (CI)");
        cr_skip_test("python3 with scipy/numpy not installed: no independent reference");
    }
    char in[1024], outp[1024], cmd[4096];
    rb_test_tmp_path("stats_req.json", in, sizeof in);
    rb_test_tmp_path("stats_resp.json", outp, sizeof outp);
    const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    cr_assert_eq(rb_test_write_file(in, text, strlen(text)), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/stats_reference.py' < '%s' > '%s'",
             RB_SOURCE_ROOT, in, outp);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    json_object *o = json_object_from_file(outp);
    cr_assert(o, "reference output does not parse");
    unlink(in);
    unlink(outp);
    return o;
}

static double jget(json_object *o, const char *a, const char *b) {
    json_object *x = json_object_object_get(o, a);
    if (b) x = json_object_object_get(x, b);
    cr_assert(x, "reference lacks %s.%s", a, b ? b : "");
    return json_object_get_double(x);
}

static json_object *darr(const double *x, size_t n) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++) json_object_array_add(a, json_object_new_double(x[i]));
    return a;
}

static void expect_close(double got, double want, double tol, const char *what) {
    cr_expect(fabs(got - want) <= tol * fmax(1, fabs(want)), "%s: %.15g, reference %.15g", what,
              got, want);
}

Test(compare, stats_match_scipy) {
    rb_rng r;
    rb_rng_seed(&r, 7);
    /* paired differences of several sizes, incl. a 2-pair and a skewed one */
    size_t sizes[] = {2, 3, 5, 17};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        double d[17];
        for (size_t i = 0; i < n; i++) d[i] = 0.3 + rb_rng_normal(&r) * (k + 1) + (i == 0) * 2;
        json_object *req = json_object_new_object(), *p = json_object_new_array();
        json_object_array_add(p, darr(d, n));
        json_object_array_add(p, json_object_new_double(0.95));
        json_object_object_add(req, "paired", p);
        json_object *ref = reference(req);
        rb_paired_t t;
        rb_stats_paired_t(d, n, 0.95, &t);
        cr_assert(t.possible);
        expect_close(t.mean, jget(ref, "paired", "mean"), 1e-12, "mean");
        expect_close(t.std, jget(ref, "paired", "std"), 1e-12, "std");
        expect_close(t.t, jget(ref, "paired", "t"), 1e-10, "t");
        expect_close(t.df, jget(ref, "paired", "df"), 0, "df");
        expect_close(t.p, jget(ref, "paired", "p"), 1e-9, "p");
        expect_close(t.lo, jget(ref, "paired", "lo"), 1e-9, "lo");
        expect_close(t.hi, jget(ref, "paired", "hi"), 1e-9, "hi");
        json_object_put(req);
        json_object_put(ref);
    }
    /* the t distribution itself, tails included */
    double cdf_args[][2] = {{-3.2, 1}, {0.4, 2}, {2.1, 4}, {-12, 3}, {1.5, 30}, {5, 200},
                            {0, 7},    {-0.01, 1.5}};
    double ppf_args[][2] = {{0.975, 1}, {0.975, 2}, {0.995, 4}, {0.6, 10}, {0.025, 3},
                            {0.9999, 2}};
    json_object *req = json_object_new_object(), *c = json_object_new_array(),
                *q = json_object_new_array();
    for (size_t i = 0; i < 8; i++) json_object_array_add(c, darr(cdf_args[i], 2));
    for (size_t i = 0; i < 6; i++) json_object_array_add(q, darr(ppf_args[i], 2));
    json_object_object_add(req, "t_cdf", c);
    json_object_object_add(req, "t_ppf", q);
    double qx[] = {3, -1, 7.5, 2, 2, 10, 0.25};
    double qq[] = {0, 0.025, 0.5, 0.9, 0.975, 1};
    json_object *qa = json_object_new_array();
    json_object_array_add(qa, darr(qx, 7));
    json_object_array_add(qa, darr(qq, 6));
    json_object_object_add(req, "quantile", qa);
    json_object *ref = reference(req);
    for (size_t i = 0; i < 8; i++)
        expect_close(rb_stats_t_cdf(cdf_args[i][0], cdf_args[i][1]),
                     json_object_get_double(json_object_array_get_idx(
                         json_object_object_get(ref, "t_cdf"), i)),
                     1e-11, "t cdf");
    for (size_t i = 0; i < 6; i++)
        expect_close(rb_stats_t_quantile(ppf_args[i][0], ppf_args[i][1]),
                     json_object_get_double(json_object_array_get_idx(
                         json_object_object_get(ref, "t_ppf"), i)),
                     1e-9, "t ppf");
    rb_stats_sort(qx, 7);
    for (size_t i = 0; i < 6; i++)
        expect_close(rb_stats_quantile_sorted(qx, 7, qq[i]),
                     json_object_get_double(json_object_array_get_idx(
                         json_object_object_get(ref, "quantile"), i)),
                     1e-14, "quantile");
    json_object_put(req);
    json_object_put(ref);
}

Test(compare, paired_t_edge_cases) {
    rb_paired_t t;
    double one = 1.5;
    rb_stats_paired_t(&one, 1, 0.95, &t);
    cr_expect(!t.possible);
    cr_expect(isnan(t.p) && isnan(t.lo));
    double same[] = {2, 2, 2};
    rb_stats_paired_t(same, 3, 0.95, &t);
    cr_expect(t.possible && isinf(t.t) && t.t > 0 && t.p == 0 && t.lo == 2 && t.hi == 2);
}

/* Synthetic windows: run k's window w has nll tokens·(base + shift_k + noise). */
static void make_windows(rb_run_windows *w, size_t W, double base, double noise, rb_rng *r,
                         const double *common) {
    w->n = W;
    w->nll = malloc(W * sizeof *w->nll);
    w->tokens = malloc(W * sizeof *w->tokens);
    for (size_t i = 0; i < W; i++) {
        w->tokens[i] = i + 1 == W ? 37 : 63;
        w->nll[i] = w->tokens[i] * (base + common[i] + noise * rb_rng_normal(r));
    }
}

Test(compare, bootstrap_matches_numpy_and_is_deterministic) {
    enum { W = 48, P = 3 };
    rb_rng r;
    rb_rng_seed(&r, 11);
    double common[W]; /* the windows' own difficulty, shared by every run */
    for (size_t i = 0; i < W; i++) common[i] = 0.8 * rb_rng_normal(&r);
    rb_run_windows runs[2 * P];
    double coef[2 * P];
    for (size_t k = 0; k < 2 * P; k++) {
        make_windows(&runs[k], W, k < P ? 4.0 : 4.02, 0.05, &r, common);
        coef[k] = (k < P ? 1.0 : -1.0) / P;
    }
    size_t group[2 * P];
    for (size_t k = 0; k < 2 * P; k++) group[k] = k % P;
    for (int c = 0; c < 4; c++) {
        int stat = c & 1, seeds = c >> 1;
        const size_t *grp = seeds ? group : NULL;
        size_t ng = seeds ? P : 0;
        double obs, lo, hi, obs2, lo2, hi2;
        cr_assert_eq(rb_window_bootstrap(runs, coef, grp, 2 * P, ng, (rb_window_stat)stat, 20000,
                                         3, 0.95, &obs, &lo, &hi, NULL),
                     RB_OK);
        cr_assert_eq(rb_window_bootstrap(runs, coef, grp, 2 * P, ng, (rb_window_stat)stat, 20000,
                                         3, 0.95, &obs2, &lo2, &hi2, NULL),
                     RB_OK);
        cr_expect(lo == lo2 && hi == hi2 && obs == obs2, "same seed, same interval");
        cr_assert_eq(rb_window_bootstrap(runs, coef, grp, 2 * P, ng, (rb_window_stat)stat, 20000,
                                         4, 0.95, &obs2, &lo2, &hi2, NULL),
                     RB_OK);
        cr_expect(lo != lo2 || hi != hi2, "another seed, other draws");
        cr_expect(lo < obs && obs < hi);
        json_object *req = json_object_new_object(), *b = json_object_new_object();
        json_object *ja = json_object_new_array(), *jb = json_object_new_array();
        for (size_t k = 0; k < P; k++) {
            json_object_array_add(ja, darr(runs[k].nll, W));
            json_object_array_add(jb, darr(runs[P + k].nll, W));
        }
        json_object_object_add(b, "a", ja);
        json_object_object_add(b, "b", jb);
        json_object_object_add(b, "tokens", darr(runs[0].tokens, W));
        json_object_object_add(b, "replicates", json_object_new_int(20000));
        json_object_object_add(b, "confidence", json_object_new_double(0.95));
        json_object_object_add(b, "stat", json_object_new_string(stat ? "nll" : "ppl"));
        json_object_object_add(b, "groups", json_object_new_boolean(seeds));
        json_object_object_add(req, "boot", b);
        json_object *ref = reference(req);
        double width = hi - lo;
        expect_close(obs, jget(ref, "boot", "observed"), 1e-12, "observed");
        /* two Monte Carlo estimates of one interval: within 6% of its width */
        cr_expect(fabs(lo - jget(ref, "boot", "lo")) < 0.06 * width, "lo %.9g vs numpy %.9g", lo,
                  jget(ref, "boot", "lo"));
        cr_expect(fabs(hi - jget(ref, "boot", "hi")) < 0.06 * width, "hi %.9g vs numpy %.9g", hi,
                  jget(ref, "boot", "hi"));
        json_object_put(req);
        json_object_put(ref);
    }
    /* windows that differ are refused */
    runs[1].tokens[0] += 1;
    double o, l, h;
    rb_error err;
    cr_expect_eq(rb_window_bootstrap(runs, coef, NULL, 2 * P, 0, RB_WINDOW_PPL, 10, 0, 0.95, &o,
                                     &l, &h, &err),
                 RB_EINVAL);
    for (size_t k = 0; k < 2 * P; k++) rb_run_windows_free(&runs[k]);
}

/* ---- rb_compare on synthetic records ---------------------------------------- */

/* A perplexity record with per-window NLLs: nll per token = level + the
 * window's difficulty. */
static json_object *ppl_record(const char *method, const char *seed, const char *task,
                               double level, const double *difficulty, size_t W, int windows) {
    json_object *o = json_object_new_object();
    double sum = 0, tok = 0;
    json_object *wn = json_object_new_array(), *wt = json_object_new_array();
    for (size_t i = 0; i < W; i++) {
        double t = 100, s = t * (level + difficulty[i]);
        sum += s;
        tok += t;
        json_object_array_add(wn, json_object_new_double(s));
        json_object_array_add(wt, json_object_new_int((int)t));
    }
    json_object_object_add(o, "task", json_object_new_string(task));
    json_object_object_add(o, "data_sha256", json_object_new_string("abc"));
    json_object_object_add(o, "n_tokens", json_object_new_int64((int64_t)tok));
    json_object_object_add(o, "n_windows", json_object_new_int64((int64_t)W));
    json_object_object_add(o, "nll", json_object_new_double(sum / tok));
    json_object_object_add(o, "ppl", json_object_new_double(exp(sum / tok)));
    if (windows) {
        json_object_object_add(o, "window_nll", wn);
        json_object_object_add(o, "window_tokens", wt);
    } else {
        json_object_put(wn);
        json_object_put(wt);
    }
    char key[200];
    snprintf(key, sizeof key, "{\"m\":\"%s\",\"seed\":%s,\"task\":\"%s\"}", method, seed, task);
    json_object_object_add(o, "run_key", json_object_new_string(key));
    json_object *l = json_object_new_object();
    json_object_object_add(l, "method", json_object_new_string(method));
    json_object_object_add(l, "task", json_object_new_string(task));
    if (seed) json_object_object_add(l, "seed", json_object_new_string(seed));
    json_object_object_add(o, "labels", l);
    return o;
}

typedef struct fixture {
    json_object *recs;
    double difficulty[40];
} fixture;

/* A: 3 seeds, ~1% better than B on every window plus seed noise; C equal to
 * B on average; RTN: one seed-independent record. */
static void fixture_init(fixture *f, int windows) {
    rb_rng r;
    rb_rng_seed(&r, 5);
    for (size_t i = 0; i < 40; i++) f->difficulty[i] = 0.5 * rb_rng_normal(&r);
    f->recs = json_object_new_array();
    const char *seeds[] = {"1", "2", "3"};
    double noise_a[] = {0.001, -0.002, 0.0015}, noise_c[] = {0.004, -0.003, -0.0012};
    for (int s = 0; s < 3; s++) {
        json_object_array_add(f->recs, ppl_record("A", seeds[s], "wikitext2", 4.0 + noise_a[s],
                                                  f->difficulty, 40, windows));
        json_object_array_add(f->recs, ppl_record("B", seeds[s], "wikitext2", 4.01,
                                                  f->difficulty, 40, windows));
        json_object_array_add(f->recs, ppl_record("C", seeds[s], "wikitext2", 4.01 + noise_c[s],
                                                  f->difficulty, 40, windows));
        json_object_array_add(f->recs, ppl_record("A", seeds[s], "tinystories", 2.0,
                                                  f->difficulty, 40, windows));
    }
    json_object_array_add(f->recs,
                          ppl_record("RTN", "1", "wikitext2", 4.2, f->difficulty, 40, windows));
}

static int run_compare(json_object *recs, const char *a, const char *b, int expect,
                       rb_compare_result *res, rb_error *err) {
    static rb_where wa[4], wb[4], ww[1];
    static char ta[64], tb[64];
    size_t na = 0, nb = 0;
    snprintf(ta, sizeof ta, "%s", a);
    snprintf(tb, sizeof tb, "%s", b);
    cr_assert_eq(rb_compare_selector_parse(ta, wa, &na, 4, NULL), RB_OK);
    cr_assert_eq(rb_compare_selector_parse(tb, wb, &nb, 4, NULL), RB_OK);
    ww[0] = (rb_where){"task", "wikitext2"};
    rb_compare_source src = {"x.jsonl", recs};
    rb_compare_spec spec = {.a = wa, .n_a = na, .b = wb, .n_b = nb, .where = ww, .n_where = 1,
                            .bootstrap = 2000, .seed = 1, .confidence = 0.95, .expect = expect};
    return rb_compare(&src, &spec, res, err);
}

Test(compare, verdicts_pairing_and_errors) {
    fixture f;
    fixture_init(&f, 1);
    rb_compare_result res;
    rb_error err = {0};
    /* A < B everywhere: holds for a<b, contradicted for a>b */
    cr_assert_eq(run_compare(f.recs, "method=A", "B", -1, &res, &err), RB_OK, "%s", err.msg);
    cr_expect_eq(res.n_pairs, 3);
    cr_expect_str_eq(res.interval, "bootstrap");
    cr_expect_eq(res.n_windows, 40);
    cr_expect_eq(res.verdict, RB_VERDICT_HOLDS);
    cr_expect(res.hi < 0);
    cr_expect(fabs(res.boot_observed - res.mean_diff) < 1e-9 * fabs(res.mean_diff));
    cr_expect(res.t.possible && res.t.df == 2);
    cr_expect_str_eq(res.pairs[0].label, "1");
    cr_expect_str_eq(res.common, "task=wikitext2");
    rb_compare_result_free(&res);
    cr_assert_eq(run_compare(f.recs, "method=A", "method=B", 1, &res, &err), RB_OK);
    cr_expect_eq(res.verdict, RB_VERDICT_CONTRADICTED);
    rb_compare_result_free(&res);
    /* C equals B up to seed noise: within noise */
    cr_assert_eq(run_compare(f.recs, "method=C", "method=B", -1, &res, &err), RB_OK);
    cr_expect_eq(res.verdict, RB_VERDICT_WITHIN_NOISE, "interval [%g, %g]", res.lo, res.hi);
    rb_compare_result_free(&res);
    /* a seed-independent side pairs with every seed */
    cr_assert_eq(run_compare(f.recs, "method=A", "method=RTN", -1, &res, &err), RB_OK);
    cr_expect(res.b_shared && res.n_pairs == 3);
    cr_expect_eq(res.verdict, RB_VERDICT_HOLDS);
    rb_compare_result_free(&res);
    /* errors: nothing selected, overlapping sides */
    cr_expect_eq(run_compare(f.recs, "method=Z", "method=B", -1, &res, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "--a selects no record"), "%s", err.msg);
    cr_expect_eq(run_compare(f.recs, "wikitext2", "method=B", -1, &res, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "matches both"), "%s", err.msg);
    json_object_put(f.recs);
}

Test(compare, mixed_sides_duplicates_and_old_records) {
    fixture f;
    fixture_init(&f, 1);
    rb_compare_result res;
    rb_error err = {0};
    /* without the task filter side a mixes wikitext2 and tinystories */
    static rb_where wa[1] = {{"method", "A"}}, wb[1] = {{"method", "B"}};
    rb_compare_source src = {"x.jsonl", f.recs};
    rb_compare_spec spec = {.a = wa, .n_a = 1, .b = wb, .n_b = 1, .bootstrap = 100,
                            .confidence = 0.95};
    cr_expect_eq(rb_compare(&src, &spec, &res, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "differ in \"task\""), "%s", err.msg);
    /* --task keeps the perplexity records of that task */
    spec.task = "wikitext2";
    cr_assert_eq(rb_compare(&src, &spec, &res, &err), RB_OK, "%s", err.msg);
    cr_expect_eq(res.n_pairs, 3);
    rb_compare_result_free(&res);
    /* a run recorded twice in one record set (results files are merged, and
     * identical duplicates dropped, before: eval/records_merge.h) is two
     * records of one pairing label: refused */
    json_object *twice = json_object_new_array();
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < json_object_array_length(f.recs); i++)
            json_object_array_add(twice, json_object_get(json_object_array_get_idx(f.recs, i)));
    rb_compare_source dup = {"x.jsonl", twice};
    cr_expect_eq(rb_compare(&dup, &spec, &res, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "x.jsonl: record"), "%s", err.msg);
    json_object_put(twice);
    /* window data that does not add up to the record's nll */
    json_object *bad = json_object_new_array();
    json_object *r = ppl_record("A", "1", "wikitext2", 4.0, f.difficulty, 40, 1);
    json_object_object_add(r, "nll", json_object_new_double(5));
    json_object_array_add(bad, r);
    json_object_array_add(bad, ppl_record("B", "1", "wikitext2", 4.0, f.difficulty, 40, 1));
    rb_compare_source b1 = {"bad.jsonl", bad};
    cr_expect_eq(rb_compare(&b1, &spec, &res, &err), RB_EFORMAT);
    cr_expect(strstr(err.msg, "bad.jsonl: record 1: the windows add up"), "%s", err.msg);
    json_object_put(bad);
    json_object_put(f.recs);
    /* older records without windows: the t interval decides */
    fixture_init(&f, 0);
    src.records = f.recs;
    cr_assert_eq(rb_compare(&src, &spec, &res, &err), RB_OK, "%s", err.msg);
    cr_expect_str_eq(res.interval, "t");
    cr_expect_eq(res.n_boot, 0);
    cr_expect(strstr(res.notes, "no per-window NLLs"), "%s", res.notes);
    rb_compare_result_free(&res);
    json_object_put(f.recs);
}

/* The command: exit 0 holds, 3 within noise, 4 contradicted, and --json. */
Test(compare, cli_exit_codes, .timeout = 60) {
    const char *exe = getenv("ROTBENCH_EXE");
    cr_assert(exe, "ROTBENCH_EXE is not set");
    fixture f;
    fixture_init(&f, 1);
    char path[1024], out[1024], cmd[4096];
    rb_test_tmp_path("compare.jsonl", path, sizeof path);
    rb_test_tmp_path("compare.out", out, sizeof out);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    for (size_t i = 0; i < json_object_array_length(f.recs); i++)
        fprintf(fp, "%s\n",
                json_object_to_json_string_ext(json_object_array_get_idx(f.recs, i),
                                               JSON_C_TO_STRING_PLAIN));
    fclose(fp);
    struct { const char *a, *b, *expect; int status; } cases[] = {
        {"A", "B", "'a<b'", 0}, {"C", "B", "'a<b'", 3}, {"A", "B", "'a>b'", 4},
        {"A", "B", NULL, 0}};
    for (size_t i = 0; i < 4; i++) {
        snprintf(cmd, sizeof cmd,
                 "'%s' compare '%s' --a method=%s --b method=%s --task wikitext2 %s%s "
                 "--bootstrap 1000 --json > '%s'",
                 exe, path, cases[i].a, cases[i].b, cases[i].expect ? "--expect " : "",
                 cases[i].expect ? cases[i].expect : "", out);
        int st = system(cmd);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == cases[i].status, "%s: status %d", cmd,
                  WEXITSTATUS(st));
        json_object *o = json_object_from_file(out);
        cr_assert(o, "%s: stdout is not one JSON object", cmd);
        const char *want = cases[i].status == 0 && cases[i].expect ? "holds"
                           : cases[i].status == 3                  ? "within noise"
                           : cases[i].status == 4                  ? "contradicted"
                                                                   : "none";
        cr_expect_str_eq(json_object_get_string(json_object_object_get(o, "verdict")), want);
        cr_expect_eq(json_object_get_int(json_object_object_get(o, "n_pairs")), 3);
        json_object_put(o);
    }
    snprintf(cmd, sizeof cmd, "'%s' compare '%s' --a method=A 2>/dev/null", exe, path);
    int st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "usage: status %d", WEXITSTATUS(st));
    unlink(path);
    unlink(out);
    json_object_put(f.recs);
}

/* rotbench table --ci: the interval beside mean ± std, only where every
 * record of the cell has per-window NLLs. */
Test(compare, table_interval) {
    fixture f, old;
    fixture_init(&f, 1);
    fixture_init(&old, 0);
    /* method D: the old records (no windows) of A, relabelled */
    for (size_t i = 0; i < json_object_array_length(old.recs); i++) {
        json_object *r = json_object_array_get_idx(old.recs, i);
        json_object *l = json_object_object_get(r, "labels");
        if (strcmp(json_object_get_string(json_object_object_get(l, "method")), "A")) continue;
        json_object_object_add(l, "method", json_object_new_string("D"));
        json_object_array_add(f.recs, json_object_get(r));
    }
    rb_where w = {"task", "wikitext2"};
    rb_table_spec spec = {.rows = "method", .cols = "task", .metric = "ppl", .where = &w,
                          .n_where = 1, .ci = 0.95, .ci_boot = 2000, .records = f.recs};
    rb_agg agg;
    rb_error err = {0};
    char *md = NULL, *csv = NULL;
    cr_assert_eq(rb_table_aggregate(f.recs, &spec, NULL, &agg, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_table_markdown(&agg, &spec, &md, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_table_csv(&agg, &spec, &csv, &err), RB_OK, "%s", err.msg);
    double mean, std, lo, hi;
    int n;
    const char *row = strstr(md, "| A | ");
    cr_assert(row, "%s", md);
    cr_assert_eq(sscanf(row, "| A | %lf ± %lf [%lf, %lf] |", &mean, &std, &lo, &hi), 4, "%s", md);
    cr_expect(lo < mean && mean < hi, "%s", md);
    row = strstr(md, "| D | ");
    cr_assert(row && strchr(row, '\n'), "%s", md);
    char line[200];
    snprintf(line, sizeof line, "%.*s", (int)(strchr(row, '\n') - row), row);
    cr_expect(!strchr(line, '['), "no window data, no interval: %s", line);
    cr_expect(strstr(csv, "split,row,col,mean,std,n,ci_lo,ci_hi\n"), "%s", csv);
    const char *d = strstr(csv, ",D,wikitext2,");
    cr_assert(d, "%s", csv);
    cr_expect(sscanf(d, ",D,wikitext2,%lf,%lf,%d,,\n", &mean, &std, &n) == 3 && n == 3, "%s", csv);
    free(md);
    free(csv);
    rb_agg_free(&agg);
    json_object_put(f.recs);
    json_object_put(old.recs);
}
