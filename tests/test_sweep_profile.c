/* Sweep profiles (eval/sweep_profile.h): a profile's base overrides, kept
 * labels, per-value overrides and results path; what it drops with the
 * labels (excludes, tables); bad profiles named by file and JSON path; the
 * repository's ci profiles. */
#include <criterion/criterion.h>
#include <glob.h>
#include <string.h>

#include "eval/sweep.h"
#include "run/sweep.h"

#define CFG(PROFILES)                                                                          \
    "{\"name\": \"t\", \"results\": \"r.jsonl\", \"base\": {\"task\": \"wikitext2\", "          \
    "\"max-tokens\": 131072, \"ctx\": 512},"                                                   \
    "\"axes\": [{\"name\": \"m\", \"values\": [{\"label\": \"a\", \"args\": {\"w-bits\": 4}}, " \
    "{\"label\": \"b\", \"args\": {\"pipeline\": \"rtn\"}}]}, {\"name\": \"seed\", \"values\": " \
    "[{\"label\": \"1\", \"args\": {\"seed\": 1}}, {\"label\": \"2\", \"args\": {\"seed\": 2}}]}]," \
    "\"exclude\": [{\"m\": \"a\", \"seed\": [\"2\"]}, {\"m\": \"b\", \"seed\": \"1\"}],"          \
    "\"tables\": [{\"name\": \"all\", \"rows\": \"m\", \"cols\": \"seed\"}, {\"name\": \"one\", " \
    "\"rows\": \"m\", \"cols\": \"seed\", \"where\": {\"seed\": \"1\"}}],"                       \
    "\"profiles\": " PROFILES "}"

#define CI                                                                                     \
    "{\"ci\": {\"description\": \"small\", \"base\": {\"max-tokens\": 4096, \"ctx\": false}, "  \
    "\"keep\": {\"seed\": [\"2\"]}, \"values\": {\"m\": {\"b\": {\"pipeline\": \"gptq\", "       \
    "\"w-bits\": 3}}}}}"

static int parse(const char *text, const char *profile, rb_sweep_config *cfg, rb_error *err) {
    return rb_sweep_config_parse_profile(text, strlen(text), "configs/x.json", profile, cfg, err);
}

