/* Zero-shot scoring (eval/zeroshot.h): log-prob sums against a float64
 * log-softmax of rb_forward's logits, truncation, acc vs acc_norm, the
 * lm-eval tokenization split, the HellaSwag loader and `eval --task
 * hellaswag --limit`. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"
#include "datasets/tasks.h"
#include "eval/zeroshot.h"
#include "test_models.h"
#include "test_util.h"
#include "zs_packed_check.h"

/* log p(tokens[k] | tokens[start..k)) for k in [n-n_cont, n), from a plain
 * forward over tokens[start .. n-1), float64 log-softmax. */
static double direct_logprob(const rb_model *m, const int32_t *tokens, size_t n, size_t n_cont,
                             size_t start) {
    int T = (int)(n - 1 - start), V = m->cfg.vocab_size;
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, T, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_forward(m, &ws, tokens + start, T, NULL, &err), RB_OK, "%s", err.msg);
    double s = 0;
    for (size_t k = n - n_cont; k < n; k++) {
        const float *row = ws.logits + (k - 1 - start) * (size_t)V;
        double mx = row[0], z = 0;
        for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        for (int v = 0; v < V; v++) z += exp((double)row[v] - mx);
        s += (double)row[tokens[k]] - mx - log(z);
    }
    rb_workspace_free(&ws);
    return s;
}

Test(zeroshot, logprob_matches_float64_log_softmax) {
    rb_model *m = rb_test_synth(16, 24, 2, 4, 2, 40, 7);
    int32_t tok[14] = {1, 5, 9, 33, 2, 17, 39, 0, 21, 8, 8, 30, 12, 3};
    rb_error err;
    rb_workspace ws;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 16, &err), RB_OK);
    for (size_t n_cont = 1; n_cont <= 6; n_cont++) {
        double lp;
        cr_assert_eq(rb_zs_logprob(m, &ws, NULL, tok, 14, n_cont, 0, &lp, NULL, &err), RB_OK, "%s",
                     err.msg);
        double ref = direct_logprob(m, tok, 14, n_cont, 0);
        cr_expect(fabs(lp - ref) < 1e-5 * (1 + fabs(ref)), "n_cont %zu: %.9f vs %.9f", n_cont, lp,
                  ref);
        cr_expect(lp < 0);
    }
    rb_workspace_free(&ws);
    /* truncation from the left: a window of 8 sees tokens[5..13) */
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 8, &err), RB_OK);
    double lp;
    cr_assert_eq(rb_zs_logprob(m, &ws, NULL, tok, 14, 3, 0, &lp, NULL, &err), RB_OK, "%s", err.msg);
    double ref = direct_logprob(m, tok, 14, 3, 5);
    cr_expect(fabs(lp - ref) < 1e-5 * (1 + fabs(ref)), "truncated: %.9f vs %.9f", lp, ref);
    /* the continuation itself never truncated: 8 fits, 9 does not */
    cr_expect_eq(rb_zs_logprob(m, &ws, NULL, tok, 14, 8, 0, &lp, NULL, &err), RB_OK);
    /* a continuation longer than the window is scored by its last 8 tokens */
    double lp8;
    cr_expect_eq(rb_zs_logprob(m, &ws, NULL, tok, 14, 8, 0, &lp8, NULL, &err), RB_OK);
    cr_expect_eq(rb_zs_logprob(m, &ws, NULL, tok, 14, 9, 0, &lp, NULL, &err), RB_OK);
    cr_expect_eq(lp, lp8);
    cr_expect_eq(rb_zs_logprob(m, &ws, NULL, tok, 14, 0, 0, &lp, NULL, &err), RB_EINVAL);
    rb_workspace_free(&ws);
    rb_model_free(m);
}

Test(zeroshot, greedy_flag) {
    rb_model *m = rb_test_synth(16, 24, 1, 4, 2, 40, 3);
    rb_error err;
    rb_workspace ws;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 8, &err), RB_OK);
    /* build a greedy continuation token by token */
    int32_t tok[6] = {1, 7, 0, 0, 0, 0};
    for (int k = 2; k < 6; k++) {
        cr_assert_eq(rb_forward(m, &ws, tok, k, NULL, &err), RB_OK);
        const float *r = ws.logits + (size_t)(k - 1) * 40;
        int best = 0;
        for (int v = 1; v < 40; v++) best = r[v] > r[best] ? v : best;
        tok[k] = best;
    }
    double lp;
    int greedy = -1;
    cr_assert_eq(rb_zs_logprob(m, &ws, NULL, tok, 6, 4, 0, &lp, &greedy, &err), RB_OK);
    cr_expect_eq(greedy, 1);
    tok[5] = (tok[5] + 1) % 40;
    cr_assert_eq(rb_zs_logprob(m, &ws, NULL, tok, 6, 4, 0, &lp, &greedy, &err), RB_OK);
    cr_expect_eq(greedy, 0);
    rb_workspace_free(&ws);
    rb_model_free(m);
}

