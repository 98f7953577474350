/* MMLU (datasets/mmlu.h, datasets/mmlu_csv.h, eval/mmlu.h): the request
 * strings against lm-evaluation-harness's template written out by hand, the
 * CSV reader on quoting, CRLF and broken files, the subject → group map,
 * the size-weighted aggregation, shared-prefix packing against one forward
 * per choice, and `eval --task mmlu_* --num-fewshot`. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "datasets/mmlu.h"
#include "eval/mmlu.h"
#include "eval/zeroshot.h"
#include "test_models.h"
#include "test_util.h"
#include "zs_packed_check.h"

/* ---- fixtures: one subject per group ------------------------------------------
 * abstract_algebra (stem): LF, a multi-line quoted question with spaces and
 *   a newline around it (strip()), a quoted choice with a comma.
 * formal_logic (humanities): CRLF rows, a quoted question holding a CRLF,
 *   a choice that is literally None.
 * econometrics (social_sciences): "" quotes, a leading tab.
 * business_ethics (other): a leading no-break space (U+00A0, whitespace
 *   for Python's strip), a choice with a trailing space, no final newline. */

static const char aa_test[] =
    "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.,0,1,2,3,B\n"
    "\"  Statement 1 | Every group of order 4 is cyclic.\n"
    "Statement 2 | Z_2 x Z_2 is cyclic. \n\",\"True, True\",\"False, False\",\"True, False\","
    "\"False, True\",B\n";
static const char fl_test[] =
    "Which is a tautology?,P,~P,P v ~P,None,C\r\n"
    "\"Translate:\r\nIf it rains, it pours.\",R > P,P > R,R & P,None,A\r\n";
static const char ec_test[] = "\"\tThe \"\"OLS\"\" estimator is?\",BLUE,biased,\"a, b\",none,A\n";
static const char be_test[] = "\xc2\xa0" "Ethics is?, good,Yes ,no,maybe,D";

static const char *const subjects[4] = {"abstract_algebra", "formal_logic", "econometrics",
                                        "business_ethics"};
static const char *const tests_csv[4] = {aa_test, fl_test, ec_test, be_test};

/* dev rows "<tag> q<k>?" with choices "<tag> a<k>" ... and answers A B C D A */
static void write_dev(const char *path, const char *tag, const char *eol) {
    char buf[1024];
    size_t n = 0;
    const char answers[] = "ABCDA";
    for (int k = 1; k <= 5; k++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s q%d?,%s a%d,%s b%d,%s c%d,%s d%d,%c%s",
                              tag, k, tag, k, tag, k, tag, k, tag, k, answers[k - 1], eol);
    cr_assert_eq(rb_test_write_file(path, buf, n), 0);
}

/* A fixture MMLU directory (test/ and dev/ for the four subjects) in dir. */
static void make_fixture(char *dir, size_t cap) {
    rb_test_tmp_path("mmlu_fixture", dir, cap);
    char p[1200];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/test", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/dev", dir);
    mkdir(p, 0755);
    for (int s = 0; s < 4; s++) {
        snprintf(p, sizeof p, "%s/test/%s_test.csv", dir, subjects[s]);
        cr_assert_eq(rb_test_write_file(p, tests_csv[s], strlen(tests_csv[s])), 0);
        snprintf(p, sizeof p, "%s/dev/%s_dev.csv", dir, subjects[s]);
        write_dev(p, subjects[s], s == 1 ? "\r\n" : "\n");
    }
}

static int subject_index(const char *name) {
    for (int i = 0; i < RB_MMLU_SUBJECTS; i++)
        if (strcmp(rb_mmlu_subject(i), name) == 0) return i;
    cr_assert_fail("no subject %s", name);
    return -1;
}

/* The docs lm-eval renders for the fixture rows, written out by hand:
 * question.strip() + "\nA. " ... + "\nAnswer:". */
