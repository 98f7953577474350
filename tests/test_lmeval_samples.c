/* eval/lmeval_samples.c, eval/pyjson.c and `rotbench eval --log-samples`:
 * lm-evaluation-harness 0.4's samples_<task>_<date>.jsonl.  References that
 * are not rotbench's: Python's json.dumps / repr(float) / hashlib (run
 * here), the dataset files themselves, and lm-eval's way of reading an
 * output directory (tests/lmeval_samples_check.py, which also checks every
 * key, type and nesting against lm-eval's evaluator.py and
 * evaluation_tracker.py at commit 4e7e0d47f33bc71070c1d38394bafbb52b117163). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/buf.h"
#include "base/rng.h"
#include "eval/lmeval_samples.h"
#include "eval/pyjson.h"
#include "tests/test_util.h"

/* Runs cmd; its exit status, its output (stdout + stderr) in out[cap]. */
static int run(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    cr_assert(p, "cannot run %s", cmd);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void require_python(void) {
    char out[256];
    if (run("/usr/bin/python3 -c 'import json, hashlib' 2>&1", out, sizeof out) != 0) {
        if (rb_test_in_ci()) cr_assert_fail("python3 is needed (CI)");
        cr_skip_test("python3 not available: no independent json.dumps");
    }
}

/* ---- eval/pyjson.c against Python's json.dumps and repr ---------------------- */

Test(lmeval_samples, floats_as_python_repr) {
    require_python();
    rb_rng r;
    rb_rng_seed(&r, 17);
    static const double fixed[] = {0.0, -0.0, 1.0, -1.5, 0.1, 1e-4, 1e-5, 9.999e-5, 1e15, 1e16,
                                   123456789012345678.0, 1e22, 5e-324, 1.7976931348623157e308,
                                   -270.1636705456738, 2.5, 100.0, 1234.5e-10, 0.30000000000000004};
    enum { N_FIXED = sizeof fixed / sizeof *fixed, N = N_FIXED + 2000 };
    rb_buf b = {0};
    for (int i = 0; i < N; i++) {
        double v;
        if (i < N_FIXED) {
            v = fixed[i];
        } else if (i % 2) { /* any finite bit pattern */
            uint64_t u = rb_rng_next(&r);
            memcpy(&v, &u, sizeof v);
            if (!isfinite(v)) v = (double)u;
        } else { /* log-likelihood-like numbers */
            v = -exp(20.0 * rb_rng_uniform(&r) - 10.0);
        }
        char mine[32];
        rb_buf_printf(&b, "%.17g %s\n", v, rb_pyjson_float(v, mine));
    }
    const char *in = rb_test_tmp_file(b.s, b.len);
    rb_buf_free(&b);
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import sys\n"
             "bad = [l for l in open(sys.argv[1]) if repr(float(l.split()[0])) != l.split()[1]]\n"
             "print(len(bad), bad[:5])\n"
             "sys.exit(1 if bad else 0)' '%s' 2>&1",
             in);
    cr_expect_eq(run(cmd, out, sizeof out), 0, "floats unlike Python's repr: %s", out);
}

/* A random JSON value for the dump test: strings with every control
 * character, quotes, backslashes and multi-byte UTF-8; nested and empty
 * containers; ints; doubles; booleans; null. */
static json_object *random_value(rb_rng *r, int depth) {
    static const char *pieces[] = {"a", " ", "\"", "\\", "/", "\n", "\t", "\r", "\b", "\f",
                                   "\x01", "\x1f", "\x7f", "é", "ß", "😀", "\xe2\x80\xa8", "日本",
                                   "{", "}", ":", ",", "0"};
    int kind = (int)(rb_rng_next(r) % (depth > 3 ? 6 : 8));
    switch (kind) {
    case 0: return NULL;
    case 1: return json_object_new_boolean((int)(rb_rng_next(r) & 1));
    case 2: return json_object_new_int64((int64_t)(rb_rng_next(r) >> (1 + rb_rng_next(r) % 63)) *
                                         (rb_rng_next(r) & 1 ? -1 : 1));
    case 3: return json_object_new_double((rb_rng_uniform(r) - 0.5) *
                                          pow(10.0, (double)(rb_rng_next(r) % 40) - 20.0));
    case 4:
    case 5: {
        char s[256] = "";
        int n = (int)(rb_rng_next(r) % 12);
        for (int i = 0; i < n; i++)
            strcat(s, pieces[rb_rng_next(r) % (sizeof pieces / sizeof *pieces)]);
        return json_object_new_string(s);
    }
    case 6: {
        json_object *a = json_object_new_array();
        int n = (int)(rb_rng_next(r) % 4);
        for (int i = 0; i < n; i++) json_object_array_add(a, random_value(r, depth + 1));
        return a;
    }
    default: {
        json_object *o = json_object_new_object();
        int n = (int)(rb_rng_next(r) % 4);
        for (int i = 0; i < n; i++) {
            char k[32];
            snprintf(k, sizeof k, "k%d%s", i, i == 1 ? "\"é\n" : "");
            json_object_object_add(o, k, random_value(r, depth + 1));
        }
        return o;
    }
    }
}