Test(zeroshot, argmax_and_stderr) {
    /* acc picks the higher sum; acc_norm the higher sum per byte */
    double lp[3] = {-10, -12, -30}, len[3] = {5, 20, 100};
    cr_expect_eq(rb_zs_argmax(lp, NULL, 3), 0);
    cr_expect_eq(rb_zs_argmax(lp, len, 3), 2); /* -2, -0.6, -0.3 */
    double tie[2] = {-1, -1};
    cr_expect_eq(rb_zs_argmax(tie, NULL, 2), 0);
    cr_expect(fabs(rb_zs_stderr(0.25, 5) - sqrt(0.25 * 0.75 / 4)) < 1e-15);
    cr_expect_eq(rb_zs_stderr(1.0, 1), 0.0);
}

Test(zeroshot, encode_splits_like_lm_eval) {
    rb_tokenizer *t = rb_test_tok512();
    rb_error err;
    const char *ctx = "Once upon a time, there was a girl. she", *cont = " liked the park.";
    int32_t *all, *c, *w;
    size_t n, nk, nc, nw;
    cr_assert_eq(rb_zs_encode(t, ctx, cont, &all, &n, &nk, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_encode(t, ctx, strlen(ctx), 1, 0, &c, &nc, &err), RB_OK);
    char whole[128];
    snprintf(whole, sizeof whole, "%s%s", ctx, cont);
    cr_assert_eq(rb_tokenizer_encode(t, whole, strlen(whole), 1, 0, &w, &nw, &err), RB_OK);
    cr_expect_eq(all[0], RB_TOKEN_BOS);
    cr_expect_eq(n, nw);
    cr_expect_eq(nk, nw - nc);
    cr_expect(nk >= 3);
    cr_expect_eq(memcmp(all, w, sizeof(int32_t) * n), 0);
    /* the continuation's first token carries its leading space */
    size_t pl;
    const char *piece = rb_tokenizer_piece(t, all[n - nk], &pl);
    cr_expect(pl >= 1 && piece[0] == ' ', "first continuation piece '%.*s'", (int)pl, piece);
    /* trailing whitespace of the context moves onto the continuation */
    int32_t *all2;
    size_t n2, nk2;
    cr_assert_eq(rb_zs_encode(t, "Once upon a time, there was a girl. she ", "liked the park.",
                              &all2, &n2, &nk2, &err), RB_OK);
    cr_expect_eq(n2, n);
    cr_expect_eq(nk2, nk);
    cr_expect_eq(memcmp(all, all2, sizeof(int32_t) * n), 0);
    free(all);
    free(all2);
    free(c);
    free(w);
    rb_tokenizer_free(t);
}

static void set_item(rb_zs_item *it, const char *ctx, int gold, int n, const char **ch) {
    it->context = strdup(ctx);
    it->gold = gold;
    it->n_choices = n;
    for (int i = 0; i < n; i++) it->choices[i] = strdup(ch[i]);
}

Test(zeroshot, acc_and_acc_norm_differ_with_lengths) {
    rb_tokenizer *t = rb_test_tok512();
    rb_model *m = rb_test_synth(16, 24, 2, 4, 2, 512, 11);
    rb_error err;
    rb_zs_task task = {.delimiter = " ", .n_items = 2};
    snprintf(task.name, sizeof task.name, "synthetic");
    task.items = calloc(2, sizeof *task.items);
    const char *ch[2] = {"a", "very long ending with many more tokens than the other one"};
    set_item(&task.items[0], "The story begins and", 1, 2, ch);
    set_item(&task.items[1], "Another story, where", 0, 2, ch);
    rb_workspace ws;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 128, &err), RB_OK);
    double per[2][RB_ZS_MAX_CHOICES];
    rb_zs_result r;
    cr_assert_eq(rb_zeroshot(m, &ws, NULL, t, &task, 0, 0, NULL, NULL, per, &r, &err), RB_OK, "%s",
                 err.msg);
    cr_expect_eq(r.n_items, 2);
    for (int i = 0; i < 2; i++) {
        /* each sum equals the direct float64 computation */
        for (int c = 0; c < 2; c++) {
            char cont[128];
            snprintf(cont, sizeof cont, " %s", ch[c]);
            int32_t *tk;
            size_t n, nk;
            cr_assert_eq(rb_zs_encode(t, task.items[i].context, cont, &tk, &n, &nk, &err), RB_OK);
            double ref = direct_logprob(m, tk, n, nk, 0);
            cr_expect(fabs(per[i][c] - ref) < 1e-5 * (1 + fabs(ref)), "item %d choice %d", i, c);
            free(tk);
        }
        /* a random model: the long ending has the lower sum but the higher sum per byte */
        cr_expect(per[i][0] > per[i][1], "item %d: %f %f", i, per[i][0], per[i][1]);
        cr_expect(per[i][0] / 1.0 < per[i][1] / (double)strlen(ch[1]));
    }
    /* item 1 gold = long (acc wrong, acc_norm right), item 2 gold = short */
    cr_expect_eq(r.acc, 0.5);
    cr_expect_eq(r.acc_norm, 0.5);
    task.items[1].gold = 1;
    cr_assert_eq(rb_zeroshot(m, &ws, NULL, t, &task, 0, 0, NULL, NULL, NULL, &r, &err), RB_OK);
    cr_expect_eq(r.acc, 0.0);
    cr_expect_eq(r.acc_norm, 1.0);
    cr_expect_eq(r.acc_stderr, 0.0);
    /* limit */
    cr_assert_eq(rb_zeroshot(m, &ws, NULL, t, &task, 1, 0, NULL, NULL, NULL, &r, &err), RB_OK);
    cr_expect_eq(r.n_items, 1);
    rb_workspace_free(&ws);
    rb_zs_task_free(&task);
    rb_model_free(m);
    rb_tokenizer_free(t);
}