static const char *const docs[4][2] = {
    {"Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer:",
     "Statement 1 | Every group of order 4 is cyclic.\nStatement 2 | Z_2 x Z_2 is cyclic.\n"
     "A. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer:"},
    {"Which is a tautology?\nA. P\nB. ~P\nC. P v ~P\nD. None\nAnswer:",
     "Translate:\r\nIf it rains, it pours.\nA. R > P\nB. P > R\nC. R & P\nD. None\nAnswer:"},
    {"The \"OLS\" estimator is?\nA. BLUE\nB. biased\nC. a, b\nD. none\nAnswer:", NULL},
    {"Ethics is?\nA.  good\nB. Yes \nC. no\nD. maybe\nAnswer:", NULL},
};
static const char *const descriptions[4] = {
    "The following are multiple choice questions (with answers) about abstract algebra.\n\n",
    "The following are multiple choice questions (with answers) about formal logic.\n\n",
    "The following are multiple choice questions (with answers) about econometrics.\n\n",
    "The following are multiple choice questions (with answers) about business ethics.\n\n",
};
static const int golds[4][2] = {{1, 1}, {2, 0}, {0, -1}, {3, -1}};

/* The five shots of write_dev(tag), each "doc answer\n\n", by hand. */
static void five_shots(const char *tag, char *buf, size_t cap) {
    const char answers[] = "ABCDA";
    size_t n = 0;
    for (int k = 1; k <= 5; k++)
        n += (size_t)snprintf(buf + n, cap - n,
                              "%s q%d?\nA. %s a%d\nB. %s b%d\nC. %s c%d\nD. %s d%d\nAnswer: %c\n\n",
                              tag, k, tag, k, tag, k, tag, k, tag, k, answers[k - 1]);
}

static void expect_requests(const char *dir, int k) {
    for (int s = 0; s < 4; s++) {
        rb_zs_task t;
        rb_error err = {0};
        cr_assert_eq(rb_mmlu_load(dir, subject_index(subjects[s]), k, &t, &err), RB_OK, "%s",
                     err.msg);
        char want_name[80];
        snprintf(want_name, sizeof want_name, "mmlu_%s", subjects[s]);
        cr_expect_str_eq(t.name, want_name);
        size_t n_want = docs[s][1] ? 2 : 1;
        cr_assert_eq(t.n_items, n_want, "%s: %zu items", subjects[s], t.n_items);
        char shots[2048] = "";
        if (k == 5) five_shots(subjects[s], shots, sizeof shots);
        for (size_t i = 0; i < n_want; i++) {
            char want[4096];
            snprintf(want, sizeof want, "%s%s%s", descriptions[s], shots, docs[s][i]);
            cr_expect_eq(t.items[i].gold, golds[s][i], "%s item %zu", subjects[s], i);
            cr_assert_eq(t.items[i].n_choices, 4);
            for (int c = 0; c < 4; c++) {
                const char *ctx;
                char *cont;
                cr_assert_eq(rb_zs_request(&t, &t.items[i], c, &ctx, &cont, &err), RB_OK);
                cr_expect_str_eq(ctx, want, "%s %d-shot item %zu:\n[%s]\nwant\n[%s]",
                                 subjects[s], k, i, ctx, want);
                char want_cont[3] = {' ', (char)('A' + c), 0};
                cr_expect_str_eq(cont, want_cont);
                free(cont);
            }
            cr_expect_eq(t.shared_prefix, strlen(descriptions[s]) + strlen(shots));
        }
        rb_zs_task_free(&t);
    }
}

Test(mmlu, requests_zero_shot_equal_lm_eval_strings) {
    char dir[512];
    make_fixture(dir, sizeof dir);
    expect_requests(dir, 0);
}

Test(mmlu, requests_five_shot_equal_lm_eval_strings) {
    char dir[512];
    make_fixture(dir, sizeof dir);
    expect_requests(dir, 5);
}