Test(lmeval_samples, dumps_as_python_json) {
    require_python();
    rb_rng r;
    rb_rng_seed(&r, 5);
    /* per line: json-c's own text of a value (the input Python reads), then
     * ours without indent and with indent=2, each as a JSON string */
    rb_buf b = {0};
    for (int i = 0; i < 400; i++) {
        json_object *v = json_object_new_object();
        json_object_object_add(v, "v", random_value(&r, 0));
        json_object_object_add(v, "empty", json_object_new_object());
        json_object *plain = json_object_new_array();
        rb_buf x = {0};
        rb_pyjson_dump(v, -1, &x);
        json_object_array_add(plain, json_object_new_string(x.s));
        rb_buf_free(&x);
        rb_pyjson_dump(v, 2, &x);
        json_object_array_add(plain, json_object_new_string(x.s));
        rb_buf_free(&x);
        json_object_array_add(plain, json_object_get(v));
        rb_buf_puts(&b, json_object_to_json_string_ext(plain, JSON_C_TO_STRING_PLAIN));
        rb_buf_puts(&b, "\n");
        json_object_put(plain);
        json_object_put(v);
    }
    const char *in = rb_test_tmp_file(b.s, b.len);
    rb_buf_free(&b);
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import json, sys\n"
             "bad = 0\n"
             "for l in open(sys.argv[1], encoding=\"utf-8\"):\n"
             "    plain, ind, v = json.loads(l)\n"
             "    if plain != json.dumps(v, ensure_ascii=False) or "
             "ind != json.dumps(v, indent=2, ensure_ascii=False):\n"
             "        bad += 1\n"
             "        if bad < 3: print(repr(plain), repr(json.dumps(v, ensure_ascii=False)))\n"
             "print(bad, \"differ\")\n"
             "sys.exit(1 if bad else 0)' '%s' 2>&1",
             in);
    cr_expect_eq(run(cmd, out, sizeof out), 0, "json.dumps differs: %s", out);
}

/* ---- one sample from made-up scores ------------------------------------------- */

