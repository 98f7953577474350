/* Sweeps, results files, tables and plots: config parsing (good and every
 * kind of bad), expansion and merging, canonical keys, robust JSONL reading,
 * aggregation computed by hand, CSV, plots, and a sweep SIGKILLed mid-way
 * then resumed (against a fake "rotbench" shell script). */
#include <criterion/criterion.h>
#include <glob.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/io.h"
#include "eval/plot.h"
#include "eval/records.h"
#include "eval/sweep.h"
#include "eval/table.h"
#include "tests/test_util.h"

/* ---- helpers ---------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* A fresh, empty directory for one test: <tmp>/rotbench-test-<pid>/<name>. */
static const char *test_dir(const char *name, char *buf, size_t cap) {
    rb_test_tmp_path(name, buf, cap);
    nftw(buf, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(mkdir(buf, 0700), 0, "mkdir %s: %s", buf, strerror(errno));
    return buf;
}

static void cleanup_dir(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void write_text(const char *path, const char *text) {
    cr_assert_eq(rb_test_write_file(path, text, strlen(text)), 0, "cannot write %s", path);
}

static char *read_text(const char *path) {
    char *s;
    size_t n;
    rb_error err;
    cr_assert_eq(rb_read_file(path, 0, &s, &n, &err), RB_OK, "%s", err.msg);
    return s;
}

static int parse_cfg(const char *text, rb_sweep_config *cfg, rb_error *err) {
    return rb_sweep_config_parse(text, strlen(text), "configs/x.json", cfg, err);
}

static const char *GOOD =
    "{\n"
    "  \"name\": \"w8a8_grid\",\n"
    "  \"description\": \"a test grid\",\n"
    "  \"results\": \"results/w8a8_grid.jsonl\",\n"
    "  \"base\": {\"model\": \"stories260K\", \"task\": \"wikitext2\", \"ctx\": 512},\n"
    "  \"axes\": [\n"
    "    {\"name\": \"model\", \"values\": [ {\"label\": \"stories260K\", \"args\": {}},\n"
    "       {\"label\": \"outliers\", \"args\": {\"pipeline\": \"outliers:scale=30\"}} ]},\n"
    "    {\"name\": \"row\", \"values\": [ {\"label\": \"W/tensor A/tensor static\", \"args\":\n"
    "       {\"w-bits\": 8, \"w-gran\": \"tensor\", \"a-bits\": 8, \"a-gran\": \"tensor\", \"a-static\": true}} ]},\n"
    "    {\"name\": \"col\", \"values\": [ {\"label\": \"SmoothQuant a=0.85\", \"args\": {\"pipeline\": \"smoothquant:alpha=0.85\"}} ]},\n"
    "    {\"name\": \"seed\", \"values\": [ {\"label\": \"0\", \"args\": {\"seed\": 0}}, {\"label\": \"1\", \"args\": {\"seed\": 1}} ]}\n"
    "  ],\n"
    "  \"tables\": [ {\"name\": \"grid\", \"rows\": \"row\", \"cols\": \"col\", \"split\": \"model\", \"metric\": \"ppl\"} ],\n"
    "  \"plots\":  [ {\"name\": \"alpha\", \"x\": \"col\", \"series\": \"model\", \"logy\": true} ]\n"
    "}\n";

/* ---- config parsing ------------------------------------------------------------ */

Test(sweep, config_good) {
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse_cfg(GOOD, &cfg, &err), RB_OK, "%s", err.msg);
    cr_assert_str_eq(cfg.name, "w8a8_grid");
    cr_assert_str_eq(cfg.results, "results/w8a8_grid.jsonl");
    cr_assert_eq(cfg.n_axes, 4);
    cr_assert_str_eq(cfg.axes[1].name, "row");
    cr_assert_eq(cfg.axes[0].n_values, 2);
    cr_assert_str_eq(cfg.axes[0].values[1].label, "outliers");
    cr_assert_eq(rb_sweep_axis_index(&cfg, "seed"), 3);
    cr_assert_eq(rb_sweep_axis_index(&cfg, "nope"), -1);
    cr_assert_eq(cfg.n_tables, 1);
    cr_assert_str_eq(cfg.tables[0].split, "model");
    cr_assert_str_eq(cfg.tables[0].metric, "ppl");
    cr_assert_eq(cfg.n_plots, 1);
    cr_assert_str_eq(cfg.plots[0].metric, "ppl"); /* the default */
    cr_assert_eq(cfg.plots[0].logy, 1);
    cr_assert_eq(cfg.plots[0].logx, 0);
    cr_assert_null(cfg.plots[0].title);
    rb_sweep_config_free(&cfg);
}

Test(sweep, config_files_in_the_repository_parse) {
    glob_t g;
    cr_assert_eq(glob(RB_SOURCE_ROOT "/configs/*.json", 0, NULL, &g), 0, "no configs found");
    cr_expect_geq(g.gl_pathc, 4);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        rb_sweep_config cfg;
        rb_error err = {0};
        cr_assert_eq(rb_sweep_config_load(path, &cfg, &err), RB_OK, "%s", err.msg);
        rb_sweep_run *runs;
        size_t n;
        cr_assert_eq(rb_sweep_expand(&cfg, &runs, &n, &err), RB_OK, "%s", err.msg);
        rb_sweep_runs_free(runs, n);
        rb_sweep_config_free(&cfg);
    }
    globfree(&g);
}

typedef struct bad_case {
    const char *text;
    const char *msg;
} bad_case;

#define AX1 "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\", \"args\": {\"ctx\": 64}}]}]"
#define HEAD "{\"name\": \"t\", \"results\": \"r.jsonl\", "

Test(sweep, config_bad) {
    static const bad_case cases[] = {
        {"{\"name\": \"t\",\n  \"results\": }", "configs/x.json: line 2, column 14: "},
        {"{\"name\": \"t\"", "configs/x.json: line 1, column 13: unexpected end of file"},
        {"[1, 2]", "configs/x.json: expected a JSON object, got an array"},
        {"{\"name\": \"t\"} {}", "configs/x.json: line 1, column 15: text after the JSON object"},
        {"{\"results\": \"r\", " AX1 "}", "configs/x.json: missing \"name\""},
        {"{\"name\": \"a b\", \"results\": \"r\", " AX1 "}",
         "configs/x.json: name: \"a b\": use only letters, digits"},
        {"{\"name\": 3, \"results\": \"r\", " AX1 "}",
         "configs/x.json: name: expected a string, got an integer"},
        {"{\"name\": \"t\", " AX1 "}", "configs/x.json: missing \"results\""},
        {HEAD "\"axis\": []}", "configs/x.json: unknown key \"axis\" (expected name, results, base, axes, exclude, tables, plots)"},
        {HEAD "\"base\": {}}", "configs/x.json: missing \"axes\""},
        {HEAD "\"axes\": {}}", "configs/x.json: axes: expected an array, got an object"},
        {HEAD "\"axes\": []}", "configs/x.json: axes: must have at least one axis"},
        {HEAD "\"axes\": [{\"values\": [{\"label\": \"x\"}]}]}",
         "configs/x.json: axes[0]: missing \"name\""},
        {HEAD "\"axes\": [{\"name\": \"a\", \"valuez\": []}]}",
         "configs/x.json: axes[0]: unknown key \"valuez\" (expected name, values)"},
        {HEAD "\"axes\": [{\"name\": \"a\"}]}", "configs/x.json: axes[0]: missing \"values\""},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": []}]}",
         "configs/x.json: axes[0].values: must have at least one value"},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\"}]},"
              " {\"name\": \"b\", \"values\": [{\"args\": {}}]}]}",
         "configs/x.json: axes[1].values[0]: missing \"label\""},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\"}, {\"label\": \"x\"}]}]}",
         "configs/x.json: axes[0].values[1].label: duplicate label \"x\" (also values[0])"},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\"}]},"
              " {\"name\": \"a\", \"values\": [{\"label\": \"y\"}]}]}",
         "configs/x.json: axes[1].name: duplicate axis \"a\" (also axes[0])"},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\", \"args\": {\"ctx\": [1]}}]}]}",
         "configs/x.json: axes[0].values[0].args.ctx: expected a string, number or boolean, got an array"},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\", \"args\": {\"ctx\": null}}]}]}",
         "configs/x.json: axes[0].values[0].args.ctx: expected a string, number or boolean, got null"},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\", \"args\": []}]}]}",
         "configs/x.json: axes[0].values[0].args: expected an object of eval flags, got an array"},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\", \"args\": {\"pipeline\": 3}}]}]}",
         "configs/x.json: axes[0].values[0].args.pipeline: expected a string, got an integer"},
        {HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\", \"args\": {\"json\": true}}]}]}",
         "configs/x.json: axes[0].values[0].args.json: \"json\" is added by the runner"},
        {HEAD "\"base\": {\"--ctx\": 5}, " AX1 "}",
         "configs/x.json: base.--ctx: \"--ctx\" is not a flag name"},
        {HEAD AX1 ", \"tables\": [{\"name\": \"g\", \"rows\": \"foo\", \"cols\": \"a\"}]}",
         "configs/x.json: tables[0].rows: \"foo\" is not an axis (axes: a; or \"metric\" for a metric list)"},
        {HEAD AX1 ", \"tables\": [{\"name\": \"g\", \"rows\": \"a\"}]}",
         "configs/x.json: tables[0]: missing \"cols\""},
        {HEAD AX1 ", \"tables\": [{\"name\": \"g\", \"rows\": \"a\", \"cols\": \"a\"}]}",
         "configs/x.json: tables[0]: rows, cols and split must be different axes"},
        {HEAD AX1 ", \"tables\": [{\"name\": \"g/h\", \"rows\": \"a\", \"cols\": \"a\"}]}",
         "configs/x.json: tables[0].name: \"g/h\": use only letters"},
        {HEAD AX1 ", \"tables\": [{\"name\": \"g\", \"rows\": \"a\", \"cols\": \"a\", \"where\": {\"a\": \"nope\"}}]}",
         "configs/x.json: tables[0].where.a: axis \"a\" has no label \"nope\""},
        {HEAD AX1 ", \"plots\": [{\"name\": \"p\", \"x\": \"a\", \"logy\": 1}]}",
         "configs/x.json: plots[0].logy: expected true or false, got an integer"},
        {HEAD AX1 ", \"plots\": [{\"name\": \"p\"}]}", "configs/x.json: plots[0]: missing \"x\""},
        {HEAD AX1 ", \"plots\": [{\"name\": \"p\", \"x\": \"a\"}, {\"name\": \"p\", \"x\": \"a\"}]}",
         "configs/x.json: plots[1].name: duplicate plot \"p\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rb_sweep_config cfg;
        rb_error err = {0};
        int rc = parse_cfg(cases[i].text, &cfg, &err);
        cr_assert_neq(rc, RB_OK, "case %zu was accepted: %s", i, cases[i].text);
        cr_assert(strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) == 0,
                  "case %zu:\n  got      %s\n  expected %s...", i, err.msg, cases[i].msg);
    }
}