Test(mmlu, groups_follow_the_task_files) {
    unsigned char sel[RB_MMLU_SUBJECTS];
    /* the tags of lm_eval/tasks/mmlu/default/mmlu_*.yaml: 19 stem, 13
     * humanities, 12 social sciences, 13 other */
    cr_expect_eq(rb_mmlu_select("mmlu", sel), 57);
    cr_expect_eq(rb_mmlu_select("mmlu_stem", sel), 19);
    cr_expect_eq(rb_mmlu_select("mmlu_humanities", sel), 13);
    cr_expect_eq(rb_mmlu_select("mmlu_social_sciences", sel), 12);
    cr_expect_eq(rb_mmlu_select("mmlu_other", sel), 13);
    cr_expect_eq(rb_mmlu_select("mmlu_abstract_algebra", sel), 1);
    cr_expect(sel[subject_index("abstract_algebra")]);
    cr_expect_eq(rb_mmlu_select("mmlu_", sel), 0);
    cr_expect_eq(rb_mmlu_select("mmlu_physics", sel), 0);
    cr_expect_eq(rb_mmlu_select("piqa", sel), 0);
    const struct {
        const char *name;
        rb_mmlu_group g;
    } some[] = {{"abstract_algebra", RB_MMLU_STEM},        {"formal_logic", RB_MMLU_HUMANITIES},
                {"econometrics", RB_MMLU_SOCIAL_SCIENCES}, {"business_ethics", RB_MMLU_OTHER},
                {"professional_law", RB_MMLU_HUMANITIES},  {"college_medicine", RB_MMLU_OTHER},
                {"high_school_geography", RB_MMLU_SOCIAL_SCIENCES},
                {"machine_learning", RB_MMLU_STEM}};
    for (size_t i = 0; i < sizeof some / sizeof *some; i++)
        cr_expect_eq(rb_mmlu_subject_group(subject_index(some[i].name)), some[i].g, "%s",
                     some[i].name);
    for (int i = 1; i < RB_MMLU_SUBJECTS; i++)
        cr_expect(strcmp(rb_mmlu_subject(i - 1), rb_mmlu_subject(i)) < 0, "sorted at %d", i);
}

/* ---- broken files ------------------------------------------------------------- */

static void expect_csv_error(const char *text, const char *where, const char *what) {
    rb_mmlu_rows rows;
    rb_error err = {0};
    int rc = rb_mmlu_csv_parse("x_test.csv", text, strlen(text), &rows, &err);
    cr_expect_eq(rc, RB_EFORMAT, "[%s]: rc %d", text, rc);
    char want[64];
    snprintf(want, sizeof want, "x_test.csv:%s", where);
    cr_expect(strstr(err.msg, want) != NULL, "[%s]: '%s' lacks '%s'", text, err.msg, want);
    cr_expect(strstr(err.msg, what) != NULL, "[%s]: '%s' lacks '%s'", text, err.msg, what);
    cr_expect_eq(rows.n, 0);
}

Test(mmlu, malformed_csv_names_file_and_line) {
    expect_csv_error("q,a,b,c,d,A\n\"open,a,b,c,d,A\nq2,a,b,c,d,B\n", "2:", "unterminated");
    expect_csv_error("q,a,b,c,d,A\nq,a,b,c,A\n", "2:", "5 fields");
    expect_csv_error("q,a,b,c,d,A\r\nq,a,b,c,d,e,A\r\n", "2:", "7 fields");
    expect_csv_error("q,a,b,c,d,A\n\nq,a,b,c,d,E\n", "3:", "\"E\"");
    expect_csv_error("q,a,b,c,d,a\n", "1:", "\"a\"");
    expect_csv_error("q,a,b,c,d, A\n", "1:", "\" A\"");
    expect_csv_error("\"multi\nline\",a,b,c,d,A\nq,a,b\"c,c,d,A\n", "3:", "malformed");
    expect_csv_error("\"q\"x,a,b,c,d,A\n", "1:", "malformed");
    expect_csv_error("q,a\0b,b,c,d,A\n", "1:", "");
    rb_mmlu_rows rows;
    rb_error err = {0};
    cr_expect_eq(rb_mmlu_csv_parse("e.csv", "", 0, &rows, &err), RB_EFORMAT);
    cr_expect(strstr(err.msg, "e.csv") && strstr(err.msg, "no rows"), "%s", err.msg);
    /* a NUL inside a field (the string would end early) */
    static const char nul[] = "q,a\0b,b,c,d,A\n";
    cr_expect_eq(rb_mmlu_csv_parse("n.csv", nul, sizeof nul - 1, &rows, &err), RB_EFORMAT);
    cr_expect(strstr(err.msg, "n.csv:1:") && strstr(err.msg, "NUL"), "%s", err.msg);
}