static const char fixture[] =
    "Roof shingle removal: A man is sitting on a roof. he\n"
    "3\n"
    "is using wrap to wrap a pair of skis.\n"
    "is ripping level tiles off.\n"
    "is holding a rubik's cube.\n"
    "starts pulling up roofing on a roof.\n"
    "High jump: A boy is running down a track. the boy\n"
    "0\n"
    "runs into a car.\n"
    "gets in a mat.\n"
    "lifts his body above the height of a pole.\n"
    "stands on his hands and springs.\n";

Test(zeroshot, hellaswag_loader) {
    char path[512];
    rb_test_tmp_path("hs_ok.txt", path, sizeof path);
    cr_assert_eq(rb_test_write_file(path, fixture, strlen(fixture)), 0);
    rb_zs_task t;
    rb_error err;
    cr_assert_eq(rb_hellaswag_load(path, &t, &err), RB_OK, "%s", err.msg);
    cr_expect_eq(t.n_items, 2);
    cr_expect_str_eq(t.delimiter, " ");
    cr_expect_str_eq(t.items[0].context, "Roof shingle removal: A man is sitting on a roof. he");
    cr_expect_eq(t.items[0].gold, 3);
    cr_expect_eq(t.items[0].n_choices, 4);
    cr_expect_str_eq(t.items[0].choices[3], "starts pulling up roofing on a roof.");
    cr_expect_eq(t.items[1].gold, 0);
    cr_expect_str_eq(t.items[1].choices[2], "lifts his body above the height of a pole.");
    rb_zs_task_free(&t);
    /* no final newline is fine */
    cr_assert_eq(rb_test_write_file(path, fixture, strlen(fixture) - 1), 0);
    cr_assert_eq(rb_hellaswag_load(path, &t, &err), RB_OK, "%s", err.msg);
    cr_expect_eq(t.n_items, 2);
    rb_zs_task_free(&t);
    remove(path);
}

static void expect_broken(const char *name, const char *text, const char *where) {
    char path[512], want[600];
    rb_test_tmp_path(name, path, sizeof path);
    cr_assert_eq(rb_test_write_file(path, text, strlen(text)), 0);
    rb_zs_task t;
    rb_error err = {0};
    cr_expect_eq(rb_hellaswag_load(path, &t, &err), RB_EFORMAT, "%s", name);
    snprintf(want, sizeof want, "%s:%s", path, where);
    cr_expect(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", name, err.msg, want);
    remove(path);
}

Test(zeroshot, hellaswag_loader_errors) {
    char buf[2048];
    /* bad label in the second item (line 8) */
    snprintf(buf, sizeof buf, "%s", fixture);
    char *second = strstr(buf, "\n0\n");
    second[1] = '7';
    expect_broken("hs_label.txt", buf, "8:");
    snprintf(buf, sizeof buf, "%s", fixture);
    second = strstr(buf, "\n3\n");
    second[1] = 'x';
    expect_broken("hs_label2.txt", buf, "2:");
    /* wrong number of lines: the second item is cut after 3 of its 6 lines */
    size_t cut = (size_t)(strstr(fixture, "gets in a mat.") - fixture);
    snprintf(buf, sizeof buf, "%.*s", (int)cut, fixture);
    expect_broken("hs_short.txt", buf, "9:");
    /* an empty ending */
    snprintf(buf, sizeof buf, "%s", fixture);
    char *e = strstr(buf, "is ripping level tiles off.\n");
    memmove(e, e + strlen("is ripping level tiles off."), strlen(e) + 1 - strlen("is ripping level tiles off."));
    expect_broken("hs_empty.txt", buf, "4:");
    expect_broken("hs_nothing.txt", "", "");
}

Test(zeroshot, cli_limit_record) {
    rb_test_require_data("datasets/hellaswag/hellaswag_val_full.txt");
    rb_test_require_data("models/stories260K/stories260K.bin");
    const char *exe = getenv("ROTBENCH_EXE");
    cr_assert(exe, "ROTBENCH_EXE not set");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "ROTBENCH_DATA='%s' '%s' eval --task hellaswag --limit 5 --threads 1 --json 2>/dev/null",
             rb_test_data_dir(), exe);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s", out);
    json_object *o = json_tokener_parse(out);
    cr_assert(o, "not JSON: %s", out);
    json_object *v;
    cr_assert(json_object_object_get_ex(o, "n_items", &v));
    cr_expect_eq(json_object_get_int(v), 5);
    const char *keys[] = {"acc", "acc_norm", "acc_stderr", "acc_norm_stderr"};
    for (int i = 0; i < 4; i++) {
        cr_assert(json_object_object_get_ex(o, keys[i], &v), "%s missing", keys[i]);
        double x = json_object_get_double(v);
        cr_expect(x >= 0 && x <= 1, "%s = %f", keys[i], x);
    }
    cr_assert(json_object_object_get_ex(o, "task", &v));
    cr_expect_str_eq(json_object_get_string(v), "hellaswag");
    cr_assert(json_object_object_get_ex(o, "method", &v));
    json_object_put(o);
    /* --limit is refused for perplexity tasks */
    snprintf(cmd, sizeof cmd,
             "ROTBENCH_DATA='%s' '%s' eval --task tinystories --limit 5 >/dev/null 2>&1",
             rb_test_data_dir(), exe);
    cr_expect_neq(system(cmd), 0);
}