Test(sweep, config_same_args_twice_is_an_error) {
    const char *text = HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\", \"args\": "
                       "{\"ctx\": 64}}, {\"label\": \"y\", \"args\": {\"ctx\": 64, \"a-static\": false}}]}]}";
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse_cfg(text, &cfg, &err), RB_OK, "%s", err.msg);
    rb_sweep_run *runs;
    size_t n;
    cr_assert_neq(rb_sweep_expand(&cfg, &runs, &n, &err), RB_OK);
    cr_assert_str_eq(err.msg, "configs/x.json: axes: runs \"x\" and \"y\" have the same arguments "
                              "{\"ctx\":64}; every run must differ in its args");
    rb_sweep_config_free(&cfg);
}

Test(sweep, exclude_drops_matching_runs) {
    const char *text =
        HEAD "\"axes\": [{\"name\": \"m\", \"values\": [{\"label\": \"FP\"}, {\"label\": \"rot\", "
        "\"args\": {\"pipeline\": \"quarot\"}}]}, {\"name\": \"seed\", \"values\": [{\"label\": \"1\", "
        "\"args\": {\"seed\": 1}}, {\"label\": \"2\", \"args\": {\"seed\": 2}}, {\"label\": \"3\", "
        "\"args\": {\"seed\": 3}}]}], \"exclude\": [{\"m\": \"FP\", \"seed\": [\"2\", \"3\"]}]}";
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse_cfg(text, &cfg, &err), RB_OK, "%s", err.msg);
    rb_sweep_run *runs;
    size_t n;
    cr_assert_eq(rb_sweep_expand(&cfg, &runs, &n, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(n, 4);
    cr_expect_str_eq(runs[0].label_text, "FP / 1");
    cr_expect_str_eq(runs[1].label_text, "rot / 1");
    cr_expect_str_eq(runs[3].label_text, "rot / 3");
    rb_sweep_runs_free(runs, n);
    rb_sweep_config_free(&cfg);
    /* bad entries name the problem */
    static const bad_case bad[] = {
        {HEAD AX1 ", \"exclude\": {\"a\": \"x\"}}", "configs/x.json: exclude: expected an array"},
        {HEAD AX1 ", \"exclude\": [{\"b\": \"x\"}]}", "configs/x.json: exclude[0].b: \"b\" is not an axis"},
        {HEAD AX1 ", \"exclude\": [{\"a\": [\"z\"]}]}", "configs/x.json: exclude[0].a: axis \"a\" has no label \"z\""},
        {HEAD AX1 ", \"exclude\": [{}]}", "configs/x.json: exclude[0]: an empty exclude"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = parse_cfg(bad[i].text, &cfg, &err);
        cr_expect_neq(rc, RB_OK, "case %zu accepted", i);
        cr_expect(strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) == 0, "case %zu: %s", i, err.msg);
    }
    cr_assert_eq(parse_cfg(HEAD AX1 ", \"exclude\": [{\"a\": \"x\"}]}", &cfg, &err), RB_OK);
    cr_expect_neq(rb_sweep_expand(&cfg, &runs, &n, &err), RB_OK);
    cr_expect(strstr(err.msg, "every run is excluded") != NULL, "%s", err.msg);
    rb_sweep_config_free(&cfg);
}

/* ---- expansion, merging, flags -------------------------------------------------- */

static char *argv_line(const rb_sweep_run *run, int threads) {
    char **av;
    rb_error err;
    cr_assert_eq(rb_sweep_argv(run, "rb", threads, &av, &err), RB_OK, "%s", err.msg);
    char *s = rb_shell_join(av);
    rb_sweep_argv_free(av);
    return s;
}

Test(sweep, expansion_and_flags) {
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse_cfg(GOOD, &cfg, &err), RB_OK, "%s", err.msg);
    rb_sweep_run *runs;
    size_t n;
    cr_assert_eq(rb_sweep_expand(&cfg, &runs, &n, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(n, 4); /* 2 models x 1 row x 1 col x 2 seeds, first axis slowest */
    cr_assert_str_eq(runs[0].label_text, "stories260K / W/tensor A/tensor static / SmoothQuant a=0.85 / 0");
    cr_assert_str_eq(runs[1].label_text, "stories260K / W/tensor A/tensor static / SmoothQuant a=0.85 / 1");
    cr_assert_str_eq(runs[3].label_text, "outliers / W/tensor A/tensor static / SmoothQuant a=0.85 / 1");
    char *l0 = argv_line(&runs[0], 4), *l3 = argv_line(&runs[3], 0);
    cr_assert_str_eq(l0, "rb eval --model stories260K --task wikitext2 --ctx 512 --w-bits 8 "
                         "--w-gran tensor --a-bits 8 --a-gran tensor --a-static "
                         "--pipeline smoothquant:alpha=0.85 --seed 0 --threads 4 --json");
    /* pipelines concatenate in axis order; no --threads when threads = 0 */
    cr_assert_str_eq(l3, "rb eval --model stories260K --task wikitext2 --ctx 512 "
                         "--pipeline outliers:scale=30,smoothquant:alpha=0.85 --w-bits 8 "
                         "--w-gran tensor --a-bits 8 --a-gran tensor --a-static --seed 1 --json");
    cr_assert_str_eq(runs[3].key,
                     "{\"a-bits\":8,\"a-gran\":\"tensor\",\"a-static\":true,\"ctx\":512,"
                     "\"model\":\"stories260K\",\"pipeline\":\"outliers:scale=30,smoothquant:"
                     "alpha=0.85\",\"seed\":1,\"task\":\"wikitext2\",\"w-bits\":8,\"w-gran\":"
                     "\"tensor\"}");
    const char *lab = json_object_to_json_string_ext(
        runs[2].labels, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    cr_assert_str_eq(lab, "{\"model\":\"outliers\",\"row\":\"W/tensor A/tensor static\","
                          "\"col\":\"SmoothQuant a=0.85\",\"seed\":\"0\"}");
    free(l0);
    free(l3);
    rb_sweep_runs_free(runs, n);
    rb_sweep_config_free(&cfg);
}

Test(sweep, merge_order_override_and_false) {
    const char *text =
        HEAD "\"base\": {\"ctx\": 512, \"a-static\": true, \"pipeline\": \"outliers\", \"threads\": 3},"
        "\"axes\": ["
        " {\"name\": \"a\", \"values\": [{\"label\": \"p\", \"args\": {\"ctx\": 64, \"pipeline\": \"\"}},"
        "                                {\"label\": \"q\", \"args\": {\"a-static\": false, \"w-clip\": 0.9}}]},"
        " {\"name\": \"b\", \"values\": [{\"label\": \"r\", \"args\": {\"ctx\": 128, \"pipeline\": \"gptq\", \"calib\": \"my file.txt\"}}]}]}";
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse_cfg(text, &cfg, &err), RB_OK, "%s", err.msg);
    rb_sweep_run *runs;
    size_t n;
    cr_assert_eq(rb_sweep_expand(&cfg, &runs, &n, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(n, 2);
    char *l0 = argv_line(&runs[0], 8), *l1 = argv_line(&runs[1], 8);
    /* later ctx wins; "" adds nothing to the pipeline; the config's threads beat the runner's;
       values with spaces are shell-quoted when printed */
    cr_assert_str_eq(l0, "rb eval --ctx 128 --a-static --pipeline outliers,gptq --threads 3 "
                         "--calib 'my file.txt' --json");
    /* false removes the flag (and the key) */
    cr_assert_str_eq(l1, "rb eval --ctx 128 --pipeline outliers,gptq --threads 3 --w-clip 0.9 "
                         "--calib 'my file.txt' --json");
    cr_assert_str_eq(runs[1].key, "{\"calib\":\"my file.txt\",\"ctx\":128,\"pipeline\":"
                                  "\"outliers,gptq\",\"threads\":3,\"w-clip\":0.9}");
    free(l0);
    free(l1);
    rb_sweep_runs_free(runs, n);
    rb_sweep_config_free(&cfg);

    /* rb_sweep_merge_args on its own */
    json_object *dst = json_tokener_parse("{\"pipeline\": \"a:x=1\", \"k\": 1}");
    json_object *src = json_tokener_parse("{\"pipeline\": \"b\", \"k\": \"two\", \"z\": true}");
    cr_assert_eq(rb_sweep_merge_args(dst, src, &err), RB_OK);
    cr_assert_str_eq(json_object_to_json_string_ext(dst, JSON_C_TO_STRING_PLAIN),
                     "{\"pipeline\":\"a:x=1,b\",\"k\":\"two\",\"z\":true}");
    json_object_put(dst);
    json_object_put(src);
}

Test(sweep, canonical_keys_are_stable) {
    json_object *a = json_tokener_parse(
        "{\"w-clip\": 0.85, \"ctx\": 512, \"task\": \"a\\\"b\\\\c\\n\", \"one\": 1.0, "
        "\"nested\": {\"z\": [1, 2.5e3, false], \"a\": null}, \"big\": 0.1000000000000000055511}");
    json_object *b = json_tokener_parse(
        "{\"big\": 0.1, \"nested\": {\"a\": null, \"z\": [1, 2500, false]}, \"one\": 1, "
        "\"task\": \"a\\\"b\\\\c\\n\", \"ctx\": 512, \"w-clip\": 0.850}");
    char *ka = rb_json_canonical(a), *kb = rb_json_canonical(b);
    cr_assert_str_eq(ka, "{\"big\":0.1,\"ctx\":512,\"nested\":{\"a\":null,\"z\":[1,2500,false]},"
                         "\"one\":1,\"task\":\"a\\\"b\\\\c\\n\",\"w-clip\":0.85}");
    cr_assert_str_eq(ka, kb);
    /* the same text twice, and after a round trip through the canonical form */
    char *kc = rb_json_canonical(a);
    cr_assert_str_eq(ka, kc);
    json_object *c = json_tokener_parse(ka);
    char *kd = rb_json_canonical(c);
    cr_assert_str_eq(ka, kd);
    /* flag values: shortest round-trip numbers */
    json_object *v = json_object_new_double(0.1 + 0.2);
    char *s = rb_sweep_arg_value(v);
    cr_assert_str_eq(s, "0.30000000000000004");
    free(s);
    json_object_put(v);
    free(ka), free(kb), free(kc), free(kd);
    json_object_put(a), json_object_put(b), json_object_put(c);
}

/* ---- reading results files ------------------------------------------------------- */

Test(sweep, jsonl_partial_last_line_and_corrupt_middle_line) {
    const char *text = "{\"ppl\": 1.5, \"labels\": {\"x\": \"a\"}}\n"
                       "{\"ppl\": 2.5, \"lab\n"                  /* corrupt (torn, then more) */
                       "\n"                                      /* blank: skipped silently */
                       "[1, 2]\n"                                /* not an object */
                       "{\"ppl\": 3.5} trailing\n"               /* garbage after the value */
                       "{\"ppl\": 4.5, \"labels\": {\"x\": \"b\"}}\n"
                       "{\"ppl\": 5.5, \"lab";                   /* partial last line */
    rb_records r;
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(text, strlen(text), "res.jsonl", &r, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_records_count(&r), 2);
    double v;
    cr_assert_eq(rb_record_number(rb_records_get(&r, 1), "ppl", &v), 0);
    cr_assert_float_eq(v, 4.5, 0);
    cr_assert_str_eq(rb_record_label(rb_records_get(&r, 1), "x"), "b");
    cr_assert_eq(r.n_issues, 4);
    cr_assert_eq(r.issues[0].line, 2);
    cr_assert(strncmp(r.issues[0].msg, "res.jsonl:2: ", 13) == 0, "%s", r.issues[0].msg);
    cr_assert_str_eq(r.issues[1].msg, "res.jsonl:4: not a JSON object; ignored");
    cr_assert(strstr(r.issues[2].msg, "res.jsonl:5: text after the JSON value"), "%s", r.issues[2].msg);
    cr_assert(strncmp(r.issues[3].msg, "res.jsonl:7: partial last line (no newline", 42) == 0,
              "%s", r.issues[3].msg);
    cr_assert_eq(r.tail, RB_TAIL_PARTIAL);
    cr_assert_eq(r.keep_bytes, (size_t)(strstr(text, "{\"ppl\": 5.5") - text));
    cr_assert_eq(r.n_lines, 7);
    rb_records_free(&r);

    /* a complete last record without its newline is kept */
    const char *t2 = "{\"a\": 1}\n{\"a\": 2}";
    cr_assert_eq(rb_records_parse(t2, strlen(t2), "t2", &r, &err), RB_OK);
    cr_assert_eq(rb_records_count(&r), 2);
    cr_assert_eq(r.n_issues, 0);
    cr_assert_eq(r.tail, RB_TAIL_NO_NEWLINE);
    rb_records_free(&r);

    /* empty and missing files */
    cr_assert_eq(rb_records_parse("", 0, "e", &r, &err), RB_OK);
    cr_assert_eq(rb_records_count(&r), 0);
    cr_assert_eq(r.tail, RB_TAIL_CLEAN);
    rb_records_free(&r);
    cr_assert_eq(rb_records_read("/nonexistent/rotbench.jsonl", 1, &r, &err), RB_OK);
    cr_assert_eq(rb_records_count(&r), 0);
    rb_records_free(&r);
    cr_assert_neq(rb_records_read("/nonexistent/rotbench.jsonl", 0, &r, &err), RB_OK);
    cr_assert(strstr(err.msg, "/nonexistent/rotbench.jsonl"), "%s", err.msg);

    /* dotted metric paths */
    json_object *o = json_tokener_parse("{\"method\": {\"prepare_seconds\": 2}, \"s\": \"x\"}");
    cr_assert_eq(rb_record_number(o, "method.prepare_seconds", &v), 0);
    cr_assert_float_eq(v, 2.0, 0);
    cr_assert_eq(rb_record_number(o, "s", &v), -1);
    cr_assert_eq(rb_record_number(o, "method.nope", &v), -1);
    json_object_put(o);
}

/* ---- tables --------------------------------------------------------------------- */

static const char *FIXTURE =
    "{\"ppl\": 10, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 12, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"1\"}}\n"
    "{\"ppl\": 14, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"2\"}}\n"
    "{\"ppl\": 5.5, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c2\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 5.75, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c2\", \"seed\": \"1\"}}\n"
    "{\"ppl\": 7.25, \"labels\": {\"model\": \"A\", \"row\": \"r2, big\", \"col\": \"c1\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 100, \"labels\": {\"model\": \"B\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 101, \"labels\": {\"model\": \"B\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"1\"}}\n"
    "{\"nll\": 1, \"labels\": {\"model\": \"B\", \"row\": \"r1\", \"col\": \"c2\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 3, \"labels\": {\"model\": \"A\", \"row\": \"r1\"}}\n"
    "{\"ppl\": 99, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c1\", \"seed\"";

static void fixture_agg(rb_records *r, rb_agg *agg, const rb_table_spec *spec) {
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(FIXTURE, strlen(FIXTURE), "fix.jsonl", r, &err), RB_OK);
    cr_assert_eq(r->n_issues, 1); /* the partial last line */
    cr_assert_eq(rb_table_aggregate(r->items, spec, NULL, agg, &err), RB_OK, "%s", err.msg);
}

Test(sweep, table_mean_std_by_hand) {
    rb_records r;
    rb_agg agg;
    rb_table_spec spec = {.rows = "row", .cols = "col", .split = "model", .metric = "ppl"};
    fixture_agg(&r, &agg, &spec);
    cr_assert_eq(agg.n_used, 8);
    cr_assert_eq(agg.n_no_metric, 1);
    cr_assert_eq(agg.n_no_label, 1);
    cr_assert_eq(agg.n_over, 1);
    cr_assert_str_eq(agg.over[0], "seed");
    /* A / r1 / c1: 10, 12, 14 -> mean 12, std sqrt((4 + 0 + 4) / 2) = 2 */
    size_t idx[3] = {0, 0, 0};
    const rb_agg_cell *c = rb_agg_find(&agg, idx);
    cr_assert_not_null(c);
    cr_assert_eq(c->n, 3);
    cr_assert_float_eq(c->mean, 12.0, 1e-12);
    cr_assert_float_eq(c->std, 2.0, 1e-12);
    /* A / r1 / c2: 5.5, 5.75 -> mean 5.625, std sqrt(2 * 0.125^2) = 0.1767767 */
    idx[2] = 1;
    c = rb_agg_find(&agg, idx);
    cr_assert_float_eq(c->mean, 5.625, 1e-12);
    cr_assert_float_eq(c->std, sqrt(2 * 0.125 * 0.125), 1e-12);
    /* B / r2, big / c1: nothing */
    size_t none[3] = {1, 1, 0};
    cr_assert_null(rb_agg_find(&agg, none));

    char *md;
    rb_error err = {0};
    cr_assert_eq(rb_table_markdown(&agg, &spec, &md, &err), RB_OK);
    cr_assert_str_eq(md,
                     "### model = A\n"
                     "\n"
                     "| row | c1 | c2 |\n"
                     "|---|---:|---:|\n"
                     "| r1 | 12.00 ± 2.00 | 5.625 ± 0.177 |\n"
                     "| r2, big | 7.250 | — |\n"
                     "\n"
                     "### model = B\n"
                     "\n"
                     "| row | c1 | c2 |\n"
                     "|---|---:|---:|\n"
                     "| r1 | 100.50 ± 0.71 | — |\n"
                     "| r2, big | — | — |\n"
                     "\n"
                     "*ppl: mean ± sample std over seed (n = 1 to 3 per cell); rows: row, "
                     "columns: col; — = no result.*\n");
    free(md);
    rb_agg_free(&agg);

    /* --where, no split */
    rb_where w = {"col", "c1"};
    rb_table_spec s2 = {.rows = "model", .cols = "row", .metric = "ppl", .where = &w, .n_where = 1,
                        .title = "t"};
    cr_assert_eq(rb_table_aggregate(r.items, &s2, NULL, &agg, &err), RB_OK);
    cr_assert_eq(rb_table_markdown(&agg, &s2, &md, &err), RB_OK);
    cr_assert_str_eq(md, "## t\n\n"
                         "| model | r1 | r2, big |\n"
                         "|---|---:|---:|\n"
                         "| A | 12.00 ± 2.00 | 7.250 |\n"
                         "| B | 100.50 ± 0.71 | — |\n"
                         "\n"
                         "*ppl: mean ± sample std over seed (n = 1 to 3 per cell); rows: model, "
                         "columns: row; only col = c1; — = no result.*\n");
    free(md);
    rb_agg_free(&agg);
    rb_records_free(&r);
}

/* Metric lists: perplexity and zero-shot records side by side along the
 * "metric" pseudo-axis, nested paths and "a|b" alternatives. */
Test(sweep, table_metric_columns) {
    static const char recs[] =
        "{\"ppl\": 10, \"labels\": {\"m\": \"FP\", \"task\": \"wt2\", \"seed\": \"1\"}}\n"
        "{\"acc\": 0.25, \"tasks\": {\"piqa\": {\"acc\": 0.5}}, \"labels\": {\"m\": \"FP\", "
        "\"task\": \"zs\", \"seed\": \"1\"}}\n"
        "{\"ppl\": 20, \"labels\": {\"m\": \"Q\", \"task\": \"wt2\", \"seed\": \"1\"}}\n"
        "{\"ppl\": 22, \"labels\": {\"m\": \"Q\", \"task\": \"wt2\", \"seed\": \"2\"}}\n"
        "{\"acc\": 0.5, \"tasks\": {\"piqa\": {\"acc\": 0.75}}, \"labels\": {\"m\": \"Q\", "
        "\"task\": \"zs\", \"seed\": \"1\"}}\n";
    rb_records r;
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(recs, strlen(recs), "m.jsonl", &r, &err), RB_OK);
    rb_agg agg;
    rb_table_spec spec = {.rows = "m", .cols = "metric",
                          .metric = "Wiki ppl=ppl,avg=acc,PIQA=tasks.piqa.acc"};
    cr_assert_eq(rb_table_aggregate(r.items, &spec, NULL, &agg, &err), RB_OK, "%s", err.msg);
    char *md;
    cr_assert_eq(rb_table_markdown(&agg, &spec, &md, &err), RB_OK);
    cr_expect(strstr(md, "| m | Wiki ppl | avg | PIQA |\n") != NULL, "%s", md);
    cr_expect(strstr(md, "| FP | 10.00 | 0.2500 | 0.5000 |\n") != NULL, "%s", md);
    cr_expect(strstr(md, "| Q | 21.00 ± 1.41 | 0.5000 | 0.7500 |\n") != NULL, "%s", md);
    free(md);
    rb_agg_free(&agg);
    /* alternatives: one column over both kinds of record */
    rb_table_spec alt = {.rows = "m", .cols = "task", .metric = "ppl|acc"};
    cr_assert_eq(rb_table_aggregate(r.items, &alt, NULL, &agg, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(agg.n_used, 5);
    rb_agg_free(&agg);
    /* several metrics need the metric axis */
    rb_table_spec bad = {.rows = "m", .cols = "task", .metric = "ppl,acc"};
    cr_expect_eq(rb_table_aggregate(r.items, &bad, NULL, &agg, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "metric") != NULL, "%s", err.msg);
    rb_table_spec empty = {.rows = "m", .cols = "metric", .metric = "a=,b"};
    cr_expect_eq(rb_table_aggregate(r.items, &empty, NULL, &agg, &err), RB_EINVAL);
    rb_records_free(&r);
}

Test(sweep, table_csv) {
    rb_records r;
    rb_agg agg;
    rb_table_spec spec = {.rows = "row", .cols = "col", .split = "model", .metric = "ppl"};
    fixture_agg(&r, &agg, &spec);
    char *csv;
    rb_error err = {0};
    cr_assert_eq(rb_table_csv(&agg, &spec, &csv, &err), RB_OK);
    cr_assert_str_eq(csv, "split,row,col,mean,std,n\n"
                          "A,r1,c1,12,2,3\n"
                          "A,r1,c2,5.625,0.1767766953,2\n"
                          "A,\"r2, big\",c1,7.25,,1\n"
                          "B,r1,c1,100.5,0.7071067812,2\n");
    free(csv);
    rb_agg_free(&agg);
    rb_table_spec s2 = {.rows = "row", .cols = "model", .metric = "ppl"};
    cr_assert_eq(rb_table_aggregate(r.items, &s2, NULL, &agg, &err), RB_OK);
    cr_assert_eq(rb_table_csv(&agg, &s2, &csv, &err), RB_OK);
    /* averaged over col and seed: A/r1 = mean(10, 12, 14, 5.5, 5.75, 3) (the record
       without a col counts here) = 50.25 / 6 */
    const char *want = "split,row,col,mean,std,n\n,r1,A,8.375,";
    cr_assert(strncmp(csv, want, strlen(want)) == 0, "%s", csv);
    free(csv);
    rb_agg_free(&agg);
    rb_records_free(&r);
}

Test(sweep, table_cell_format) {
    char b[64];
    rb_table_format(122.3159, NAN, 1, b, sizeof b);
    cr_assert_str_eq(b, "122.32");
    rb_table_format(5.5381, NAN, 1, b, sizeof b);
    cr_assert_str_eq(b, "5.538");
    rb_table_format(0.65234, 0.0123, 3, b, sizeof b);
    cr_assert_str_eq(b, "0.6523 ± 0.0123");
    rb_table_format(9.99996, NAN, 1, b, sizeof b);
    cr_assert_str_eq(b, "10.00");
    rb_table_format(1.5e7, 2e5, 2, b, sizeof b);
    cr_assert_str_eq(b, "1.500e+07 ± 2.000e+05");
    rb_table_format(INFINITY, NAN, 2, b, sizeof b);
    cr_assert_str_eq(b, "inf");
    rb_table_format(0, 0, 0, b, sizeof b);
    cr_assert_str_eq(b, "—");
}

Test(sweep, table_in_config_order) {
    /* with the config, labels follow its order and every label appears */
    const char *text =
        HEAD "\"axes\": [{\"name\": \"row\", \"values\": [{\"label\": \"r0\"}, {\"label\": \"r2, big\"}, "
        "{\"label\": \"r1\"}]}, {\"name\": \"col\", \"values\": [{\"label\": \"c2\"}, {\"label\": \"c1\"}]}]}";
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse_cfg(text, &cfg, &err), RB_OK, "%s", err.msg);
    rb_records r;
    cr_assert_eq(rb_records_parse(FIXTURE, strlen(FIXTURE), "fix.jsonl", &r, &err), RB_OK);
    rb_where w = {"model", "A"};
    rb_table_spec spec = {.rows = "row", .cols = "col", .metric = "ppl", .where = &w, .n_where = 1};
    rb_agg agg;
    cr_assert_eq(rb_table_aggregate(r.items, &spec, &cfg, &agg, &err), RB_OK);
    char *md;
    cr_assert_eq(rb_table_markdown(&agg, &spec, &md, &err), RB_OK);
    cr_assert(strncmp(md, "| row | c2 | c1 |\n|---|---:|---:|\n| r0 | — | — |\n"
                          "| r2, big | — | 7.250 |\n| r1 | 5.625 ± 0.177 | 12.00 ± 2.00 |\n", 100) == 0,
              "%s", md);
    free(md);
    rb_agg_free(&agg);
    rb_records_free(&r);
    rb_sweep_config_free(&cfg);
}

/* ---- plots ---------------------------------------------------------------------- */

Test(sweep, plot_png_or_clear_error) {
    char dir[1024], out[1200], path[1300];
    test_dir("plot", dir, sizeof dir);
    rb_records r;
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(FIXTURE, strlen(FIXTURE), "fix.jsonl", &r, &err), RB_OK);
    rb_plot_spec spec = {.x = "col", .series = "model", .metric = "ppl", .logy = 1,
                         .source = "fix.jsonl"};
    rb_agg agg;
    cr_assert_eq(rb_plot_aggregate(r.items, &spec, NULL, &agg, &err), RB_OK);
    char *script;
    cr_assert_eq(rb_plot_script(&agg, &spec, "p", &script, &err), RB_OK, "%s", err.msg);
    /* series A at c1: 10, 12, 14 (r1) and 7.25 (r2), averaged over row and seed */
    cr_assert(strstr(script, "$d1 << EOD\n# A\n0 10.8125 2.882"), "%s", script);
    cr_assert(strstr(script, "set xtics ('c1' 0, 'c2' 1)"), "%s", script);
    cr_assert(strstr(script, "set logscale y"), "%s", script);
    cr_assert(strstr(script, "with yerrorlines"), "%s", script);
    cr_assert(strstr(script, "set output 'p.png'"), "%s", script);
    cr_assert(strstr(script, "set output 'p.svg'"), "%s", script);
    free(script);

    /* a gnuplot that is not there: a clear error, the script is still written */
    snprintf(out, sizeof out, "%s/missing.png", dir);
    spec.gnuplot = "/nonexistent/gnuplot";
    cr_assert_eq(rb_plot_write(&agg, &spec, out, &err), RB_EUNSUPPORTED);
    cr_assert(strstr(err.msg, "gnuplot not found: /nonexistent/gnuplot is not an executable file"),
              "%s", err.msg);
    snprintf(path, sizeof path, "%s/missing.gp", dir);
    cr_assert_eq(access(path, R_OK), 0);

    char gp[1024];
    if (!rb_find_program("gnuplot", gp, sizeof gp)) {
        if (rb_test_in_ci()) cr_assert_fail("gnuplot is not installed (CI=true)");
        rb_agg_free(&agg);
        rb_records_free(&r);
        cleanup_dir(dir);
        cr_skip_test("gnuplot is not installed: only the missing-gnuplot error was checked");
    }
    spec.gnuplot = NULL;
    snprintf(out, sizeof out, "%s/sub dir/ppl.png", dir); /* directories are created */
    cr_assert_eq(rb_plot_write(&agg, &spec, out, &err), RB_OK, "%s", err.msg);
    FILE *f = fopen(out, "rb");
    cr_assert_not_null(f, "%s was not written", out);
    unsigned char magic[8] = {0};
    cr_assert_eq(fread(magic, 1, 8, f), 8);
    fclose(f);
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    cr_assert_eq(memcmp(magic, png, 8), 0, "%s is not a PNG", out);
    snprintf(path, sizeof path, "%s/sub dir/ppl.svg", dir);
    char *svg = read_text(path);
    cr_assert(strstr(svg, "<svg"), "no <svg in %s", path);
    free(svg);
    snprintf(path, sizeof path, "%s/sub dir/ppl.gp", dir);
    cr_assert_eq(access(path, R_OK), 0);

    /* numeric x: sorted by value, no error bars without repeats */
    const char *num = "{\"ppl\": 3, \"labels\": {\"ctx\": \"256\"}}\n"
                      "{\"ppl\": 5, \"labels\": {\"ctx\": \"64\"}}\n"
                      "{\"ppl\": 4, \"labels\": {\"ctx\": \"128\"}}\n";
    rb_records r2;
    rb_agg a2;
    cr_assert_eq(rb_records_parse(num, strlen(num), "num", &r2, &err), RB_OK);
    rb_plot_spec s2 = {.x = "ctx", .logx = 1};
    cr_assert_eq(rb_plot_aggregate(r2.items, &s2, NULL, &a2, &err), RB_OK);
    cr_assert_eq(rb_plot_script(&a2, &s2, "n", &script, &err), RB_OK, "%s", err.msg);
    cr_assert(strstr(script, "$d1 << EOD\n64 5 0 1\n128 4 0 1\n256 3 0 1\nEOD"), "%s", script);
    cr_assert(strstr(script, "with linespoints"), "%s", script);
    cr_assert(strstr(script, "set logscale x"), "%s", script);
    free(script);
    snprintf(out, sizeof out, "%s/num.png", dir);
    cr_assert_eq(rb_plot_write(&a2, &s2, out, &err), RB_OK, "%s", err.msg);
    rb_agg_free(&a2);
    rb_records_free(&r2);

    rb_agg_free(&agg);
    rb_records_free(&r);
    cleanup_dir(dir);
}

/* ---- running sweeps against a fake rotbench -------------------------------------- */

/* Sleeps, then prints a JSON object; fails with exit 3 when --text is "bad". */
static const char *FAKE =
    "#!/bin/sh\n"
    "# fake rotbench for the sweep tests: eval [--text X] ... --json\n"
    "sleep ${FAKE_SLEEP:-0.05}\n"
    "x=none; prev=\n"
    "for a in \"$@\"; do [ \"$prev\" = --text ] && x=$a; prev=$a; done\n"
    "if [ \"$x\" = bad ]; then echo \"progress...\" >&2; echo \"boom: bad x\" >&2; exit 3; fi\n"
    "echo \"eval: fake\" >&2\n"
    "echo \"{\\\"ppl\\\": $x.5, \\\"argc\\\": $#, \\\"args_seen\\\": \\\"$*\\\"}\"\n";

static void write_fake(const char *dir, char *path, size_t cap) {
    snprintf(path, cap, "%s/fake-rotbench", dir);
    write_text(path, FAKE);
    cr_assert_eq(chmod(path, 0755), 0);
}

typedef struct events {
    size_t done, failed, warn, plan_n, plan_skipped;
    char last_fail[2048];
} events;

static void collect(void *ctx, const rb_sweep_event *ev) {
    events *e = ctx;
    switch (ev->kind) {
    case RB_SWEEP_WARN: e->warn++; break;
    case RB_SWEEP_PLAN:
        e->plan_n = ev->n;
        e->plan_skipped = ev->skipped;
        break;
    case RB_SWEEP_DONE: e->done++; break;
    case RB_SWEEP_FAIL:
        e->failed++;
        snprintf(e->last_fail, sizeof e->last_fail, "%s | %s | %s", ev->message, ev->command,
                 ev->stderr_tail);
        break;
    }
}

Test(sweep, execute_records_and_failures) {
    char dir[1024], fake[1200], cfgp[1200], res[1200];
    test_dir("exec", dir, sizeof dir);
    write_fake(dir, fake, sizeof fake);
    snprintf(res, sizeof res, "%s/out/res.jsonl", dir);
    char text[4096];
    snprintf(text, sizeof text,
             "{\"name\": \"ex\", \"results\": \"%s\", \"base\": {\"model\": \"m\", \"a-static\": true},"
             " \"axes\": [{\"name\": \"x\", \"values\": [{\"label\": \"1\", \"args\": {\"text\": 1}},"
             " {\"label\": \"bad\", \"args\": {\"text\": \"bad\"}}, {\"label\": \"3\", \"args\": {\"text\": 3}}]},"
             " {\"name\": \"seed\", \"values\": [{\"label\": \"0\", \"args\": {\"seed\": 0}},"
             " {\"label\": \"1\", \"args\": {\"seed\": 1}}]}]}",
             res);
    snprintf(cfgp, sizeof cfgp, "%s/c.json", dir);
    write_text(cfgp, text);
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(rb_sweep_config_load(cfgp, &cfg, &err), RB_OK, "%s", err.msg);
    events ev = {0};
    rb_sweep_opts o = {.rotbench = fake, .jobs = 3, .threads = 2, .progress = collect,
                       .progress_ctx = &ev};
    rb_sweep_summary sum;
    cr_assert_eq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(sum.n_runs, 6);
    cr_assert_eq(sum.n_done, 4);
    cr_assert_eq(sum.n_failed, 2);
    cr_assert_eq(ev.done, 4);
    cr_assert_eq(ev.failed, 2);
    cr_assert_eq(ev.plan_n, 6);
    cr_assert(strstr(ev.last_fail, "exit status 3 | "), "%s", ev.last_fail);
    cr_assert(strstr(ev.last_fail, "eval --model m --a-static --text bad --seed "), "%s", ev.last_fail);
    cr_assert(strstr(ev.last_fail, "progress...\nboom: bad x"), "%s", ev.last_fail);

    rb_records r;
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_records_count(&r), 4);
    cr_assert_eq(r.n_issues, 0);
    for (size_t i = 0; i < 4; i++) {
        json_object *rec = rb_records_get(&r, i), *v;
        const char *x = rb_record_label(rec, "x");
        cr_assert(x && strcmp(x, "bad"), "label x");
        double ppl;
        cr_assert_eq(rb_record_number(rec, "ppl", &ppl), 0);
        cr_assert_float_eq(ppl, atof(x) + 0.5, 1e-12);
        cr_assert(json_object_object_get_ex(rec, "sweep", &v));
        cr_assert_str_eq(json_object_get_string(v), "ex");
        cr_assert(json_object_object_get_ex(rec, "args", &v));
        char *k = rb_json_canonical(v);
        cr_assert(json_object_object_get_ex(rec, "run_key", &v));
        cr_assert_str_eq(json_object_get_string(v), k);
        free(k);
        cr_assert(json_object_object_get_ex(rec, "args_seen", &v));
        cr_assert(strstr(json_object_get_string(v), "--threads 2 --json"), "%s",
                  json_object_get_string(v));
    }
    rb_records_free(&r);

    /* without --resume the existing file is an error; with it only the failed runs go again */
    cr_assert_neq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK);
    cr_assert(strstr(err.msg, "results file exists, use --resume"), "%s", err.msg);
    o.resume = 1;
    memset(&ev, 0, sizeof ev);
    cr_assert_eq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(sum.n_skipped, 4);
    cr_assert_eq(sum.n_failed, 2);
    cr_assert_eq(ev.plan_skipped, 4);
    rb_sweep_config_free(&cfg);
    cleanup_dir(dir);
}