Test(mmlu, csv_rows_and_lines) {
    /* lines: a multi-line row starts on 1, the next on 3, blank line 4 */
    const char text[] = "\"a\r\nb\",x,\"\",z,w,D\r\nq,\"say \"\"hi\"\"\", s ,t,u,A\r\n\r\nlast,1,2,3,4,C";
    rb_mmlu_rows rows;
    rb_error err = {0};
    cr_assert_eq(rb_mmlu_csv_parse("t.csv", text, sizeof text - 1, &rows, &err), RB_OK, "%s",
                 err.msg);
    cr_assert_eq(rows.n, 3);
    cr_expect_str_eq(rows.rows[0].field[0], "a\r\nb");
    cr_expect_str_eq(rows.rows[0].field[2], "");
    cr_expect_eq(rows.rows[0].answer, 3);
    cr_expect_eq(rows.rows[0].line, 1);
    cr_expect_str_eq(rows.rows[1].field[1], "say \"hi\"");
    cr_expect_str_eq(rows.rows[1].field[2], " s ");
    cr_expect_eq(rows.rows[1].line, 3);
    cr_expect_str_eq(rows.rows[2].field[0], "last");
    cr_expect_eq(rows.rows[2].answer, 2);
    cr_expect_eq(rows.rows[2].line, 5);
    rb_mmlu_rows_free(&rows);
}