static rb_zs_task load_text(const char *task, const char *file, const char *text, int expect_rc,
                            const char *where) {
    char path[512], want[600];
    rb_test_tmp_path(file, path, sizeof path);
    cr_assert_eq(rb_test_write_file(path, text, strlen(text)), 0);
    rb_zs_task t = {0};
    rb_error err = {0};
    int rc = rb_zs_task_load(task, path, &t, &err);
    cr_expect_eq(rc, expect_rc, "%s: %s", file, err.msg);
    if (where) {
        snprintf(want, sizeof want, "%s:%s", path, where);
        cr_expect(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", file, err.msg,
                  want);
    }
    return t;
}

Test(zeroshot, jsonl_loaders) {
    /* PIQA: the labels file is found beside X.jsonl as X-labels.lst */
    char lpath[512];
    rb_test_tmp_path("pq-labels.lst", lpath, sizeof lpath);
    cr_assert_eq(rb_test_write_file(lpath, "1\n0\n", 4), 0);
    rb_zs_task t = load_text("piqa", "pq.jsonl",
                             "{\"goal\": \"Open a jar\", \"sol1\": \"twist the lid\", \"sol2\": "
                             "\"eat the lid\"}\n{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n",
                             RB_OK, NULL);
    cr_assert_eq(t.n_items, 2);
    cr_expect_str_eq(t.items[0].context, "Question: Open a jar\nAnswer:");
    cr_expect_str_eq(t.items[0].choices[1], "eat the lid");
    cr_expect_eq(t.items[0].gold, 1);
    cr_expect_eq(t.items[1].gold, 0);
    rb_zs_task_free(&t);
    cr_assert_eq(rb_test_write_file(lpath, "1\n2\n", 4), 0);
    t = load_text("piqa", "pq.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n"
                  "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\"}\n", RB_EFORMAT, NULL);
    remove(lpath);
    /* ARC (HF layout), answerKey by label */
    t = load_text("arc_easy", "arc.jsonl",
                  "{\"id\":\"x\",\"question\":\"Why?\",\"choices\":{\"text\":[\"a\",\"b\",\"c\"],"
                  "\"label\":[\"1\",\"2\",\"3\"]},\"answerKey\":\"3\"}\n",
                  RB_OK, NULL);
    cr_assert_eq(t.n_items, 1);
    cr_expect_str_eq(t.items[0].context, "Question: Why?\nAnswer:");
    cr_expect_eq(t.items[0].n_choices, 3);
    cr_expect_eq(t.items[0].gold, 2);
    rb_zs_task_free(&t);
    /* OpenBookQA (AI2 layout) */
    t = load_text("openbookqa", "obqa.jsonl",
                  "{\"id\": \"1\", \"question\": {\"stem\": \"Fog is near\", \"choices\": "
                  "[{\"text\": \"a marsh\", \"label\": \"A\"}, {\"text\": \"a desert\", \"label\": "
                  "\"B\"}]}, \"answerKey\": \"A\"}\n",
                  RB_OK, NULL);
    cr_assert_eq(t.n_items, 1);
    cr_expect_str_eq(t.items[0].context, "Fog is near");
    cr_expect_str_eq(t.items[0].choices[1], "a desert");
    cr_expect_eq(t.items[0].gold, 0);
    rb_zs_task_free(&t);
    /* BoolQ */
    t = load_text("boolq", "bq.jsonl",
                  "{\"question\": \"is it\", \"title\": \"T\", \"answer\": true, \"passage\": "
                  "\"It is.\"}\n",
                  RB_OK, NULL);
    cr_assert_eq(t.n_items, 1);
    cr_expect_str_eq(t.items[0].context, "It is.\nQuestion: is it?\nAnswer:");
    cr_expect_str_eq(t.items[0].choices[0], "no");
    cr_expect_eq(t.items[0].gold, 1);
    rb_zs_task_free(&t);
    /* errors name file:line */
    load_text("boolq", "bq_bad.jsonl",
              "{\"question\": \"q\", \"answer\": true, \"passage\": \"p\"}\n{\"question\": \"q\"\n",
              RB_EFORMAT, "2:");
    load_text("boolq", "bq_type.jsonl", "{\"question\": \"q\", \"answer\": 1, \"passage\": \"p\"}\n",
              RB_EFORMAT, "1:");
    load_text("arc_easy", "arc_key.jsonl",
              "\n{\"question\":\"q\",\"choices\":{\"text\":[\"a\",\"b\"],\"label\":[\"A\",\"B\"]},"
              "\"answerKey\":\"E\"}\n",
              RB_EFORMAT, "2:");
    rb_error err;
    cr_expect_eq(rb_zs_task_load("nope", "x", &t, &err), RB_EINVAL);
}