/* ---- a real SIGKILL, then --resume, through the rotbench binary ------------------- */

static const char *rotbench_exe(void) {
    const char *exe = getenv("ROTBENCH_EXE");
    if (exe && *exe && access(exe, X_OK) == 0) return exe;
    if (rb_test_in_ci()) cr_assert_fail("ROTBENCH_EXE is not set to the built rotbench (CI=true)");
    cr_skip_test("ROTBENCH_EXE is not set to the built rotbench (meson test sets it)");
    return NULL;
}

/* Starts `exe sweep cfg --rotbench fake --jobs 2 [extra]` with stderr to errpath. */
static pid_t start_sweep(const char *exe, const char *cfg, const char *fake, const char *extra,
                         const char *errpath) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) dup2(nul, 1);
        setenv("FAKE_SLEEP", "0.15", 1);
        if (extra)
            execl(exe, exe, "sweep", cfg, "--rotbench", fake, "--jobs", "2", extra, (char *)NULL);
        else
            execl(exe, exe, "sweep", cfg, "--rotbench", fake, "--jobs", "2", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

static size_t count_newlines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

Test(sweep, resume_after_sigkill, .timeout = 120) {
    const char *exe = rotbench_exe();
    char dir[1024], fake[1200], cfgp[1200], res[1200], errp[1200];
    test_dir("kill", dir, sizeof dir);
    write_fake(dir, fake, sizeof fake);
    snprintf(res, sizeof res, "%s/results/kill.jsonl", dir);
    snprintf(errp, sizeof errp, "%s/stderr.txt", dir);
    rb_buf t = {0};
    rb_buf_printf(&t, "{\"name\": \"kill\", \"results\": \"%s\", \"base\": {\"task\": \"t\"}, \"axes\": [", res);
    rb_buf_puts(&t, "{\"name\": \"x\", \"values\": [");
    for (int i = 0; i < 8; i++)
        rb_buf_printf(&t, "%s{\"label\": \"%d\", \"args\": {\"text\": %d}}", i ? ", " : "", i, i);
    rb_buf_puts(&t, "]}, {\"name\": \"seed\", \"values\": [{\"label\": \"0\", \"args\": {\"seed\": 0}},"
                    " {\"label\": \"1\", \"args\": {\"seed\": 1}}]}]}\n");
    snprintf(cfgp, sizeof cfgp, "%s/kill.json", dir);
    write_text(cfgp, t.s);
    rb_buf_free(&t);

    /* the runs the config expands to */
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(rb_sweep_config_load(cfgp, &cfg, &err), RB_OK, "%s", err.msg);
    rb_sweep_run *runs;
    size_t n_runs;
    cr_assert_eq(rb_sweep_expand(&cfg, &runs, &n_runs, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(n_runs, 16);

    /* start, wait for 4 finished records (16 runs x 0.15 s / 2 jobs ~ 1.2 s), SIGKILL */
    pid_t pid = start_sweep(exe, cfgp, fake, NULL, errp);
    double t0 = rb_now();
    while (count_newlines(res) < 4 && rb_now() - t0 < 60) usleep(5000);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status = wait_exit(pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the sweep ended by itself");

    rb_records r;
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK, "%s", err.msg);
    size_t n_first = rb_records_count(&r);
    cr_assert_eq(r.n_issues, 0, "%s", r.n_issues ? r.issues[0].msg : "");
    cr_assert_eq(r.tail, RB_TAIL_CLEAN);
    cr_assert(n_first >= 4 && n_first < 16, "%zu records after the kill", n_first);
    for (size_t i = 0; i < n_first; i++) {
        json_object *rec = rb_records_get(&r, i), *v;
        cr_assert(json_object_object_get_ex(rec, "run_key", &v));
        cr_assert(json_object_object_get_ex(rec, "ppl", &v));
        cr_assert(json_object_object_get_ex(rec, "args", &v));
        cr_assert_not_null(rb_record_label(rec, "seed"));
    }
    rb_records_free(&r);
    char *before = read_text(res);

    /* a torn write on top (what a crash inside write(2) could leave) */
    FILE *f = fopen(res, "ab");
    cr_assert_not_null(f);
    fputs("{\"ppl\": 7.5, \"run_key\": \"{\\\"seed\\\":0,\\\"task", f);
    fclose(f);
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK);
    cr_assert_eq(rb_records_count(&r), n_first);
    cr_assert_eq(r.n_issues, 1);
    cr_assert_eq(r.tail, RB_TAIL_PARTIAL);
    rb_records_free(&r);

    /* without --resume: refused */
    pid = start_sweep(exe, cfgp, fake, NULL, errp);
    status = wait_exit(pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
    char *msg = read_text(errp);
    cr_assert(strstr(msg, "results file exists, use --resume"), "%s", msg);
    free(msg);

    /* --resume: the partial line goes, the missing runs run, nothing twice */
    pid = start_sweep(exe, cfgp, fake, "--resume", errp);
    status = wait_exit(pid);
    msg = read_text(errp);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d:\n%s", status, msg);
    cr_assert(strstr(msg, "kill.jsonl:"), "%s", msg);
    cr_assert(strstr(msg, "partial last line"), "%s", msg);
    char plan[128];
    snprintf(plan, sizeof plan, "sweep: %zu runs to do, %zu already in the results file",
             16 - n_first, n_first);
    cr_assert(strstr(msg, plan), "expected \"%s\" in:\n%s", plan, msg);
    snprintf(plan, sizeof plan, "[1/%zu] ", 16 - n_first);
    cr_assert(strstr(msg, plan), "expected \"%s\" in:\n%s", plan, msg);
    cr_assert(strstr(msg, ".5000 ("), "%s", msg);
    free(msg);

    char *after = read_text(res);
    cr_assert(strncmp(after, before, strlen(before)) == 0, "the records before the kill changed");
    free(before);
    free(after);
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK);
    cr_assert_eq(r.n_issues, 0, "%s", r.n_issues ? r.issues[0].msg : "");
    cr_assert_eq(r.tail, RB_TAIL_CLEAN);
    cr_assert_eq(rb_records_count(&r), 16);
    for (size_t i = 0; i < n_runs; i++) {
        size_t seen = 0;
        for (size_t j = 0; j < 16; j++) {
            json_object *v;
            json_object_object_get_ex(rb_records_get(&r, j), "run_key", &v);
            seen += !strcmp(json_object_get_string(v), runs[i].key);
        }
        cr_assert_eq(seen, 1, "run %s appears %zu times", runs[i].label_text, seen);
    }
    rb_records_free(&r);

    /* the table of the finished sweep: 8 x values, mean over 2 seeds = x + 0.5, std 0 */
    rb_agg agg;
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK);
    rb_table_spec spec = {.rows = "x", .cols = "x", .metric = "ppl"};
    cr_assert_neq(rb_table_aggregate(r.items, &spec, NULL, &agg, &err), RB_OK); /* same axis */
    const char *axes[1] = {"x"};
    cr_assert_eq(rb_agg_init(&agg, axes, 1, &err), RB_OK);
    cr_assert_eq(rb_agg_add(&agg, r.items, "ppl", NULL, 0, &err), RB_OK);
    cr_assert_eq(agg.n_cells, 8);
    for (size_t i = 0; i < 8; i++) {
        cr_assert_eq(agg.cells[i].n, 2);
        cr_assert_float_eq(agg.cells[i].mean, atof(agg.dims[0].labels[agg.cells[i].idx[0]]) + 0.5,
                           1e-12);
        cr_assert_float_eq(agg.cells[i].std, 0, 1e-12);
    }
    rb_agg_free(&agg);
    rb_records_free(&r);
    rb_sweep_runs_free(runs, n_runs);
    rb_sweep_config_free(&cfg);
    cleanup_dir(dir);
}

Test(sweep, cli_dry_run_table_and_errors, .timeout = 60) {
    const char *exe = rotbench_exe();
    char dir[1024], cfgp[1200], cmd[4096];
    test_dir("cli", dir, sizeof dir);
    snprintf(cfgp, sizeof cfgp, "%s/bad.json", dir);
    write_text(cfgp, HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\"}]}, "
                          "{\"name\": \"b\", \"values\": [{\"args\": {}}]}]}");
    snprintf(cmd, sizeof cmd, "'%s' sweep '%s' --dry-run 2>'%s/err.txt'", exe, cfgp, dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    char path[1300];
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *msg = read_text(path);
    char want[1400];
    snprintf(want, sizeof want, "error: %s: axes[1].values[0]: missing \"label\"\n", cfgp);
    cr_assert_str_eq(msg, want);
    free(msg);

    /* --dry-run prints the command lines */
    snprintf(cfgp, sizeof cfgp, "%s/ok.json", dir);
    write_text(cfgp, HEAD "\"base\": {\"ctx\": 64}, \"axes\": [{\"name\": \"a\", \"values\": "
                          "[{\"label\": \"x\", \"args\": {\"pipeline\": \"p:q=1\"}}, "
                          "{\"label\": \"y\", \"args\": {\"a-static\": true}}]}]}");
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' sweep ok.json --dry-run --rotbench /x/rb --jobs 64 "
                              ">out.txt 2>err.txt", dir, exe);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    msg = read_text(path);
    cr_assert_str_eq(msg, "/x/rb eval --ctx 64 --pipeline p:q=1 --threads 1 --json\n"
                          "/x/rb eval --ctx 64 --a-static --threads 1 --json\n");
    free(msg);
    snprintf(path, sizeof path, "%s/r.jsonl", dir);
    cr_assert_neq(access(path, F_OK), 0, "a dry run wrote the results file");

    /* table and CSV through the command line */
    snprintf(path, sizeof path, "%s/fix.jsonl", dir);
    write_text(path, FIXTURE);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' table fix.jsonl --rows row --cols col --split model "
                              "--where model=B --out t.csv 2>err.txt", dir, exe);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    snprintf(path, sizeof path, "%s/t.csv", dir);
    msg = read_text(path);
    cr_assert_str_eq(msg, "split,row,col,mean,std,n\nB,r1,c1,100.5,0.7071067812,2\n");
    free(msg);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    msg = read_text(path);
    cr_assert(strstr(msg, "warning: fix.jsonl:11: partial last line"), "%s", msg);
    free(msg);
    cleanup_dir(dir);
}

