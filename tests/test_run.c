/* The run module: the flag bindings agree with the declared flag types, a
 * spec survives args → spec → command line → spec, usage checks, and a run
 * (rb_run_eval) gives exactly the perplexity of the library calls it is made
 * of, reporting through its callbacks. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "core/model.h"
#include "core/tokenizer.h"
#include "eval/eval_flags.h"
#include "eval/perplexity.h"
#include "run/eval.h"
#include "run/flags.h"
#include "run/spec.h"
#include "tests/test_util.h"

Test(run, flag_bindings_and_declared_types_list_the_same_flags) {
    size_t n_types;
    const rb_flag_spec *types = rb_eval_flags(&n_types);
    for (size_t i = 0; i < n_types; i++) {
        if (!strcmp(types[i].name, "json")) continue; /* the app's, not the spec's */
        const rb_run_flag *f = rb_run_flag_find(types[i].name, RB_FLAGS_ALL);
        cr_assert(f, "--%s is declared in eval/eval_flags.c but bound to no spec field",
                  types[i].name);
        cr_expect_eq(f->kind == RB_FIELD_SWITCH, types[i].type == RB_FLAG_BOOL,
                     "--%s: switch in one table only", f->name);
        cr_expect_eq(f->kind == RB_FIELD_INT,
                     types[i].type == RB_FLAG_INT || types[i].type == RB_FLAG_BITS,
                     "--%s: integer in one table only", f->name);
    }
    for (const rb_run_flag *f = rb_run_flags(); f->name; f++)
        cr_expect(rb_run_flag_type(f), "--%s is bound but not declared in eval/eval_flags.c",
                  f->name);
}

Test(run, values_are_checked_with_the_declared_types) {
    rb_run_spec s;
    rb_run_spec_init(&s);
    rb_error err = {0};
    const rb_run_flag *ctx = rb_run_flag_find("ctx", RB_FLAGS_ALL);
    cr_assert_eq(rb_run_flag_set(&s, ctx, "512.7", &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "--ctx expects an integer"), "%s", err.msg);
    cr_assert_eq(rb_run_flag_set(&s, ctx, "512", &err), RB_OK, "%s", err.msg);
    cr_expect_eq(s.ctx, 512);
    cr_expect_eq(rb_run_flag_set(&s, rb_run_flag_find("w-bits", RB_FLAGS_ALL), "9", &err),
                 RB_EINVAL);
    cr_expect_eq(rb_run_flag_set(&s, rb_run_flag_find("w-gran", RB_FLAGS_ALL), "rows", &err),
                 RB_EINVAL);
    cr_assert_eq(rb_run_flag_set(&s, rb_run_flag_find("a-static", RB_FLAGS_ALL), NULL, &err),
                 RB_OK);
    cr_expect_eq(s.a_static, 1);
    cr_assert_eq(rb_run_flag_set(&s, rb_run_flag_find("a-dynamic", RB_FLAGS_ALL), NULL, &err),
                 RB_OK);
    cr_expect_eq(s.a_static, 0);
    /* stats takes no --task */
    cr_expect_null(rb_run_flag_find("task", RB_FLAGS_LOAD | RB_FLAGS_PIPELINE | RB_FLAGS_WEIGHTS));
}

/* args → spec → argv → spec gives the same command line again. */
Test(run, spec_round_trip_through_args_and_command_line) {
    json_object *args = json_tokener_parse(
        "{\"task\": \"tinystories\", \"ctx\": 256, \"pipeline\": \"quarot,gptq\", \"seed\": 3,"
        " \"w-bits\": 4, \"w-gran\": \"group:32\", \"w-clip\": 0.9, \"a-bits\": 8,"
        " \"a-static\": true, \"kv-asym\": false, \"calib\": \"my file.txt\", \"threads\": 2}");
    cr_assert(args);
    json_object *strings = json_object_new_array();
    rb_run_spec a, b;
    rb_run_spec_init(&a);
    rb_error err = {0};
    cr_assert_eq(rb_run_spec_from_args(&a, args, RB_FLAGS_ALL, strings, &err), RB_OK, "%s",
                 err.msg);
    cr_expect_eq(a.ctx, 256);
    cr_expect_eq(a.w_bits, 4);
    cr_expect_str_eq(a.w_clip, "0.9");
    cr_expect_eq(a.a_static, 1);
    cr_expect_eq(a.kv_asym, 0);
    size_t cap = rb_run_flags_max_argc(), n = 0, m = 0;
    char **argv = calloc(cap, sizeof *argv), **again = calloc(cap, sizeof *again);
    cr_assert_eq(rb_run_spec_argv(&a, argv, &n, &err), RB_OK);
    /* parse the command line back, flag by flag */
    rb_run_spec_init(&b);
    for (size_t i = 0; i < n; i++) {
        cr_assert(!strncmp(argv[i], "--", 2), "%s", argv[i]);
        const rb_run_flag *f = rb_run_flag_find(argv[i] + 2, RB_FLAGS_ALL);
        cr_assert(f, "%s", argv[i]);
        const char *v = f->kind == RB_FIELD_SWITCH ? NULL : argv[++i];
        cr_assert_eq(rb_run_flag_set(&b, f, v, &err), RB_OK, "%s", err.msg);
    }
    cr_assert_eq(rb_run_spec_argv(&b, again, &m, &err), RB_OK);
    cr_assert_eq(m, n);
    for (size_t i = 0; i < n; i++) cr_expect_str_eq(again[i], argv[i]);
    cr_expect_str_eq(argv[n - 2], "--threads"); /* last, as the sweep's lines end */
    for (size_t i = 0; i < n; i++) free(argv[i]), free(again[i]);
    free(argv);
    free(again);
    /* an unknown flag, a switch given a value */
    json_object *bad = json_tokener_parse("{\"no-such-flag\": 1}");
    cr_expect_eq(rb_run_spec_from_args(&b, bad, RB_FLAGS_ALL, strings, &err), RB_EINVAL);
    json_object_put(bad);
    bad = json_tokener_parse("{\"a-static\": 1}");
    cr_expect_eq(rb_run_spec_from_args(&b, bad, RB_FLAGS_ALL, strings, &err), RB_EINVAL);
    json_object_put(bad);
    json_object_put(strings);
    json_object_put(args);
}