Test(zeroshot, winogrande_and_lambada) {
    rb_zs_task t = load_text("winogrande", "wg.jsonl",
                             "{\"qID\": \"q\", \"sentence\": \"Sarah beat Maria so _ got the prize.\", "
                             "\"option1\": \"Sarah\", \"option2\": \"Maria\", \"answer\": \"1\"}\n",
                             RB_OK, NULL);
    cr_assert_eq(t.n_items, 1);
    cr_expect_eq(t.kind, RB_ZS_PARTIAL);
    cr_expect_str_eq(t.items[0].choices[0], "Sarah beat Maria so Sarah");
    cr_expect_str_eq(t.items[0].choices[1], "Sarah beat Maria so Maria");
    cr_expect_str_eq(t.items[0].context, "got the prize.");
    cr_expect_eq(t.items[0].gold, 0);
    /* partial scoring: log p(" got the prize." | context_i) */
    rb_tokenizer *tk = rb_test_tok512();
    rb_model *m = rb_test_synth(16, 24, 2, 4, 2, 512, 5);
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 128, &err), RB_OK);
    double per[1][RB_ZS_MAX_CHOICES];
    rb_zs_result r;
    cr_assert_eq(rb_zeroshot(m, &ws, NULL, tk, &t, 0, 0, NULL, NULL, per, &r, &err), RB_OK, "%s",
                 err.msg);
    for (int c = 0; c < 2; c++) {
        int32_t *toks;
        size_t n, nk;
        cr_assert_eq(rb_zs_encode(tk, t.items[0].choices[c], " got the prize.", &toks, &n, &nk,
                                  &err), RB_OK);
        double ref = direct_logprob(m, toks, n, nk, 0);
        cr_expect(fabs(per[0][c] - ref) < 1e-5 * (1 + fabs(ref)));
        free(toks);
    }
    cr_expect_eq(r.acc, per[0][0] >= per[0][1] ? 1.0 : 0.0);
    cr_expect_eq(r.acc_norm, r.acc);
    rb_zs_task_free(&t);
    load_text("winogrande", "wg_bad.jsonl",
              "{\"sentence\": \"no blank\", \"option1\": \"a\", \"option2\": \"b\", \"answer\": \"1\"}\n",
              RB_EFORMAT, "1:");
    /* LAMBADA: target = " " + last word, greedy exact match, perplexity */
    t = load_text("lambada", "lb.jsonl", "{\"text\": \"the cat sat on the mat\"}\n", RB_OK, NULL);
    cr_assert_eq(t.n_items, 1);
    cr_expect_eq(t.kind, RB_ZS_GREEDY);
    cr_expect_str_eq(t.delimiter, "");
    cr_expect_str_eq(t.items[0].context, "the cat sat on the");
    cr_expect_str_eq(t.items[0].choices[0], " mat");
    cr_assert_eq(rb_zeroshot(m, &ws, NULL, tk, &t, 0, 0, NULL, NULL, per, &r, &err), RB_OK, "%s",
                 err.msg);
    int32_t *toks;
    size_t n, nk;
    cr_assert_eq(rb_zs_encode(tk, "the cat sat on the", " mat", &toks, &n, &nk, &err), RB_OK);
    double lp;
    int greedy;
    cr_assert_eq(rb_zs_logprob(m, &ws, NULL, toks, n, nk, 0, &lp, &greedy, &err), RB_OK);
    free(toks);
    cr_expect(fabs(per[0][0] - lp) < 1e-5 * (1 + fabs(lp)));
    cr_expect_eq(r.acc, (double)greedy);
    /* the perplexity of the scored item's own log-prob */
    cr_expect(fabs(r.ppl - exp(-per[0][0])) < 1e-9 * r.ppl);
    rb_zs_task_free(&t);
    load_text("lambada", "lb_bad.jsonl", "{\"text\": \"oneword\"}\n", RB_EFORMAT, "1:");
    rb_workspace_free(&ws);
    rb_model_free(m);
    rb_tokenizer_free(tk);
}

/* rb_test_expect_packed_equals_per_choice; and sharing the context forwards
 * fewer tokens than one window per choice (when no choice needs truncation,
 * which disables sharing). */
static void expect_packed_equals_reference(const rb_model *m, const rb_tokenizer *tk,
                                           const rb_zs_task *t, const rb_hooks *hooks,
                                           int pack_T, int max_len, int exact) {
    rb_zs_result r;
    size_t fwd;
    rb_test_expect_packed_equals_per_choice(m, tk, t, hooks, pack_T, max_len, exact, &r, &fwd);
    if (!exact && max_len >= 60) cr_expect_lt(r.n_forwarded, fwd);
}

