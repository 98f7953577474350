/* eval/lmeval.c: lm-evaluation-harness 0.4 results from rotbench records.
 * The layout is checked key by key against lm-eval's own results file
 * tests/testdata/cpu_regression_expected.json (EleutherAI/lm-evaluation-
 * harness, commit 4b0bc045f243b3cfa93cee4a02bd5990ccdceef5: top-level
 * results, versions, n-shot, higher_is_better, n-samples; per task alias,
 * name, sample_len, "<metric>,none" numbers and "<metric>_stderr,none"
 * numbers or "N/A"), the word count against Python's re.split(r"\s+"), and
 * the numbers against rotbench's own record of a real run. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eval/lmeval.h"
#include "tests/test_util.h"

/* Python's len(re.split(r"\s+", s)) of the file at path. */
static long python_words(const char *path) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import re,sys; "
             "print(len(re.split(r\"\\s+\", open(sys.argv[1], encoding=\"utf-8\").read())))' '%s'",
             path);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "cannot run python3");
    long n = -1;
    if (fscanf(p, "%ld", &n) != 1) n = -1;
    int st = pclose(p);
    if (n < 0 || st != 0) {
        if (rb_test_in_ci()) cr_assert_fail("python3 is needed (CI)");
        cr_skip_test("python3 not available: no independent word count");
    }
    return n;
}

Test(lmeval, word_count_matches_python_re_split) {
    const char *cases[] = {"", " ", "a", " a ", "a  b\tc\n\nd", "x\xc2\xa0y",
                           "no\xe2\x80\x83" "break\xe3\x80\x80here", "\x1f" "a\x0b" "b\x0c",
                           "caf\xc3\xa9 \xe2\x80\x99s", "trailing\n"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = rb_test_tmp_file(cases[i], strlen(cases[i]));
        long want = python_words(path);
        unlink(path);
        cr_expect_eq((long)rb_lmeval_count_words(cases[i], strlen(cases[i])), want,
                     "case %zu: %zu vs python %ld", i, rb_lmeval_count_words(cases[i], strlen(cases[i])),
                     want);
    }
}

/* The keys and types of lm-eval's layout (see the top of the file). */
static void check_layout(json_object *o) {
    const char *top[] = {"results", "versions", "n-shot", "higher_is_better", "n-samples",
                         "configs", "config", "groups"};
    for (size_t i = 0; i < 8; i++) {
        json_object *v;
        cr_assert(json_object_object_get_ex(o, top[i], &v) &&
                      json_object_is_type(v, json_type_object),
                  "top-level \"%s\" is not an object", top[i]);
    }
    json_object *results = json_object_object_get(o, "results");
    cr_assert_gt(json_object_object_length(results), 0);
    json_object_object_foreach(results, task, r) {
        cr_expect(json_object_is_type(json_object_object_get(r, "alias"), json_type_string));
        cr_expect(json_object_is_type(json_object_object_get(r, "sample_len"), json_type_int));
        json_object *ver = json_object_object_get(json_object_object_get(o, "versions"), task);
        cr_expect(json_object_is_type(ver, json_type_double), "%s: version", task);
        json_object *ns = json_object_object_get(json_object_object_get(o, "n-shot"), task);
        cr_expect(json_object_is_type(ns, json_type_int), "%s: n-shot", task);
        json_object *smp = json_object_object_get(json_object_object_get(o, "n-samples"), task);
        cr_expect(json_object_is_type(json_object_object_get(smp, "original"), json_type_int));
        cr_expect(json_object_is_type(json_object_object_get(smp, "effective"), json_type_int));
        json_object *hib = json_object_object_get(json_object_object_get(o, "higher_is_better"),
                                                  task);
        int metrics = 0;
        json_object_object_foreach(r, k, v) {
            const char *comma = strchr(k, ',');
            if (!comma) continue;
            cr_expect_str_eq(comma, ",none", "%s: key %s", task, k);
            size_t n = (size_t)(comma - k);
            if (n > 7 && !strncmp(comma - 7, "_stderr", 7)) {
                cr_expect(json_object_is_type(v, json_type_double) ||
                              (json_object_is_type(v, json_type_string) &&
                               !strcmp(json_object_get_string(v), "N/A")),
                          "%s: %s is neither a number nor \"N/A\"", task, k);
                continue;
            }
            metrics++;
            cr_expect(json_object_is_type(v, json_type_double), "%s: %s is not a number", task, k);
            char m[128], se[160];
            snprintf(m, sizeof m, "%.*s", (int)n, k);
            snprintf(se, sizeof se, "%s_stderr,none", m);
            cr_expect(json_object_object_get_ex(r, se, NULL), "%s: %s without %s", task, k, se);
            cr_expect(json_object_is_type(json_object_object_get(hib, m), json_type_boolean),
                      "%s: higher_is_better.%s", task, m);
        }
        cr_expect_gt(metrics, 0, "%s has no metric", task);
    }
    json_object *cfg = json_object_object_get(o, "config");
    cr_expect(json_object_is_type(json_object_object_get(cfg, "model"), json_type_string));
    cr_expect(json_object_is_type(json_object_object_get(cfg, "model_sha256"), json_type_string));
}