/* eval refuses calibration windows drawn from the tokens it scores, and
 * accepts the same corpus past --calib-skip. */
Test(sweep, cli_eval_calibration_never_overlaps_scored_tokens, .timeout = 60) {
    rb_test_require_data("datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt");
    rb_test_require_data("models/stories260K/stories260K.bin");
    const char *exe = rotbench_exe();
    char cmd[4096];
    const char *common = "eval --task wikitext2 --max-tokens 2048 --calib wikitext2 "
                         "--calib-windows 4 --pipeline rtn --w-bits 4 --threads 1";
    snprintf(cmd, sizeof cmd, "ROTBENCH_DATA='%s' '%s' %s >/dev/null 2>&1", rb_test_data_dir(),
             exe, common);
    int st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "overlapping calibration accepted: %d", st);
    snprintf(cmd, sizeof cmd, "ROTBENCH_DATA='%s' '%s' %s --calib-skip 2047 >/dev/null 2>&1",
             rb_test_data_dir(), exe, common);
    st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "one overlapping token accepted: %d", st);
    snprintf(cmd, sizeof cmd, "ROTBENCH_DATA='%s' '%s' %s --calib-skip 2048 >/dev/null 2>&1",
             rb_test_data_dir(), exe, common);
    st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "disjoint calibration refused: %d", st);
}