Test(zeroshot, shared_context_packing_equals_per_choice_scoring) {
    rb_model *m = rb_test_synth(32, 48, 2, 4, 2, 512, 17);
    rb_tokenizer *tk = rb_test_tok512();
    char path[512];
    rb_test_tmp_path("hs_pack.txt", path, sizeof path);
    cr_assert_eq(rb_test_write_file(path, fixture, strlen(fixture)), 0);
    rb_zs_task t;
    rb_error err;
    cr_assert_eq(rb_hellaswag_load(path, &t, &err), RB_OK, "%s", err.msg);
    /* plain fp32: a pack holding both items; windows of 60 force truncation
     * (unshared segments) on the longer choices; a pack smaller than one
     * item's choices splits it across forwards */
    expect_packed_equals_reference(m, tk, &t, NULL, 512, 128, 0);
    expect_packed_equals_reference(m, tk, &t, NULL, 128, 60, 0);
    /* windows of 12: continuations longer than the window scored by their tail */
    expect_packed_equals_reference(m, tk, &t, NULL, 128, 12, 0);
    /* per-token dynamic quantizers pack; per-tensor dynamic ones are window
     * dependent and get one forward per choice: bit-identical */
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.a.bits = 4;
    q.a.gran = RB_GRAN_ROW;
    q.kv.bits = 4;
    q.kv.gran = RB_GRAN_ROW;
    q.a.clip = q.kv.clip = 1.0f;
    rb_hooks h;
    rb_quant_hooks(&q, &h);
    cr_expect_eq(h.window_dependent, 0);
    expect_packed_equals_reference(m, tk, &t, &h, 512, 128, 0);
    q.a.gran = RB_GRAN_TENSOR;
    rb_quant_hooks(&q, &h);
    cr_expect_eq(h.window_dependent, 1);
    expect_packed_equals_reference(m, tk, &t, &h, 512, 128, 1);
    rb_zs_task_free(&t);
    rb_tokenizer_free(tk);
    rb_model_free(m);
}

/* A model whose next-token distribution is a known bigram table: every layer
 * writes zero into the residual stream (wo = w2 = 0), the embedding of token
 * i is 100·e_i (so RMSNorm gives √dim·e_i up to 1e-8), and the classifier is
 * log P / √dim, so logits[t] = log P[tokens[t]] exactly up to rounding. */
Test(zeroshot, hand_computed_bigram_log_probs) {
    enum { V = 8 };
    rb_config c = {.dim = V, .hidden_dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1,
                   .vocab_size = V, .seq_len = 16, .head_dim = 4, .norm_eps = 1e-5f,
                   .rope_theta = 10000.0f};
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, 1, 3, &m, &err), RB_OK);
    cr_assert_eq(rb_model_untie_classifier(m, &err), RB_OK);
    memset(m->layers[0].wo, 0, sizeof(float) * V * V);
    memset(m->layers[0].w2, 0, sizeof(float) * V * 8);
    for (int i = 0; i < V; i++) m->final_norm[i] = 1.0f;
    /* P[i][j]: from token i, next is (i+1)%V with 1/2, (i+2)%V with 1/4,
     * the other six share 1/4 */
    for (int i = 0; i < V; i++)
        for (int j = 0; j < V; j++) {
            m->token_embedding[i * V + j] = i == j ? 100.0f : 0.0f;
            double p = j == (i + 1) % V ? 0.5 : j == (i + 2) % V ? 0.25 : 0.25 / 6;
            m->classifier[j * V + i] = (float)(log(p) / sqrt((double)V));
        }
    rb_workspace ws;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 16, &err), RB_OK);
    /* context 1 2, continuation 3 5 4: log(1/2) + log(1/4) + log(1/24) */
    int32_t a[5] = {1, 2, 3, 5, 4};
    double lp;
    int greedy;
    cr_assert_eq(rb_zs_logprob(m, &ws, NULL, a, 5, 3, 0, &lp, &greedy, &err), RB_OK);
    double want = log(0.5) + log(0.25) + log(0.25 / 6);
    cr_expect(fabs(lp - want) < 1e-5, "%.8f vs %.8f", lp, want);
    cr_expect_eq(greedy, 0); /* 5 after 3 is not the argmax (4 is) */
    int32_t b[4] = {1, 2, 3, 4};
    cr_assert_eq(rb_zs_logprob(m, &ws, NULL, b, 4, 2, 0, &lp, &greedy, &err), RB_OK);
    cr_expect(fabs(lp - 2 * log(0.5)) < 1e-5, "%.8f", lp);
    cr_expect_eq(greedy, 1);
    /* an item with these two continuations: acc picks b (-1.386 > -4.56);
     * per byte with lengths 1 and 8 acc_norm picks a (-0.570 > -1.386) */
    double sums[2] = {2 * log(0.5), want}, len[2] = {1, 8};
    cr_expect_eq(rb_zs_argmax(sums, NULL, 2), 0);
    cr_expect_eq(rb_zs_argmax(sums, len, 2), 1);
    rb_workspace_free(&ws);
    rb_model_free(m);
}

/* Loads `text` as task `name` and expects item 0's requests to be exactly
 * (ctx, conts[c]) and its gold index. */
static void expect_requests(const char *name, const char *file, const char *text,
                            const char *ctx, const char *const *conts, int n, int gold) {
    rb_zs_task t = load_text(name, file, text, RB_OK, NULL);
    cr_assert_geq(t.n_items, 1, "%s", name);
    cr_assert_eq(t.items[0].n_choices, n, "%s", name);
    for (int c = 0; c < n; c++) {
        const char *got_ctx;
        char *got_cont;
        rb_error err;
        cr_assert_eq(rb_zs_request(&t, &t.items[0], c, &got_ctx, &got_cont, &err), RB_OK);
        cr_expect_str_eq(got_ctx, t.kind == RB_ZS_PARTIAL ? conts[c] : ctx, "%s choice %d", name, c);
        cr_expect_str_eq(got_cont, t.kind == RB_ZS_PARTIAL ? ctx : conts[c], "%s choice %d", name,
                         c);
        free(got_cont);
    }
    cr_expect_eq(t.items[0].gold, gold, "%s", name);
    rb_zs_task_free(&t);
}

