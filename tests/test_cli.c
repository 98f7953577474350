/* The rotbench program as a user meets it: what eval, stats and sweep
 * refuse and say, and what their JSON records hold.  Runs the built
 * rotbench ($ROTBENCH_EXE, set by meson test) on the shared stories260K. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/io.h"
#include "tests/test_util.h"

static const char *rotbench_exe(void) {
    const char *exe = getenv("ROTBENCH_EXE");
    if (exe && *exe) return exe;
    if (rb_test_in_ci()) cr_assert_fail("ROTBENCH_EXE is not set to the built rotbench (CI=true)");
    cr_skip_test("ROTBENCH_EXE is not set to the built rotbench (meson test sets it)");
    return NULL;
}

static char *read_text(const char *path) {
    char *s;
    size_t n;
    rb_error err;
    cr_assert_eq(rb_read_file(path, 0, &s, &n, &err), RB_OK, "%s", err.msg);
    return s;
}

typedef struct cli_result {
    int status; /* exit status, 128 + signal when killed */
    char *out, *err;
} cli_result;

/* Runs `rotbench ARGS` through the shell (ARGS is shell text) in the test's
 * temporary directory with ROTBENCH_DATA set; captures stdout and stderr. */
static cli_result run_cli(const char *args) {
    char dir[1024], cmd[8192], po[1200], pe[1200];
    rb_test_tmp_path("", dir, sizeof dir);
    snprintf(po, sizeof po, "%scli_out.txt", dir);
    snprintf(pe, sizeof pe, "%scli_err.txt", dir);
    snprintf(cmd, sizeof cmd, "cd '%s' && ROTBENCH_DATA='%s' '%s' %s >'%s' 2>'%s'", dir,
             rb_test_data_dir(), rotbench_exe(), args, po, pe);
    int st = system(cmd);
    cli_result r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), read_text(po),
                    read_text(pe)};
    unlink(po);
    unlink(pe);
    return r;
}

static void cli_free(cli_result *r) {
    free(r->out);
    free(r->err);
}

/* The stdout of a --json run as an object (fails the test otherwise). */
static json_object *json_of(const cli_result *r) {
    json_object *o = json_tokener_parse(r->out);
    cr_assert(o && json_object_is_type(o, json_type_object), "not one JSON object: %s", r->out);
    return o;
}

static void need_model(void) { rb_test_require_data("models/stories260K/stories260K.bin"); }

/* ---- the context length against the model's maximum position ------------------ */

Test(cli, ctx_past_the_models_maximum_is_refused, .timeout = 120) {
    need_model();
    rb_test_require_data("datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt");
    cli_result r = run_cli("eval --ctx 1024 --max-tokens 2048 --threads 1");
    cr_expect_eq(r.status, 1, "--ctx 1024 on a 512-position model: status %d, %s", r.status,
                 r.err);
    cr_expect(strstr(r.err, "--ctx 1024") && strstr(r.err, "512") &&
                  strstr(r.err, "--allow-long-ctx") && strstr(r.err, "stories260K.bin"),
              "the message names the flag, both lengths, the model and the way out: %s", r.err);
    cr_expect(!strstr(r.err, "usage:"), "a plain error, not the usage text: %s", r.err);
    cli_free(&r);

    /* zero-shot windows and calibration windows go through the same check */
    r = run_cli("eval --task piqa --limit 2 --ctx 600 --threads 1");
    cr_expect_eq(r.status, 1, "zero-shot --ctx 600: status %d, %s", r.status, r.err);
    cr_expect(strstr(r.err, "--ctx 600") && strstr(r.err, "512"), "%s", r.err);
    cli_free(&r);
    r = run_cli("eval --max-tokens 1024 --pipeline rtn --w-bits 8 --calib-windows 1 "
                "--calib-len 513 --threads 1");
    cr_expect_eq(r.status, 1, "--calib-len 513: status %d, %s", r.status, r.err);
    cr_expect(strstr(r.err, "--calib-len 513") && strstr(r.err, "512"), "%s", r.err);
    cli_free(&r);
    r = run_cli("stats --calib-windows 1 --calib-len 600 --threads 1");
    cr_expect_eq(r.status, 1, "stats --calib-len 600: status %d, %s", r.status, r.err);
    cr_expect(strstr(r.err, "--calib-len 600") && strstr(r.err, "512"), "%s", r.err);
    cli_free(&r);
}

Test(cli, allow_long_ctx_runs_and_is_recorded, .timeout = 120) {
    need_model();
    rb_test_require_data("datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt");
    cli_result r = run_cli("eval --ctx 1024 --max-tokens 2048 --threads 1 --allow-long-ctx --json");
    cr_assert_eq(r.status, 0, "status %d: %s", r.status, r.err);
    json_object *o = json_of(&r), *v;
    cr_expect(json_object_object_get_ex(o, "model_max_ctx", &v) && json_object_get_int(v) == 512,
              "model_max_ctx: %s", r.out);
    cr_expect(json_object_object_get_ex(o, "allow_long_ctx", &v) &&
                  json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v),
              "allow_long_ctx: %s", r.out);
    cr_expect(json_object_object_get_ex(o, "ctx", &v) && json_object_get_int(v) == 1024);
    json_object_put(o);
    cli_free(&r);

    /* within the maximum: recorded too, the flag off */
    r = run_cli("eval --ctx 512 --max-tokens 1024 --threads 1 --json");
    cr_assert_eq(r.status, 0, "status %d: %s", r.status, r.err);
    o = json_of(&r);
    cr_expect(json_object_object_get_ex(o, "model_max_ctx", &v) && json_object_get_int(v) == 512,
              "model_max_ctx: %s", r.out);
    cr_expect(json_object_object_get_ex(o, "allow_long_ctx", &v) && !json_object_get_boolean(v),
              "allow_long_ctx: %s", r.out);
    json_object_put(o);
    cli_free(&r);
}