Test(lmeval_samples, greedy_task_sample_fields) {
    rb_zs_task t = {.kind = RB_ZS_GREEDY, .delimiter = "", .n_items = 1};
    snprintf(t.name, sizeof t.name, "lambada");
    rb_zs_item it = {.context = "a \"quoted\" word and", .n_choices = 1,
                     .choices = {" end"}, .doc = "{\"text\": \"a \\\"quoted\\\" word and end\"}"};
    t.items = &it;
    rb_zs_item_score sc = {.logprob = {-1.5}, .greedy = {1}, .acc = 1, .acc_norm = 1};
    rb_lmeval_samples s = {0};
    rb_error err;
    cr_assert_eq(rb_lmeval_samples_add(&s, &t, &sc, 1, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(s.n, 1);
    cr_expect_str_eq(s.task[0].task, "lambada_openai");
    const char *l = s.task[0].jsonl;
    cr_expect(strstr(l, "\"resps\": [[[\"-1.5\", \"True\"]]], \"filtered_resps\": [[\"-1.5\", "
                        "\"True\"]], \"filter\": \"none\", \"metrics\": [\"perplexity\", \"acc\"]"),
              "%s", l);
    cr_expect(strstr(l, "\"perplexity\": -1.5, \"acc\": 1}\n"), "%s", l);
    cr_expect(strstr(l, "\"target\": \" end\""), "%s", l);
    cr_expect(strstr(l, "\"arguments\": {\"gen_args_0\": {\"arg_0\": \"a \\\"quoted\\\" word and\", "
                        "\"arg_1\": \" end\"}}"),
              "%s", l);
    rb_lmeval_samples_free(&s);
    /* a task lm-eval samples are not written for, and an item without doc */
    snprintf(t.name, sizeof t.name, "mmlu_anatomy");
    cr_expect_eq(rb_lmeval_samples_add(&s, &t, &sc, 1, &err), RB_EINVAL);
    snprintf(t.name, sizeof t.name, "lambada");
    it.doc = NULL;
    cr_expect_eq(rb_lmeval_samples_add(&s, &t, &sc, 1, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "no doc"), "%s", err.msg);
    cr_expect_eq(s.n, 0);
}

/* ---- rotbench eval --log-samples ---------------------------------------------- */

/* The one file in dir whose name starts with prefix, into path. */
static int find_file(const char *dir, const char *prefix, char *path, size_t cap) {
    DIR *d = opendir(dir);
    cr_assert(d, "%s not written", dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) {
            snprintf(path, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

/* The mean of metric over the lines of a samples file (NAN when absent). */
static double mean_of(const char *path, const char *metric, size_t *lines) {
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char *line = NULL;
    size_t cap = 0, n = 0;
    double sum = 0;
    int missing = 0;
    while (getline(&line, &cap, f) > 0) {
        json_object *o = json_tokener_parse(line);
        cr_assert(o, "%s line %zu does not parse", path, n + 1);
        json_object *v;
        if (json_object_object_get_ex(o, metric, &v))
            sum += json_object_get_double(v);
        else
            missing = 1;
        json_object_put(o);
        n++;
    }
    free(line);
    fclose(f);
    *lines = n;
    return missing || !n ? NAN : sum / (double)n;
}

Test(lmeval_samples, zeroshot_suite_as_lm_eval_writes_and_reads_it, .timeout = 600) {
    rb_test_require_data("models/stories260K/stories260K.bin");
    rb_test_require_data("datasets/hellaswag/hellaswag_val_full.txt");
    require_python();
    const char *exe = getenv("ROTBENCH_EXE");
    cr_assert(exe, "ROTBENCH_EXE is not set");
    char dir[1024], rec_path[1100], cmd[4096], out[16384];
    rb_test_tmp_path("lm_samples", dir, sizeof dir);
    snprintf(rec_path, sizeof rec_path, "%s.record.json", dir);
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && '%s' eval --task zeroshot --limit 8 --data-dir '%s' --json "
             "--output-format lm-eval --output-path '%s' --log-samples > '%s' 2>/dev/null",
             dir, exe, rb_test_data_dir(), dir, rec_path);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    json_object *rec = json_object_from_file(rec_path);
    char res_path[2048];
    cr_assert_eq(find_file(dir, "results_", res_path, sizeof res_path), 1);
    json_object *res = json_object_from_file(res_path);
    cr_assert(rec && res);
    json_object *results = json_object_object_get(res, "results");
    /* (a) per-sample metrics averaged = the results file's = rotbench's record */
    json_object_object_foreach(json_object_object_get(rec, "tasks"), name, t) {
        const char *lname = !strcmp(name, "lambada") ? "lambada_openai" : name;
        char prefix[128], path[2048];
        snprintf(prefix, sizeof prefix, "samples_%s_2", lname);
        cr_assert_eq(find_file(dir, prefix, path, sizeof path), 1, "%s: no samples file", name);
        json_object *r = json_object_object_get(results, lname);
        for (int m = 0; m < 2; m++) {
            const char *metric = m ? "acc_norm" : "acc";
            char key[64];
            snprintf(key, sizeof key, "%s,none", metric);
            size_t n;
            double mean = mean_of(path, metric, &n);
            cr_expect_eq(n, 8, "%s: %zu lines", name, n);
            int has = json_object_object_get_ex(r, key, NULL);
            cr_expect_eq(has, !isnan(mean), "%s: %s in the results file %d, in the samples %d",
                         name, metric, has, !isnan(mean));
            if (isnan(mean)) continue;
            cr_expect_eq(mean, json_object_get_double(json_object_object_get(r, key)), "%s %s",
                         name, metric);
            cr_expect_eq(mean, json_object_get_double(json_object_object_get(t, metric)),
                         "%s %s: samples %.17g, record", name, metric, mean);
        }
    }
    json_object_put(rec);
    json_object_put(res);
    /* (b) keys, nesting, types; (c) the hashes; (d) found as lm-eval's tools
     * find them; docs against the dataset files: in Python */
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/lmeval_samples_check.py' '%s' '%s' 2>&1",
             RB_SOURCE_ROOT, dir, rec_path);
    cr_expect_eq(run(cmd, out, sizeof out), 0, "%s:\n%s", cmd, out);
}

/* `rotbench sweep --output-format lm-eval --log-samples`: every run writes
 * its results and samples files into DIR/<sweep>/<labels>/, and each
 * samples file averages to the acc of that run's record in the sweep's
 * results file (two runs whose numbers differ: FP and W4A4KV4). */
Test(lmeval_samples, sweep_runs_write_their_samples, .timeout = 600) {
    rb_test_require_data("models/stories260K/stories260K.bin");
    rb_test_require_data("datasets/piqa/valid.jsonl");
    const char *exe = getenv("ROTBENCH_EXE");
    cr_assert(exe, "ROTBENCH_EXE is not set");
    char dir[1024], cfg[1100], res[1100], out_dir[1100], cmd[8192], out[16384];
    rb_test_tmp_path("lm_sweep", dir, sizeof dir);
    snprintf(cfg, sizeof cfg, "%s/ls.json", dir);
    snprintf(res, sizeof res, "%s/ls.jsonl", dir);
    snprintf(out_dir, sizeof out_dir, "%s/lm", dir);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    cr_assert_eq(system(cmd), 0);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\": \"ls\", \"results\": \"%s\", \"base\": {\"task\": \"piqa\", "
             "\"limit\": 12},\n \"axes\": [{\"name\": \"method\", \"values\": [\n"
             "  {\"label\": \"FP\", \"args\": {}},\n"
             "  {\"label\": \"W4A4 RTN\", \"args\": {\"w-bits\": 4, \"a-bits\": 4}}]}]}\n",
             res);
    cr_assert_eq(rb_test_write_file(cfg, text, strlen(text)), 0);
    snprintf(cmd, sizeof cmd,
             "'%s' sweep '%s' --threads 1 --rotbench '%s' --output-format lm-eval "
             "--output-path '%s' --log-samples 2>&1",
             exe, cfg, exe, out_dir);
    setenv("ROTBENCH_DATA", rb_test_data_dir(), 1);
    cr_assert_eq(run(cmd, out, sizeof out), 0, "%s:\n%s", cmd, out);
    FILE *f = fopen(res, "r");
    cr_assert(f, "%s not written", res);
    char *line = NULL;
    size_t cap = 0;
    int n_runs = 0;
    double accs[2] = {0};
    while (getline(&line, &cap, f) > 0) {
        json_object *rec = json_tokener_parse(line);
        cr_assert(rec);
        const char *method =
            json_object_get_string(json_object_object_get(json_object_object_get(rec, "labels"),
                                                          "method"));
        cr_assert(method, "a record without its method label");
        double acc = json_object_get_double(json_object_object_get(
            json_object_object_get(json_object_object_get(rec, "tasks"), "piqa"), "acc"));
        char run_dir[2048], path[2400];
        snprintf(run_dir, sizeof run_dir, "%s/ls/%s", out_dir,
                 !strcmp(method, "FP") ? "FP" : "W4A4_RTN");
        cr_assert_eq(find_file(run_dir, "results_", path, sizeof path), 1, "%s", run_dir);
        cr_assert_eq(find_file(run_dir, "samples_piqa_", path, sizeof path), 1, "%s", run_dir);
        size_t lines;
        double mean = mean_of(path, "acc", &lines);
        cr_expect_eq(lines, 12, "%s: %zu lines", path, lines);
        cr_expect_eq(mean, acc, "%s: samples average %.17g, record %.17g", method, mean, acc);
        if (n_runs < 2) accs[n_runs] = acc;
        n_runs++;
        json_object_put(rec);
    }
    free(line);
    fclose(f);
    cr_expect_eq(n_runs, 2);
    fprintf(stderr, "sweep --log-samples: piqa acc FP / W4A4 %.4f / %.4f (12 items)\n", accs[0],
            accs[1]);
}

Test(lmeval_samples, refused_where_not_written) {
    const char *exe = getenv("ROTBENCH_EXE");
    cr_assert(exe, "ROTBENCH_EXE is not set");
    struct {
        const char *args, *says;
    } cases[] = {
        {"--task piqa --log-samples", "needs --output-format lm-eval"},
        {"--task mmlu_anatomy --log-samples --output-format lm-eval --output-path /nonexistent",
         "MMLU"},
        {"--task tinystories --log-samples --output-format lm-eval --output-path /nonexistent",
         "perplexity corpus"},
        {"--text /nonexistent --log-samples --output-format lm-eval --output-path /nonexistent",
         "perplexity corpus"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char cmd[2048], out[4096];
        snprintf(cmd, sizeof cmd, "'%s' eval %s 2>&1", exe, cases[i].args);
        cr_expect_eq(run(cmd, out, sizeof out), 2, "%s: %s", cmd, out);
        cr_expect(strstr(out, cases[i].says), "%s: %s", cmd, out);
    }
}