/* The (context, continuation) pairs lm-evaluation-harness 0.4 builds for one
 * item of each task, written out from its task configs: doc_to_text,
 * doc_to_choice, target_delimiter " " (lambada: loglikelihood with the
 * target " " + last word), winogrande's partial_context/partial_target. */
Test(zeroshot, prompts_are_the_lm_eval_strings) {
    char lpath[512];
    rb_test_tmp_path("piqa_req-labels.lst", lpath, sizeof lpath);
    cr_assert_eq(rb_test_write_file(lpath, "0\n", 2), 0);
    const char *piqa[] = {" Put bedding in the cage.", " Fill the cage with water."};
    expect_requests("piqa", "piqa_req.jsonl",
                    "{\"goal\": \"How do I ready a guinea pig cage for it's new occupants?\", "
                    "\"sol1\": \"Put bedding in the cage.\", \"sol2\": \"Fill the cage with "
                    "water.\"}\n",
                    "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:",
                    piqa, 2, 0);
    remove(lpath);
    /* ARC: the HF export and AI2's question.stem layout give the same requests */
    const char *arc[] = {" dry palms", " wet palms", " palms covered with oil",
                         " palms covered with lotion"};
    const char *arc_ctx = "Question: Which factor will most likely cause a person to develop a "
                          "fever?\nAnswer:";
    expect_requests("arc_easy", "arc_hf.jsonl",
                    "{\"id\": \"M\", \"question\": \"Which factor will most likely cause a person "
                    "to develop a fever?\", \"choices\": {\"text\": [\"dry palms\", \"wet palms\", "
                    "\"palms covered with oil\", \"palms covered with lotion\"], \"label\": [\"A\", "
                    "\"B\", \"C\", \"D\"]}, \"answerKey\": \"A\"}\n",
                    arc_ctx, arc, 4, 0);
    expect_requests("arc_challenge", "arc_ai2.jsonl",
                    "{\"id\": \"M\", \"question\": {\"stem\": \"Which factor will most likely "
                    "cause a person to develop a fever?\", \"choices\": [{\"text\": \"dry palms\", "
                    "\"label\": \"A\"}, {\"text\": \"wet palms\", \"label\": \"B\"}, {\"text\": "
                    "\"palms covered with oil\", \"label\": \"C\"}, {\"text\": \"palms covered "
                    "with lotion\", \"label\": \"D\"}]}, \"answerKey\": \"D\"}\n",
                    arc_ctx, arc, 4, 3);
    const char *obqa[] = {" sun", " moon", " stars", " clouds"};
    expect_requests("openbookqa", "obqa_req.jsonl",
                    "{\"id\": \"7-980\", \"question\": {\"stem\": \"The sun is responsible for\", "
                    "\"choices\": [{\"text\": \"sun\", \"label\": \"A\"}, {\"text\": \"moon\", "
                    "\"label\": \"B\"}, {\"text\": \"stars\", \"label\": \"C\"}, {\"text\": "
                    "\"clouds\", \"label\": \"D\"}]}, \"answerKey\": \"C\"}\n",
                    "The sun is responsible for", obqa, 4, 2);
    const char *boolq[] = {" no", " yes"};
    expect_requests("boolq", "boolq_req.jsonl",
                    "{\"question\": \"do iran and afghanistan speak the same language\", "
                    "\"title\": \"Persian language\", \"answer\": true, \"passage\": \"Persian is "
                    "a Western Iranian language.\"}\n",
                    "Persian is a Western Iranian language.\nQuestion: do iran and afghanistan "
                    "speak the same language?\nAnswer:",
                    boolq, 2, 1);
    /* partial scoring: the options fill the blank to form two contexts, the
     * text after the blank is the one continuation */
    const char *wino[] = {"Sarah was a much better surgeon than Maria so Sarah",
                          "Sarah was a much better surgeon than Maria so Maria"};
    expect_requests("winogrande", "wino_req.jsonl",
                    "{\"qID\": \"q\", \"sentence\": \"Sarah was a much better surgeon than Maria "
                    "so _ always got the harder cases.\", \"option1\": \"Sarah\", \"option2\": "
                    "\"Maria\", \"answer\": \"2\"}\n",
                    " always got the harder cases.", wino, 2, 1);
    const char *lambada[] = {" boat"};
    expect_requests("lambada", "lambada_req.jsonl",
                    "{\"text\": \"he rowed out to the middle of the lake in his boat\"}\n",
                    "he rowed out to the middle of the lake in his", lambada, 1, 0);
    /* hellaswag: the shared file is preprocessed; the endings get the delimiter */
    const char *hs[] = {" is using wrap to wrap a pair of skis.", " is ripping level tiles off.",
                        " is holding a rubik's cube.", " starts pulling up roofing on a roof."};
    char path[512];
    rb_test_tmp_path("hs_req.txt", path, sizeof path);
    cr_assert_eq(rb_test_write_file(path, fixture, strlen(fixture)), 0);
    rb_zs_task t;
    rb_error err;
    cr_assert_eq(rb_zs_task_load("hellaswag", path, &t, &err), RB_OK, "%s", err.msg);
    for (int c = 0; c < 4; c++) {
        const char *ctx;
        char *cont;
        cr_assert_eq(rb_zs_request(&t, &t.items[0], c, &ctx, &cont, &err), RB_OK);
        cr_expect_str_eq(ctx, "Roof shingle removal: A man is sitting on a roof. he");
        cr_expect_str_eq(cont, hs[c]);
        free(cont);
    }
    cr_expect_eq(t.items[0].gold, 3);
    rb_zs_task_free(&t);
}