Test(run, usage_checks_need_nothing_loaded) {
    rb_run_spec s;
    rb_run_spec_init(&s);
    rb_error err = {0};
    s.task = "piqa";
    s.text = "x.txt";
    cr_expect_eq(rb_run_eval_check(&s, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "not both"), "%s", err.msg);
    s.text = NULL;
    s.max_tokens = 100;
    cr_expect_eq(rb_run_eval_check(&s, &err), RB_EINVAL);
    s.max_tokens = 0;
    s.task = "piqa,wikitext2";
    cr_expect_eq(rb_run_eval_check(&s, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "mixes"), "%s", err.msg);
    s.task = "wikitext2";
    s.limit = 5;
    cr_expect_eq(rb_run_eval_check(&s, &err), RB_EINVAL);
    s.limit = 0;
    cr_expect_eq(rb_run_eval_check(&s, &err), RB_OK, "%s", err.msg);
    s.task = "zeroshot";
    s.limit = 5;
    cr_expect_eq(rb_run_eval_check(&s, &err), RB_OK, "%s", err.msg);
}

typedef struct seen {
    int lines, progress;
    char first[256];
} seen;

static void on_line(void *ctx, const char *line) {
    seen *s = ctx;
    if (!s->lines++) snprintf(s->first, sizeof s->first, "%s", line);
}

static void on_progress(void *ctx, const char *what, const char *unit, size_t done,
                        size_t total, double seconds) {
    (void)what, (void)unit, (void)done, (void)total, (void)seconds;
    ((seen *)ctx)->progress++;
}

/* A run is the library calls it is made of: the same perplexity, bit for bit. */
Test(run, eval_record_equals_the_direct_perplexity, .timeout = 120) {
    const char *model_path = rb_test_require_data("models/stories260K/stories260K.bin");
    const char *tok_path = rb_test_require_data("models/stories260K/tok512.bin");
    const char *text_path = rb_test_require_data("datasets/tinystories/TinyStories-valid-head.txt");
    rb_run_spec s;
    rb_run_spec_init(&s);
    s.model = model_path;
    s.tokenizer = tok_path;
    s.text = text_path;
    s.ctx = 128;
    s.max_tokens = 1024;
    s.threads = 1;
    seen log = {0};
    rb_run_report rep = {{on_line, &log}, on_progress, &log};
    rb_error err = {0};
    json_object *rec = NULL;
    cr_assert_eq(rb_run_eval_check(&s, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_run_eval(&s, &rep, &rec, &err), RB_OK, "%s", err.msg);
    cr_expect(log.lines >= 2 && strstr(log.first, "eval: "), "%d lines, first '%s'", log.lines,
              log.first);
    cr_expect(log.progress >= 1);
    double ppl = json_object_get_double(json_object_object_get(rec, "ppl"));
    int64_t scored = json_object_get_int64(json_object_object_get(rec, "n_tokens"));
    cr_expect_str_eq(json_object_get_string(json_object_object_get(rec, "task")), "text");
    cr_expect(json_object_object_get(rec, "method"), "the record has its method block");
    /* the same by hand */
    rb_model *m = NULL;
    rb_tokenizer *t = NULL;
    char *text = NULL;
    size_t len = 0, n = 0;
    int32_t *tok = NULL;
    cr_assert_eq(rb_model_load(model_path, &m, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_load(tok_path, &t, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_read_file(text_path, 0, &text, &len, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_encode(t, text, len, 1, 0, &tok, &n, &err), RB_OK, "%s", err.msg);
    rb_workspace ws;
    rb_ppl_result res;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 128, &err), RB_OK);
    cr_assert_eq(rb_perplexity(m, &ws, NULL, tok, n < 1024 ? n : 1024, 128, 0, NULL, NULL, &res,
                               NULL, NULL, &err),
                 RB_OK, "%s", err.msg);
    cr_expect_eq(ppl, res.ppl, "run %.17g vs direct %.17g", ppl, res.ppl);
    cr_expect_eq((size_t)scored, res.n_scored);
    rb_workspace_free(&ws);
    free(tok);
    free(text);
    rb_tokenizer_free(t);
    rb_model_free(m);
    json_object_put(rec);
}