/* ---- eval flags are typed when the config is loaded ------------------------------- */

/* A config whose base and one axis value carry the given args. */
static void flag_cfg(char *buf, size_t cap, const char *base, const char *args) {
    snprintf(buf, cap,
             HEAD "\"base\": {%s}, \"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\"}, "
                  "{\"label\": \"y\", \"args\": {%s}}]}]}",
             base, args);
}

Test(sweep, config_flags_checked_against_the_eval_flag_table) {
    static const bad_case bad[] = {
        {"\"ctx\": 512.7|", "configs/x.json: base.ctx: --ctx expects an integer in 2..1048576, "
                            "got '512.7' (every run)"},
        {"|\"frobnicate\": 1", "configs/x.json: axes[0].values[1].args.frobnicate: unknown eval "
                               "flag \"frobnicate\" (see rotbench eval --help) (the runs with "
                               "a=y)"},
        {"|\"ctx\": 512.0", "configs/x.json: axes[0].values[1].args.ctx: --ctx expects an integer"},
        {"|\"ctx\": \"big\"", "configs/x.json: axes[0].values[1].args.ctx: --ctx expects an integer"},
        {"|\"ctx\": 1", "configs/x.json: axes[0].values[1].args.ctx: --ctx expects an integer in 2.."},
        {"|\"ctx\": true", "configs/x.json: axes[0].values[1].args.ctx: --ctx takes a value, got true"},
        {"|\"w-bits\": 9", "configs/x.json: axes[0].values[1].args.w-bits: --w-bits expects 2..8 or "
                           "16 (off), got '9'"},
        {"|\"a-gran\": \"chanel\"", "configs/x.json: axes[0].values[1].args.a-gran: --a-gran "
                                    "expects one of tensor|channel|token|row|group:N, got 'chanel'"},
        {"|\"w-gran\": \"group:0\"", "configs/x.json: axes[0].values[1].args.w-gran: --w-gran expects"},
        {"|\"a-gran\": 3", "configs/x.json: axes[0].values[1].args.a-gran: --a-gran expects one of"},
        {"|\"a-static\": \"yes\"", "configs/x.json: axes[0].values[1].args.a-static: --a-static is a "
                                   "switch: give true or false, got \"yes\""},
        {"|\"a-clip\": 1.5", "configs/x.json: axes[0].values[1].args.a-clip: --a-clip expects a "
                             "number in (0, 1] or mse, got '1.5'"},
        {"|\"seed\": -1", "configs/x.json: axes[0].values[1].args.seed: --seed expects an integer"},
        {"|\"kv-high-bits\": 12", "configs/x.json: axes[0].values[1].args.kv-high-bits: "
                                  "--kv-high-bits expects 2..8 or 16"},
    };
    char text[2048], base[256], args[256];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *bar = strchr(bad[i].text, '|');
        snprintf(base, sizeof base, "%.*s", (int)(bar - bad[i].text), bad[i].text);
        snprintf(args, sizeof args, "%s", bar + 1);
        flag_cfg(text, sizeof text, base, args);
        rb_sweep_config cfg;
        rb_error err = {0};
        cr_expect_neq(parse_cfg(text, &cfg, &err), RB_OK, "case %zu was accepted: %s", i, text);
        cr_expect(strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) == 0,
                  "case %zu:\n  got      %s\n  expected %s...", i, err.msg, bad[i].msg);
    }
    /* every type's good values, as the committed configs write them */
    static const char *const good[] = {
        "\"ctx\": \"512\"", "\"ctx\": 512", "\"a-clip\": 0.9", "\"w-clip\": \"mse\"",
        "\"w-clip\": 1", "\"w-gran\": \"group:32\"", "\"kv-gran\": \"head\"",
        "\"a-static\": false", "\"a-static\": true", "\"ctx\": false", "\"calib\": 3",
        "\"w-bits\": 16", "\"allow-long-ctx\": true", "\"seed\": 4611686018427387904",
        "\"pipeline\": \"\"",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        flag_cfg(text, sizeof text, "", good[i]);
        rb_sweep_config cfg;
        rb_error err = {0};
        cr_expect_eq(parse_cfg(text, &cfg, &err), RB_OK, "%s refused: %s", good[i], err.msg);
        rb_sweep_config_free(&cfg);
    }
    /* the committed configs all load */
    glob_t g;
    char pattern[1100];
    snprintf(pattern, sizeof pattern, "%s/configs/*.json", RB_SOURCE_ROOT);
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        rb_sweep_config cfg;
        rb_error err = {0};
        cr_expect_eq(rb_sweep_config_load(g.gl_pathv[i], &cfg, &err), RB_OK, "%s", err.msg);
        rb_sweep_config_free(&cfg);
    }
    globfree(&g);
}