/* ---- eval's flag values are checked by the table the sweep uses ------------------ */

Test(cli, eval_flag_values_are_checked_like_a_sweep_config, .timeout = 60) {
    static const char *const cases[][2] = {
        {"--ctx 512.7", "error: --ctx expects an integer in 2..1048576, got '512.7'\n"},
        {"--w-bits 9", "error: --w-bits expects 2..8 or 16 (off), got '9'\n"},
        {"--a-gran chanel",
         "error: --a-gran expects one of tensor|channel|token|row|group:N, got 'chanel'\n"},
        {"--a-clip 1.5", "error: --a-clip expects a number in (0, 1] or mse, got '1.5'\n"},
        {"--kv-high-bits 12", "error: --kv-high-bits expects 2..8 or 16 (off), got '12'\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char args[256];
        snprintf(args, sizeof args, "eval %s", cases[i][0]);
        cli_result r = run_cli(args);
        cr_expect_eq(r.status, 2, "%s: status %d", args, r.status);
        cr_expect_str_eq(r.err, cases[i][1], "%s", args);
        cli_free(&r);
    }
}

/* ---- messages ------------------------------------------------------------------ */

Test(cli, a_directory_as_model_says_it_is_a_directory, .timeout = 60) {
    rb_test_require_data("models/stories260K/tok512.bin");
    char args[2048];
    snprintf(args, sizeof args, "eval --model '%s' --tokenizer '%s' --max-tokens 64",
             rb_test_data_path("models/stories260K"),
             rb_test_data_path("models/stories260K/tok512.bin"));
    cli_result r = run_cli(args);
    cr_expect_eq(r.status, 1, "status %d: %s", r.status, r.err);
    cr_expect(strstr(r.err, "models/stories260K: is a directory"), "%s", r.err);
    cli_free(&r);
}

/* ---- records are standard JSON --------------------------------------------------- */

/* stdout parsed by Python's json (an implementation rotbench does not share)
 * with NaN/Infinity refused: 0 when it is standard JSON. */
static int python_strict_json(const char *text) {
    char path[1024], cmd[2048];
    rb_test_tmp_path("strict.json", path, sizeof path);
    cr_assert_eq(rb_test_write_file(path, text, strlen(text)), 0);
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys\n"
             "def bad(c): sys.exit(\"non-standard JSON token \" + c)\n"
             "for line in open(sys.argv[1]):\n"
             "    line.strip() and json.loads(line, parse_constant=bad)' '%s'",
             path);
    int st = system(cmd);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* stories260K with its (shared) embedding ×1e4: logits so large that the mean
 * NLL is in the thousands and exp(NLL) overflows to +inf. */
static const char *overflow_model(char *path, size_t cap) {
    const char *src = rb_test_require_data("models/stories260K/stories260K.bin");
    char *b;
    size_t n;
    rb_error err;
    cr_assert_eq(rb_read_file(src, 0, &b, &n, &err), RB_OK, "%s", err.msg);
    float *emb = (float *)(b + 28);
    for (size_t i = 0; i < (size_t)512 * 64; i++) emb[i] *= 1e4f;
    rb_test_tmp_path("overflow.bin", path, cap);
    cr_assert_eq(rb_test_write_file(path, b, n), 0);
    free(b);
    return path;
}

Test(cli, an_overflowing_perplexity_is_null_with_the_reason, .timeout = 120) {
    rb_test_require_data("datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt");
    char model[1024], args[2048];
    overflow_model(model, sizeof model);
    snprintf(args, sizeof args, "eval --model '%s' --tokenizer tok512 --max-tokens 512 "
                                "--threads 1 --json", model);
    cli_result r = run_cli(args);
    cr_assert_eq(r.status, 0, "status %d: %s", r.status, r.err);
    cr_expect_eq(python_strict_json(r.out), 0, "--json output is not standard JSON: %s", r.out);
    json_object *o = json_of(&r), *v;
    cr_expect(json_object_object_get_ex(o, "ppl", &v) && json_object_is_type(v, json_type_null),
              "ppl is not null: %s", r.out);
    cr_expect(json_object_object_get_ex(o, "ppl_nonfinite", &v) &&
                  !strcmp(json_object_get_string(v), "inf"),
              "ppl_nonfinite: %s", r.out);
    cr_expect(json_object_object_get_ex(o, "nll", &v) && json_object_get_double(v) > 709,
              "the NLL stays a number: %s", r.out);
    json_object_put(o);
    cli_free(&r);
    unlink(model);
}