/* LAMBADA's greedy match covers exactly the tokens of " " + last word. */
Test(zeroshot, lambada_scores_only_the_last_word_tokens) {
    rb_tokenizer *tk = rb_test_tok512();
    rb_error err;
    int32_t *toks;
    size_t n, nk;
    cr_assert_eq(rb_zs_encode(tk, "he rowed out to the middle of the lake in his", " boat", &toks,
                              &n, &nk, &err), RB_OK);
    char text[64] = "";
    for (size_t i = n - nk; i < n; i++) {
        size_t pl;
        const char *p = rb_tokenizer_piece(tk, toks[i], &pl);
        strncat(text, p, pl);
    }
    cr_expect_str_eq(text, " boat");
    free(toks);
    rb_tokenizer_free(tk);
}

/* Broken lines of every format are RB_EFORMAT naming file:line. */
Test(zeroshot, malformed_lines_name_file_and_line) {
    load_text("piqa", "pq_bad.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\"}\n", RB_EFORMAT, "1:");
    load_text("arc_easy", "arc_bad.jsonl",
              "{\"question\": \"q\", \"choices\": {\"text\": [\"a\", \"b\"], \"label\": [\"A\"]}, "
              "\"answerKey\": \"A\"}\n",
              RB_EFORMAT, "1:");
    load_text("arc_challenge", "arcc_bad.jsonl", "{\"question\": {\"stem\": \"q\"}}\n",
              RB_EFORMAT, "1:");
    load_text("openbookqa", "obqa_bad.jsonl",
              "{\"question\": {\"stem\": \"q\", \"choices\": []}, \"answerKey\": \"A\"}\n",
              RB_EFORMAT, "1:");
    load_text("boolq", "bq_bad2.jsonl", "[1, 2]\n", RB_EFORMAT, "1:");
    load_text("winogrande", "wg_bad2.jsonl",
              "{\"sentence\": \"a _ b\", \"option1\": \"x\", \"option2\": \"y\", \"answer\": \"3\"}\n",
              RB_EFORMAT, "1:");
    load_text("lambada", "lb_bad2.jsonl", "{\"text\": \"fine text\"}\n{\"text\": 5}\n",
              RB_EFORMAT, "2:");
}

/* A message from a task file load, and whether it says what (and where). */
static void expect_task_error(const char *task, const char *file, const char *text,
                              const char *where, const char *what) {
    char path[512], want[600];
    rb_test_tmp_path(file, path, sizeof path);
    cr_assert_eq(rb_test_write_file(path, text, strlen(text)), 0);
    rb_zs_task t = {0};
    rb_error err = {0};
    cr_expect_eq(rb_zs_task_load(task, path, &t, &err), RB_EFORMAT, "%s: %s", file, err.msg);
    snprintf(want, sizeof want, "%s:%s", path, where);
    cr_expect(strstr(err.msg, want), "%s: '%s' lacks '%s'", file, err.msg, want);
    cr_expect(strstr(err.msg, what), "%s: '%s' lacks '%s'", file, err.msg, what);
    cr_expect(!strstr(err.msg, "(continue)"), "json-c's state instead of the problem: %s",
              err.msg);
    rb_zs_task_free(&t);
}

/* Text after a line's JSON object, and a line that ends inside one, are
 * errors saying so (json-c stops at the end of the first value and calls a
 * truncated one "continue"). */
Test(zeroshot, trailing_text_and_truncated_lines_are_errors) {
#define BQ "{\"question\": \"q\", \"passage\": \"p\", \"answer\": true}"
    expect_task_error("boolq", "bq_trail.jsonl", BQ "\n" BQ " trailing words\n" BQ "\n", "2:",
                      "text after the JSON object");
    expect_task_error("boolq", "bq_two.jsonl", BQ "\n" BQ BQ "\n", "2:",
                      "text after the JSON object");
    expect_task_error("boolq", "bq_trunc.jsonl", BQ "\n{\"question\": \"q\", \"passa\n", "2:",
                      "truncated");
    expect_task_error("boolq", "bq_trunc_end.jsonl", BQ "\n" BQ "\n{\"question\": \"q\"", "3:",
                      "truncated");
    expect_task_error("lambada", "lb_trail.jsonl", "{\"text\": \"a b\"} x\n", "1:",
                      "text after the JSON object");
#undef BQ
    /* trailing blanks are fine */
    char path[512];
    rb_test_tmp_path("bq_blank.jsonl", path, sizeof path);
    const char *ok = "{\"question\": \"q\", \"passage\": \"p\", \"answer\": true}  \t\r\n";
    cr_assert_eq(rb_test_write_file(path, ok, strlen(ok)), 0);
    rb_zs_task t = {0};
    rb_error err = {0};
    cr_expect_eq(rb_zs_task_load("boolq", path, &t, &err), RB_OK, "%s", err.msg);
    rb_zs_task_free(&t);
}