/* rotbench sweep --dry-run stops at a mistyped flag, naming the file and the key. */
Test(sweep, cli_dry_run_rejects_mistyped_and_unknown_flags, .timeout = 60) {
    const char *exe = rotbench_exe();
    char dir[1024], cfgp[1200], cmd[4096], path[1300], text[2048];
    test_dir("dryflags", dir, sizeof dir);
    snprintf(cfgp, sizeof cfgp, "%s/c.json", dir);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    flag_cfg(text, sizeof text, "\"ctx\": 512.7", "");
    write_text(cfgp, text);
    snprintf(cmd, sizeof cmd, "'%s' sweep '%s' --dry-run >/dev/null 2>'%s'", exe, cfgp, path);
    int st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    char *msg = read_text(path);
    char want[1600];
    snprintf(want, sizeof want, "error: %s: base.ctx: --ctx expects an integer in 2..1048576, "
                                "got '512.7' (every run)\n", cfgp);
    cr_expect_str_eq(msg, want);
    free(msg);
    flag_cfg(text, sizeof text, "", "\"frobnicate\": true");
    write_text(cfgp, text);
    st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    msg = read_text(path);
    snprintf(want, sizeof want, "error: %s: axes[0].values[1].args.frobnicate: unknown eval flag "
                                "\"frobnicate\" (see rotbench eval --help) (the runs with a=y)\n",
             cfgp);
    cr_expect_str_eq(msg, want);
    free(msg);
    cleanup_dir(dir);
}