Test(sweep_profile, full_config_is_unchanged_by_its_profiles) {
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse(CFG(CI), NULL, &cfg, &err), RB_OK, "%s", err.msg);
    cr_expect_null(cfg.profile);
    cr_expect_str_eq(cfg.results, "r.jsonl");
    rb_sweep_run *runs;
    size_t n;
    cr_assert_eq(rb_sweep_expand(&cfg, &runs, &n, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(n, 2); /* a/1 and b/2 */
    cr_expect_str_eq(runs[0].key,
                     "{\"ctx\":512,\"max-tokens\":131072,\"seed\":1,\"task\":\"wikitext2\",\"w-bits\":4}");
    rb_sweep_runs_free(runs, n);
    rb_sweep_config_free(&cfg);
}

Test(sweep_profile, profile_overrides_keeps_and_drops) {
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse(CFG(CI), "ci", &cfg, &err), RB_OK, "%s", err.msg);
    cr_expect_str_eq(cfg.profile, "ci");
    cr_expect_str_eq(cfg.results, "results/ci/t.jsonl");
    cr_assert_eq(cfg.axes[1].n_values, 1);
    cr_expect_str_eq(cfg.axes[1].values[0].label, "2");
    /* the exclude naming only seed 1 is gone; the other still drops a/2 */
    cr_expect_eq(cfg.n_excludes, 1);
    /* the table restricted to seed 1 is left out */
    cr_assert_eq(cfg.n_tables, 1);
    cr_expect_str_eq(cfg.tables[0].name, "all");
    rb_sweep_run *runs;
    size_t n;
    cr_assert_eq(rb_sweep_expand(&cfg, &runs, &n, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(n, 1);
    /* base override, a key dropped by false, the value's args overridden */
    cr_expect_str_eq(runs[0].key, "{\"max-tokens\":4096,\"pipeline\":\"gptq\",\"seed\":2,"
                                  "\"task\":\"wikitext2\",\"w-bits\":3}");
    rb_sweep_runs_free(runs, n);
    rb_sweep_config_free(&cfg);
    /* an explicit results path */
    cr_assert_eq(parse(CFG("{\"x\": {\"results\": \"out/x.jsonl\"}}"), "x", &cfg, &err), RB_OK,
                 "%s", err.msg);
    cr_expect_str_eq(cfg.results, "out/x.jsonl");
    rb_sweep_config_free(&cfg);
}

Test(sweep_profile, bad_profiles_name_file_and_path) {
    static const struct {
        const char *text, *profile, *msg;
    } cases[] = {
        {CFG("[]"), NULL, "configs/x.json: profiles: expected an object, got an array"},
        {CFG("{\"c i\": {}}"), NULL, "configs/x.json: profiles.c i: \"c i\": use only letters"},
        {CFG("{\"ci\": 3}"), NULL, "configs/x.json: profiles.ci: expected an object"},
        {CFG("{\"ci\": {\"seeds\": 1}}"), NULL, "configs/x.json: profiles.ci: unknown key \"seeds\""},
        {CFG("{\"ci\": {\"results\": \"\"}}"), NULL, "configs/x.json: profiles.ci.results: expected a non-empty string"},
        {CFG("{\"ci\": {\"base\": {\"ctx\": 1.5}}}"), NULL, "configs/x.json: profiles.ci.base.ctx: --ctx expects an integer"},
        {CFG("{\"ci\": {\"base\": {\"frob\": 1}}}"), NULL, "configs/x.json: profiles.ci.base.frob: unknown eval flag"},
        {CFG("{\"ci\": {\"keep\": {\"z\": [\"1\"]}}}"), NULL, "configs/x.json: profiles.ci.keep.z: \"z\" is not an axis (axes: m, seed)"},
        {CFG("{\"ci\": {\"keep\": {\"seed\": []}}}"), NULL, "configs/x.json: profiles.ci.keep.seed: expected a non-empty list"},
        {CFG("{\"ci\": {\"keep\": {\"seed\": [\"9\"]}}}"), NULL, "configs/x.json: profiles.ci.keep.seed[0]: axis \"seed\" has no label \"9\""},
        {CFG("{\"ci\": {\"keep\": {\"seed\": [2]}}}"), NULL, "configs/x.json: profiles.ci.keep.seed[0]: expected a label (string)"},
        {CFG("{\"ci\": {\"values\": {\"m\": {\"c\": {}}}}}"), NULL, "configs/x.json: profiles.ci.values.m.c: axis \"m\" has no label \"c\""},
        {CFG("{\"ci\": {\"values\": {\"m\": {\"a\": {\"w-bits\": 99}}}}}"), NULL, "configs/x.json: profiles.ci.values.m.a.w-bits: "},
        {CFG(CI), "cx", "configs/x.json: no profile \"cx\" (profiles: ci)"},
        /* a profile's base is checked as the config's base is */
        {CFG("{\"ci\": {\"keep\": {\"m\": [\"a\"]}, \"base\": {\"pipeline\": 5}}}"), NULL, "configs/x.json: profiles.ci.base.pipeline: expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rb_sweep_config cfg;
        rb_error err = {0};
        int rc = parse(cases[i].text, cases[i].profile, &cfg, &err);
        cr_expect_neq(rc, RB_OK, "case %zu accepted", i);
        cr_expect(strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) == 0, "case %zu: %s", i,
                  err.msg);
    }
}

/* Every config's ci profile loads and expands, and is smaller than the full config. */
Test(sweep_profile, repository_ci_profiles_expand) {
    glob_t g;
    cr_assert_eq(glob(RB_SOURCE_ROOT "/configs/*.json", 0, NULL, &g), 0, "no configs found");
    int n_profiles = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        rb_sweep_config full, ci;
        rb_error err = {0};
        cr_assert_eq(rb_sweep_config_load(g.gl_pathv[i], &full, &err), RB_OK, "%s", err.msg);
        if (strstr(json_object_to_json_string(full.root), "\"profiles\"")) {
            cr_assert_eq(rb_sweep_config_load_profile(g.gl_pathv[i], "ci", &ci, &err), RB_OK, "%s",
                         err.msg);
            rb_sweep_run *a, *b;
            size_t na, nb;
            cr_assert_eq(rb_sweep_expand(&full, &a, &na, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_sweep_expand(&ci, &b, &nb, &err), RB_OK, "%s", err.msg);
            cr_expect_lt(nb, na, "%s: ci has %zu runs, the full config %zu", g.gl_pathv[i], nb, na);
            cr_expect(strncmp(ci.results, "results/ci/", 11) == 0, "%s", ci.results);
            rb_sweep_runs_free(a, na);
            rb_sweep_runs_free(b, nb);
            rb_sweep_config_free(&ci);
            n_profiles++;
        }
        rb_sweep_config_free(&full);
    }
    globfree(&g);
    cr_expect_geq(n_profiles, 7);
}