/* Runs rotbench eval with --output-format lm-eval and returns (record, results). */
static void run_eval(const char *args, const char *name, json_object **rec, json_object **res) {
    const char *exe = getenv("ROTBENCH_EXE");
    cr_assert(exe, "ROTBENCH_EXE is not set");
    char dir[1024], out[1100], cmd[4096];
    rb_test_tmp_path(name, dir, sizeof dir);
    snprintf(out, sizeof out, "%s.record.json", dir);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && '%s' eval %s --data-dir '%s' --json --output-format lm-eval "
             "--output-path '%s' > '%s' 2>/dev/null",
             dir, exe, args, rb_test_data_dir(), dir, out);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    *rec = json_object_from_file(out);
    cr_assert(*rec, "%s: no record", cmd);
    DIR *d = opendir(dir);
    cr_assert(d, "%s not written", dir);
    struct dirent *e;
    char path[2048] = "";
    int n = 0;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "results_", 8) && strstr(e->d_name, ".json")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            n++;
        }
    closedir(d);
    cr_assert_eq(n, 1, "%s: want one results_*.json", dir);
    *res = json_object_from_file(path);
    cr_assert(*res, "%s does not parse", path);
}

static double num(json_object *o, const char *a, const char *b) {
    json_object *x = json_object_object_get(o, a);
    if (b) x = json_object_object_get(x, b);
    cr_assert(x, "missing %s.%s", a, b ? b : "");
    return json_object_get_double(x);
}

Test(lmeval, zeroshot_suite_equals_record, .timeout = 600) {
    rb_test_require_data("models/stories260K/stories260K.bin");
    rb_test_require_data("datasets/hellaswag/hellaswag_val_full.txt");
    json_object *rec, *res;
    run_eval("--task zeroshot --limit 8", "lm_zs", &rec, &res);
    check_layout(res);
    json_object *tasks = json_object_object_get(rec, "tasks"),
                *results = json_object_object_get(res, "results");
    cr_assert_eq(json_object_object_length(results), json_object_object_length(tasks));
    json_object_object_foreach(tasks, name, t) {
        const char *lname = !strcmp(name, "lambada") ? "lambada_openai" : name;
        json_object *r = json_object_object_get(results, lname);
        cr_assert(r, "no results.%s", lname);
        cr_expect_eq(num(r, "acc,none", NULL), num(t, "acc", NULL), "%s acc", name);
        cr_expect_eq(num(r, "acc_stderr,none", NULL), num(t, "acc_stderr", NULL), "%s", name);
        if (!strcmp(name, "boolq") || !strcmp(name, "winogrande")) {
            /* lm-eval's metric_list of these has acc only */
            cr_expect(!json_object_object_get_ex(r, "acc_norm,none", NULL), "%s", name);
        } else if (strcmp(name, "lambada")) {
            cr_expect_eq(num(r, "acc_norm,none", NULL), num(t, "acc_norm", NULL), "%s", name);
            cr_expect_eq(num(r, "acc_norm_stderr,none", NULL), num(t, "acc_norm_stderr", NULL));
        } else {
            cr_expect_eq(num(r, "perplexity,none", NULL), num(t, "ppl", NULL));
        }
        cr_expect_eq(json_object_get_int(json_object_object_get(r, "sample_len")), 8);
    }
    cr_expect_str_eq(json_object_get_string(json_object_object_get(
                         json_object_object_get(res, "config"), "model_sha256")),
                     json_object_get_string(json_object_object_get(rec, "model_sha256")));
    json_object_put(rec);
    json_object_put(res);
}

Test(lmeval, perplexity_metrics_as_lm_eval_defines_them, .timeout = 600) {
    rb_test_require_data("models/stories260K/stories260K.bin");
    const char *text = rb_test_require_data("datasets/tinystories/TinyStories-valid-head.txt");
    json_object *rec, *res;
    run_eval("--task tinystories", "lm_ppl", &rec, &res);
    check_layout(res);
    /* the whole file is scored: its words and bytes as Python counts them */
    long words = python_words(text);
    cr_expect_eq(num(rec, "n_words", NULL), (double)words);
    FILE *f = fopen(text, "rb");
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fclose(f);
    cr_expect_eq(num(rec, "n_bytes", NULL), (double)bytes);
    double ll = -num(rec, "nll", NULL) * num(rec, "n_tokens", NULL);
    json_object *r = json_object_object_get(json_object_object_get(res, "results"), "tinystories");
    cr_assert(r);
    cr_expect(fabs(num(r, "word_perplexity,none", NULL) - exp(-ll / words)) <
              1e-12 * exp(-ll / words));
    cr_expect(fabs(num(r, "byte_perplexity,none", NULL) - exp(-ll / bytes)) <
              1e-12 * exp(-ll / bytes));
    cr_expect(fabs(num(r, "bits_per_byte,none", NULL) - (-ll / bytes / log(2))) < 1e-12);
    cr_expect_eq(num(r, "token_perplexity,none", NULL), num(rec, "ppl", NULL));
    json_object_put(rec);
    json_object_put(res);
}