/* A failing run's report shows the child's error even when a long usage text follows it. */
Test(sweep, failed_run_report_shows_the_childs_error_above_its_usage) {
    char dir[1024], fake[1200], cfgp[1200], res[1200];
    test_dir("usagefail", dir, sizeof dir);
    snprintf(fake, sizeof fake, "%s/fake-rotbench", dir);
    write_text(fake, "#!/bin/sh\n"
                     "echo 'eval: loading' >&2\n"
                     "echo \"eval: unrecognized option '--calib-lenn'\" >&2\n"
                     "echo 'usage: rotbench eval [options]' >&2\n"
                     "i=0; while [ $i -lt 60 ]; do echo \"  --flag$i   help line $i\" >&2; "
                     "i=$((i+1)); done\n"
                     "exit 2\n");
    cr_assert_eq(chmod(fake, 0755), 0);
    snprintf(res, sizeof res, "%s/res.jsonl", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\": \"u\", \"results\": \"%s\", \"axes\": [{\"name\": \"a\", \"values\": "
             "[{\"label\": \"x\", \"args\": {\"ctx\": 64}}]}]}",
             res);
    snprintf(cfgp, sizeof cfgp, "%s/c.json", dir);
    write_text(cfgp, text);
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(rb_sweep_config_load(cfgp, &cfg, &err), RB_OK, "%s", err.msg);
    events ev = {0};
    rb_sweep_opts o = {.rotbench = fake, .jobs = 1, .progress = collect, .progress_ctx = &ev};
    rb_sweep_summary sum;
    cr_assert_eq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(ev.failed, 1);
    cr_expect(strstr(ev.last_fail, "eval: unrecognized option '--calib-lenn'"),
              "the child's error is missing from the report: %s", ev.last_fail);
    cr_expect(!strstr(ev.last_fail, "help line 59"), "the usage text is reported: %s",
              ev.last_fail);
    rb_sweep_config_free(&cfg);
    cleanup_dir(dir);
}