Test(mmlu, fewshot_needs_the_dev_file) {
    char dir[512], p[1200];
    make_fixture(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/dev/econometrics_dev.csv", dir);
    cr_assert_eq(remove(p), 0);
    rb_zs_task t;
    rb_error err = {0};
    int s = subject_index("econometrics");
    cr_expect_eq(rb_mmlu_load(dir, s, 0, &t, &err), RB_OK, "%s", err.msg); /* 0-shot: fine */
    rb_zs_task_free(&t);
    cr_expect_eq(rb_mmlu_load(dir, s, 5, &t, &err), RB_EIO);
    cr_expect(strstr(err.msg, p) && strstr(err.msg, "few-shot"), "%s", err.msg);
    /* more shots than dev rows */
    cr_expect_eq(rb_mmlu_load(dir, subject_index("formal_logic"), 6, &t, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "formal_logic_dev.csv") && strstr(err.msg, "6"), "%s", err.msg);
    /* a broken test file names itself */
    snprintf(p, sizeof p, "%s/test/business_ethics_test.csv", dir);
    cr_assert_eq(rb_test_write_file(p, "q,a,b,c,d,A\nq,a,b,c,d,Z\n", 24), 0);
    cr_expect_eq(rb_mmlu_load(dir, subject_index("business_ethics"), 0, &t, &err), RB_EFORMAT);
    char want[1300];
    snprintf(want, sizeof want, "%s:2:", p);
    cr_expect(strstr(err.msg, want), "%s", err.msg);
}

/* ---- aggregation -------------------------------------------------------------- */

Test(mmlu, pool_weights_by_size_as_lm_eval) {
    /* two tasks: 2/4 and 2/6 right.  By hand: acc = 4/10; lm-eval's pooled
     * variance ((4-1)·4·se1² + (6-1)·6·se2²)/(10-2) with se1² = .25/3, se2² =
     * (1/3)(2/3)/5 = 2/45 is (1 + 4/3)/8 = 7/24, stderr = sqrt(7/24/10). */
    rb_zs_result r[2] = {{.n_items = 4, .acc = 0.5, .acc_norm = 0.5},
                         {.n_items = 6, .acc = 2.0 / 6, .acc_norm = 1.0}};
    for (int i = 0; i < 2; i++) {
        r[i].acc_stderr = rb_zs_stderr(r[i].acc, r[i].n_items);
        r[i].acc_norm_stderr = rb_zs_stderr(r[i].acc_norm, r[i].n_items);
        r[i].seconds = 1;
    }
    rb_zs_result o;
    rb_zs_pool(r, 2, &o);
    cr_expect_eq(o.n_items, 10);
    cr_expect(fabs(o.acc - 0.4) < 1e-15, "%.17g", o.acc);
    cr_expect(fabs(o.acc_norm - 0.8) < 1e-15, "%.17g", o.acc_norm);
    cr_expect(fabs(o.acc_stderr - sqrt(7.0 / 240)) < 1e-15, "%.17g", o.acc_stderr);
    cr_expect(fabs(o.acc_norm_stderr - sqrt(3 * 4 * (0.25 / 3) / 8 / 10)) < 1e-15);
    cr_expect_eq(o.seconds, 2);
    /* one item per task (--limit 1): the sample stderr of the 3 items */
    rb_zs_result one[3] = {{.n_items = 1, .acc = 1}, {.n_items = 1}, {.n_items = 1, .acc = 1}};
    rb_zs_pool(one, 3, &o);
    cr_expect(fabs(o.acc_stderr - sqrt((2.0 / 3) * (1.0 / 3) / 2)) < 1e-15, "%.17g", o.acc_stderr);
}

/* ---- scoring ------------------------------------------------------------------ */

/* rb_test_expect_packed_equals_per_choice on t; returns the tokens forwarded
 * packed, with those forwarded one request alone in *alone_tokens and the
 * truncated contexts in *truncated. */
static size_t expect_shared_equals_alone(const rb_model *m, const rb_tokenizer *tk,
                                         const rb_zs_task *t, int pack_T, int max_len,
                                         size_t *alone_tokens, size_t *truncated) {
    rb_zs_result r;
    rb_test_expect_packed_equals_per_choice(m, tk, t, NULL, pack_T, max_len, 0, &r, alone_tokens);
    *truncated = r.n_ctx_truncated;
    return r.n_forwarded;
}

/* Each fixture subject at 2-shot, its items repeated to 6 (contexts that
 * share the description and shots, and some all of their text). */
Test(mmlu, shared_prefix_packing_equals_scoring_each_request_alone) {
    rb_model *m = rb_test_synth(32, 48, 2, 4, 2, 512, 23);
    rb_tokenizer *tk = rb_test_tok512();
    char dir[512];
    make_fixture(dir, sizeof dir);
    rb_zs_task t;
    rb_error err = {0};
    for (int s = 0; s < 4; s++) {
        cr_assert_eq(rb_mmlu_load(dir, subject_index(subjects[s]), 2, &t, &err), RB_OK, "%s",
                     err.msg);
        /* more items: repeat the subject's items with different golds */
        size_t n0 = t.n_items, n = 6;
        rb_zs_item *items = calloc(n, sizeof *items);
        for (size_t i = 0; i < n; i++) {
            const rb_zs_item *src = &t.items[i % n0];
            items[i].context = strdup(src->context);
            items[i].n_choices = 4;
            items[i].gold = (int)(i % 4);
            for (int c = 0; c < 4; c++) items[i].choices[c] = strdup(src->choices[c]);
        }
        rb_zs_task big = t;
        big.items = items;
        big.n_items = n;
        size_t alone, cut;
        /* a pack holding everything; a pack of a few items (several
         * flushes); windows shorter than the prompts (left truncation);
         * the two middle cases on two subjects (test time) */
        size_t shared = expect_shared_equals_alone(m, tk, &big, 2048, 1024, &alone, &cut);
        cr_expect_eq(cut, 0);
        cr_expect_lt(shared * 4, alone, "%s: %zu tokens shared vs %zu alone", t.name, shared,
                     alone);
        if (s < 2) expect_shared_equals_alone(m, tk, &big, 700, 1024, &alone, &cut);
        size_t cut_tokens = expect_shared_equals_alone(m, tk, &big, 512, 64, &alone, &cut);
        cr_expect_eq(cut, n);
        /* truncated: choices whose windows are equal (tok512 encodes " B" as
         * one token, " A", " C", " D" as "▁" + letter) share them */
        cr_expect_lt(cut_tokens, alone, "%s truncated: %zu vs %zu", t.name, cut_tokens, alone);
        /* without the declared prefix: still equal, more tokens forwarded */
        big.shared_prefix = 0;
        if (s < 2) {
            size_t plain = expect_shared_equals_alone(m, tk, &big, 2048, 1024, &alone, &cut);
            cr_expect_lt(shared, plain);
        }
        rb_zs_task_free(&big);
        rb_zs_task_free(&t); /* the loaded items (big had copies) */
    }
    rb_tokenizer_free(tk);
    rb_model_free(m);
}

/* ---- the shipped data ---------------------------------------------------------- */

Test(mmlu, shipped_files_have_the_official_counts) {
    rb_test_require_data("datasets/mmlu/test/abstract_algebra_test.csv");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", rb_test_data_dir(), RB_MMLU_DIR);
    size_t n_test = 0, n_dev = 0, answers[4] = {0}, none = 0;
    for (int i = 0; i < RB_MMLU_SUBJECTS; i++) {
        char p[1200];
        rb_mmlu_rows rows;
        rb_error err = {0};
        snprintf(p, sizeof p, "%s/test/%s_test.csv", dir, rb_mmlu_subject(i));
        cr_assert_eq(rb_mmlu_csv_read(p, &rows, &err), RB_OK, "%s", err.msg);
        n_test += rows.n;
        for (size_t r = 0; r < rows.n; r++) {
            answers[rows.rows[r].answer]++;
            for (int c = 1; c <= 4; c++) none += strcmp(rows.rows[r].field[c], "None") == 0;
        }
        rb_mmlu_rows_free(&rows);
        snprintf(p, sizeof p, "%s/dev/%s_dev.csv", dir, rb_mmlu_subject(i));
        cr_assert_eq(rb_mmlu_csv_read(p, &rows, &err), RB_OK, "%s", err.msg);
        cr_expect_eq(rows.n, 5, "%s", p);
        n_dev += rows.n;
        rb_mmlu_rows_free(&rows);
    }
    /* MMLU's published counts (datasets/MANIFEST.md) */
    cr_expect_eq(n_test, 14042);
    cr_expect_eq(n_dev, 285);
    cr_expect_eq(answers[0], 3222);
    cr_expect_eq(answers[1], 3462);
    cr_expect_eq(answers[2], 3582);
    cr_expect_eq(answers[3], 3776);
    cr_expect(none >= 5 && none <= 20, "%zu None choices", none);
}

/* Runs `rotbench eval ARGS --json`: the record, or (on failure) a JSON
 * string holding everything it printed. */
static json_object *run_json(const char *args, int *status) {
    const char *exe = getenv("ROTBENCH_EXE");
    cr_assert(exe, "ROTBENCH_EXE not set");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ROTBENCH_DATA='%s' '%s' eval %s --threads 1 --json 2>&1",
             rb_test_data_dir(), exe, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    static char out[1 << 16];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    *status = pclose(p);
    /* on success the last line is the record; otherwise the messages */
    const char *rec = strstr(out, "{\"model\"");
    json_object *o = *status == 0 && rec ? json_tokener_parse(rec) : NULL;
    return o ? o : json_object_new_string(out);
}

Test(mmlu, cli_record_has_subjects_groups_and_shots) {
    rb_test_require_data("datasets/mmlu/test/abstract_algebra_test.csv");
    rb_test_require_data("models/stories260K/stories260K.bin");
    int st;
    json_object *o = run_json("--task mmlu_stem,mmlu_anatomy --limit 2 --num-fewshot 1", &st);
    cr_assert_neq(st, 0, "overlapping selections must be refused");
    cr_expect(strstr(json_object_get_string(o), "mmlu_anatomy twice"), "%s",
              json_object_get_string(o));
    json_object_put(o);
    o = run_json("--task piqa --num-fewshot 5", &st);
    cr_expect_neq(st, 0);
    cr_expect(strstr(json_object_get_string(o), "piqa has no few-shot split"), "%s",
              json_object_get_string(o));
    json_object_put(o);
    o = run_json("--task mmlu_humanities --limit 2 --num-fewshot 2", &st);
    cr_assert_eq(st, 0);
    json_object *v, *tasks, *t;
    cr_assert(json_object_object_get_ex(o, "num_fewshot", &v));
    cr_expect_eq(json_object_get_int(v), 2);
    cr_assert(json_object_object_get_ex(o, "tasks", &tasks));
    cr_assert(json_object_object_get_ex(tasks, "mmlu_humanities", &t));
    cr_assert(json_object_object_get_ex(t, "n_items", &v));
    cr_expect_eq(json_object_get_int(v), 26); /* 13 subjects × 2 */
    cr_assert(json_object_object_get_ex(t, "n_subjects", &v));
    cr_expect_eq(json_object_get_int(v), 13);
    /* the group is the item-weighted mean of its subjects */
    double hits = 0;
    int n_sub = 0;
    json_object_object_foreach(tasks, key, val) {
        if (strcmp(key, "mmlu_humanities") == 0) continue;
        json_object *a, *ni;
        cr_assert(json_object_object_get_ex(val, "acc", &a));
        cr_assert(json_object_object_get_ex(val, "n_items", &ni));
        hits += json_object_get_double(a) * json_object_get_int(ni);
        n_sub++;
    }
    cr_expect_eq(n_sub, 13);
    cr_assert(json_object_object_get_ex(t, "acc", &v));
    cr_expect(fabs(json_object_get_double(v) - hits / 26) < 1e-12);
    cr_assert(json_object_object_get_ex(t, "fewshot_sha256", &v));
    cr_assert(json_object_object_get_ex(tasks, "mmlu_formal_logic", &t));
    cr_assert(json_object_object_get_ex(t, "n_ctx_truncated", &v));
    json_object_put(o);
}
