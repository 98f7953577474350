/* Sweep configs: parsing (good and every kind of bad), flags typed against
 * the eval flag table at load, expansion and merging, canonical keys, the
 * child command lines. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/io.h"
#include "base/process.h"
#include "eval/aggregate.h"
#include "eval/plot.h"
#include "eval/records.h"
#include "eval/table.h"
#include "run/sweep.h"
#include "tests/sweep_fixtures.h"
#include "tests/test_util.h"

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
        {HEAD "\"axis\": []}", "configs/x.json: unknown key \"axis\" (expected name, results, base, axes, exclude, tables, plots, profiles)"},
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
    rb_sweep_run *runs;
    size_t n = parse_and_expand(text, &cfg, &runs);
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
    rb_error err = {0};
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
    rb_sweep_run *runs;
    size_t n = parse_and_expand(GOOD, &cfg, &runs);
    cr_assert_eq(n, 4); /* 2 models x 1 row x 1 col x 2 seeds, first axis slowest */
    cr_assert_str_eq(runs[0].label_text, "stories260K / W/tensor A/tensor static / SmoothQuant a=0.85 / 0");
    cr_assert_str_eq(runs[1].label_text, "stories260K / W/tensor A/tensor static / SmoothQuant a=0.85 / 1");
    cr_assert_str_eq(runs[3].label_text, "outliers / W/tensor A/tensor static / SmoothQuant a=0.85 / 1");
    char *l0 = argv_line(&runs[0], 4), *l3 = argv_line(&runs[3], 0);
    /* the command line is written from the run spec (run/flags.c): flags in the
       table's order, --threads last, settings at their default (--seed 0) left out */
    cr_assert_str_eq(l0, "rb eval --model stories260K --task wikitext2 --ctx 512 "
                         "--pipeline smoothquant:alpha=0.85 --w-bits 8 --w-gran tensor "
                         "--a-bits 8 --a-gran tensor --a-static --threads 4 --json");
    /* pipelines concatenate in axis order; no --threads when threads = 0 */
    cr_assert_str_eq(l3, "rb eval --model stories260K --task wikitext2 --ctx 512 "
                         "--pipeline outliers:scale=30,smoothquant:alpha=0.85 --seed 1 --w-bits 8 "
                         "--w-gran tensor --a-bits 8 --a-gran tensor --a-static --json");
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
    rb_sweep_run *runs;
    size_t n = parse_and_expand(text, &cfg, &runs);
    cr_assert_eq(n, 2);
    char *l0 = argv_line(&runs[0], 8), *l1 = argv_line(&runs[1], 8);
    /* later ctx wins; "" adds nothing to the pipeline; the config's threads beat the runner's;
       values with spaces are shell-quoted when printed */
    cr_assert_str_eq(l0, "rb eval --ctx 128 --pipeline outliers,gptq --calib 'my file.txt' "
                         "--a-static --threads 3 --json");
    /* false removes the flag (and the key); a number given to a text flag is its text */
    cr_assert_str_eq(l1, "rb eval --ctx 128 --pipeline outliers,gptq --calib 'my file.txt' "
                         "--w-clip 0.9 --threads 3 --json");
    cr_assert_str_eq(runs[1].key, "{\"calib\":\"my file.txt\",\"ctx\":128,\"pipeline\":"
                                  "\"outliers,gptq\",\"threads\":3,\"w-clip\":0.9}");
    free(l0);
    free(l1);
    rb_sweep_runs_free(runs, n);
    rb_sweep_config_free(&cfg);

    /* rb_sweep_merge_args on its own */
    rb_error err = {0};
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
    write_script(fake, "#!/bin/sh\n"
                     "echo 'eval: loading' >&2\n"
                     "echo \"eval: unrecognized option '--calib-lenn'\" >&2\n"
                     "echo 'usage: rotbench eval [options]' >&2\n"
                     "i=0; while [ $i -lt 60 ]; do echo \"  --flag$i   help line $i\" >&2; "
                     "i=$((i+1)); done\n"
                     "exit 2\n");
    snprintf(res, sizeof res, "%s/res.jsonl", dir);
    char text[2048];
    one_run_cfg(text, sizeof text, "u", res);
    rb_sweep_config cfg;
    rb_error err = {0};
    load_cfg_file(dir, text, cfgp, sizeof cfgp, &cfg);
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