/* ---- non-finite numbers ------------------------------------------------------------ */

/* Results files are standard JSON: a non-finite number becomes null with a
 * sibling "<key>_nonfinite"; tables read both that and old files with
 * Infinity/NaN tokens as the same values. */
Test(sweep, nonfinite_numbers_written_as_null_and_read_back) {
    json_object *o = json_tokener_parse("{\"ppl\": 1, \"nll\": 2, \"tasks\": {\"piqa\": "
                                        "{\"acc\": 0.5}}, \"list\": [1, 2]}");
    cr_assert_not_null(o);
    json_object_object_add(o, "ppl", json_object_new_double(INFINITY));
    json_object_object_add(o, "nll", json_object_new_double(NAN));
    json_object *t = json_object_object_get(json_object_object_get(o, "tasks"), "piqa");
    json_object_object_add(t, "acc", json_object_new_double(-INFINITY));
    json_object_array_put_idx(json_object_object_get(o, "list"), 1, json_object_new_double(NAN));
    cr_expect_eq(rb_json_null_nonfinite(o), 4);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    cr_expect_str_eq(s, "{\"ppl\":null,\"nll\":null,\"tasks\":{\"piqa\":{\"acc\":null,"
                        "\"acc_nonfinite\":\"-inf\"}},\"list\":[1,null],"
                        "\"ppl_nonfinite\":\"inf\",\"nll_nonfinite\":\"nan\"}");
    double v;
    cr_expect_eq(rb_record_number(o, "ppl", &v), 0);
    cr_expect(isinf(v) && v > 0);
    cr_expect_eq(rb_record_number(o, "nll", &v), 0);
    cr_expect(isnan(v));
    cr_expect_eq(rb_record_number(o, "tasks.piqa.acc", &v), 0);
    cr_expect(isinf(v) && v < 0);
    json_object_put(o);

    /* old (Infinity/NaN tokens) and new files aggregate alike */
    const char *old_file = "{\"ppl\": Infinity, \"labels\": {\"m\": \"a\"}}\n"
                           "{\"ppl\": NaN, \"labels\": {\"m\": \"b\"}}\n"
                           "{\"ppl\": 3, \"labels\": {\"m\": \"c\"}}\n";
    const char *new_file = "{\"ppl\": null, \"ppl_nonfinite\": \"inf\", \"labels\": {\"m\": \"a\"}}\n"
                           "{\"ppl\": null, \"ppl_nonfinite\": \"nan\", \"labels\": {\"m\": \"b\"}}\n"
                           "{\"ppl\": 3, \"labels\": {\"m\": \"c\"}}\n"
                           "{\"ppl\": null, \"labels\": {\"m\": \"d\"}}\n";
    const char *files[2] = {old_file, new_file};
    for (int f = 0; f < 2; f++) {
        rb_records r;
        rb_error err = {0};
        cr_assert_eq(rb_records_parse(files[f], strlen(files[f]), "r.jsonl", &r, &err), RB_OK);
        const char *axes[1] = {"m"};
        rb_agg agg;
        cr_assert_eq(rb_agg_init(&agg, axes, 1, &err), RB_OK);
        cr_assert_eq(rb_agg_add(&agg, r.items, "ppl", NULL, 0, &err), RB_OK);
        cr_expect_eq(agg.n_cells, 3, "file %d", f);
        cr_expect_eq(agg.n_no_metric, (size_t)f, "file %d: a plain null is no number", f);
        char cell[64];
        size_t idx[1];
        const char *want[3] = {"inf", "nan", "3.000"};
        for (size_t i = 0; i < 3; i++) {
            idx[0] = i;
            const rb_agg_cell *c = rb_agg_find(&agg, idx);
            cr_assert_not_null(c);
            rb_table_format(c->mean, c->std, c->n, cell, sizeof cell);
            cr_expect_str_eq(cell, want[i], "file %d, row %zu", f, i);
        }
        rb_agg_free(&agg);
        rb_records_free(&r);
    }
}

/* The runner writes a child's non-finite numbers as null too (a child that
 * still prints Infinity, as rotbench before this change did). */
Test(sweep, records_of_a_child_printing_infinity_are_standard_json) {
    char dir[1024], fake[1200], cfgp[1200], res[1200];
    test_dir("nonfinite", dir, sizeof dir);
    snprintf(fake, sizeof fake, "%s/fake-rotbench", dir);
    write_text(fake, "#!/bin/sh\necho '{\"ppl\": Infinity, \"nll\": 800.5}'\n");
    cr_assert_eq(chmod(fake, 0755), 0);
    snprintf(res, sizeof res, "%s/res.jsonl", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"name\": \"nf\", \"results\": \"%s\", \"axes\": [{\"name\": \"a\", \"values\": "
             "[{\"label\": \"x\", \"args\": {\"ctx\": 64}}]}]}",
             res);
    snprintf(cfgp, sizeof cfgp, "%s/c.json", dir);
    write_text(cfgp, text);
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(rb_sweep_config_load(cfgp, &cfg, &err), RB_OK, "%s", err.msg);
    rb_sweep_opts o = {.rotbench = fake, .jobs = 1};
    rb_sweep_summary sum;
    cr_assert_eq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(sum.n_done, 1);
    char *line = read_text(res);
    cr_expect(!strstr(line, "Infinity") && strstr(line, "\"ppl\":null") &&
                  strstr(line, "\"ppl_nonfinite\":\"inf\""),
              "%s", line);
    free(line);
    rb_sweep_config_free(&cfg);
    cleanup_dir(dir);
}
