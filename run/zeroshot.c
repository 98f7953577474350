#include "run/zeroshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"
#include "datasets/registry.h"
#include "datasets/task_defs.h"
#include "datasets/tasks.h"
#include "eval/lmeval_samples.h"
#include "eval/mmlu.h"
#include "eval/zeroshot.h"

int rb_run_zs_parse(const char *text, rb_zs_list *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    char buf[512], suite[512] = "", names[256];
    if (strcmp(text, "zeroshot") == 0) {
        const char *tasks[RB_ZS_MAX_TASKS];
        int n = rb_task_suite(tasks, RB_ZS_MAX_TASKS);
        for (int i = 0; i < n; i++)
            snprintf(suite + strlen(suite), sizeof suite - strlen(suite), "%s%s", i ? "," : "",
                     tasks[i]);
        text = suite;
    }
    if (strlen(text) >= sizeof buf) return rb_error_set(err, RB_EINVAL, "--task list too long");
    snprintf(buf, sizeof buf, "%s", text);
    int others = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned char mmlu_sel[RB_MMLU_SUBJECTS];
        if (!rb_data_find(t, RB_DATA_ZEROSHOT) && !rb_mmlu_select(t, mmlu_sel)) {
            others++;
            continue;
        }
        for (int i = 0; i < out->n; i++)
            if (strcmp(out->names[i], t) == 0)
                return rb_error_set(err, RB_EINVAL, "--task names %s twice", t);
        if (out->n == RB_ZS_MAX_TASKS)
            return rb_error_set(err, RB_EINVAL, "--task names more than %d tasks",
                                RB_ZS_MAX_TASKS);
        snprintf(out->names[out->n++], sizeof out->names[0], "%s", t);
    }
    if (out->n && others)
        return rb_error_set(err, RB_EINVAL,
                            "--task %s mixes zero-shot tasks (%s) with other names: run "
                            "perplexity and zero-shot separately",
                            text, rb_zs_task_names(names, sizeof names));
    unsigned char sel[RB_MMLU_SUBJECTS], seen[RB_MMLU_SUBJECTS] = {0};
    for (int i = 0; i < out->n; i++)
        if (rb_mmlu_select(out->names[i], sel))
            for (int s = 0; s < RB_MMLU_SUBJECTS; s++)
                if (sel[s] && seen[s]++)
                    return rb_error_set(err, RB_EINVAL,
                                        "--task %s scores mmlu_%s twice (give mmlu, or groups and "
                                        "subjects that do not overlap)",
                                        text, rb_mmlu_subject(s));
    return RB_OK;
}

static void add_d(json_object *o, const char *k, double v) {
    json_object_object_add(o, k, json_object_new_double(v));
}

static void add_i(json_object *o, const char *k, size_t v) {
    json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* One task's entry of "tasks". */
static json_object *result_json(const rb_zs_result *r, int greedy) {
    json_object *t = json_object_new_object();
    add_i(t, "n_items", r->n_items);
    add_d(t, "acc", r->acc);
    add_d(t, "acc_stderr", r->acc_stderr);
    add_d(t, "acc_norm", r->acc_norm);
    add_d(t, "acc_norm_stderr", r->acc_norm_stderr);
    if (greedy) add_d(t, "ppl", r->ppl);
    add_i(t, "n_cont_truncated", r->n_cont_truncated);
    add_i(t, "n_ctx_truncated", r->n_ctx_truncated);
    add_d(t, "seconds", r->seconds);
    add_d(t, "items_per_second", (double)r->n_items / r->seconds);
    return t;
}

/* rb_mmlu_eval's per-subject callback: ctx is the run's rb_log. */
static void log_subject(void *ctx, const char *name, const rb_zs_result *r) {
    rb_logf((const rb_log *)ctx, "eval: %s acc %.4f ± %.4f, %zu items (%zu left-truncated) in %.2f s",
            name, r->acc, r->acc_stderr, r->n_items, r->n_ctx_truncated, r->seconds);
}

/* Scores MMLU selection `name` into *r and its entries into tasks. */
static int run_mmlu(const rb_run_model *cm, rb_workspace *ws, const rb_hooks *hooks,
                    const rb_run_report *report, const char *name, const char *data_dir, size_t limit, int ctx, int k,
                    json_object *tasks, rb_zs_result *r, char *dir, size_t dir_cap,
                    char sha[65], rb_error *err) {
    unsigned char sel[RB_MMLU_SUBJECTS];
    int n = rb_mmlu_select(name, sel);
    int rc = rb_data_dir(data_dir, dir, dir_cap, err);
    if (rc) return rc;
    size_t used = strlen(dir);
    snprintf(dir + used, dir_cap - used, "/%s", RB_MMLU_DIR);
    const rb_log *log = rb_run_log(report);
    rb_logf(log, "eval: %s (%s): %d subject%s, %d-shot%s", name, dir, n, n > 1 ? "s" : "", k,
            limit ? ", --limit items per subject" : "");
    rb_run_progress progress = {report, name, "item"};
    rb_mmlu_result *res = malloc(sizeof *res);
    if (!res) return rb_error_set(err, RB_ENOMEM, "out of memory");
    rc = rb_mmlu_eval(cm->model, ws, hooks, cm->tokenizer, dir, sel, k, limit, ctx,
                      rb_run_progress_fn, &progress, log_subject, (void *)log, res, err);
    if (!rc) {
        for (int i = 0; i < RB_MMLU_SUBJECTS; i++) {
            char key[80];
            snprintf(key, sizeof key, "mmlu_%s", rb_mmlu_subject(i));
            if (res->sel[i] && strcmp(key, name) != 0)
                json_object_object_add(tasks, key, result_json(&res->subject[i], 0));
        }
        for (int g = 0; g < RB_MMLU_GROUPS; g++) {
            char key[80];
            snprintf(key, sizeof key, "mmlu_%s", rb_mmlu_group_name((rb_mmlu_group)g));
            if (!res->group_subjects[g] || strcmp(key, name) == 0) continue;
            json_object *t = result_json(&res->group[g], 0);
            json_object_object_add(t, "n_subjects", json_object_new_int(res->group_subjects[g]));
            json_object_object_add(tasks, key, t);
            rb_logf(log, "eval: %s acc %.4f ± %.4f (%zu items)", key, res->group[g].acc,
                    res->group[g].acc_stderr, res->group[g].n_items);
        }
        json_object *t = result_json(&res->all, 0);
        json_object_object_add(t, "n_subjects", json_object_new_int(n));
        json_object_object_add(t, "num_fewshot", json_object_new_int(k));
        json_object_object_add(t, "data_sha256", json_object_new_string(res->test_sha256));
        if (k > 0)
            json_object_object_add(t, "fewshot_sha256", json_object_new_string(res->dev_sha256));
        json_object_object_add(tasks, name, t);
        *r = res->all;
        snprintf(sha, 65, "%s", res->test_sha256);
    }
    free(res);
    return rc;
}

int rb_run_zs_samples_check(const rb_zs_list *list, rb_error *err) {
    if (!list->n)
        return rb_error_set(err, RB_EINVAL,
                            "--log-samples writes lm-eval's per-sample output for zero-shot "
                            "tasks only: a perplexity corpus has none in rotbench (lm-eval's "
                            "loglikelihood_rolling samples are one per document; rotbench "
                            "scores fixed windows of the joined text)");
    for (int i = 0; i < list->n; i++)
        if (!rb_lmeval_samples_supported(list->names[i]))
            return rb_error_set(err, RB_EINVAL,
                                "--log-samples does not cover %s (MMLU samples are not written "
                                "yet); run MMLU without --log-samples",
                                list->names[i]);
    return RB_OK;
}

int rb_run_zeroshot(const rb_run_model *cm, const rb_hooks *hooks, const rb_zs_list *list,
                    const char *data_dir, size_t limit, int ctx, int num_fewshot,
                    const rb_run_report *report, rb_lmeval_samples *samples, json_object *rec,
                    rb_error *err) {
    const rb_log *log = rb_run_log(report);
    unsigned char sel[RB_MMLU_SUBJECTS];
    if (samples && rb_run_zs_samples_check(list, err)) return RB_EINVAL;
    for (int i = 0; i < list->n; i++)
        if (num_fewshot > 0 && !rb_mmlu_select(list->names[i], sel))
            return rb_error_set(err, RB_EINVAL,
                                "--num-fewshot %d: %s has no few-shot split in its data "
                                "directory (only the mmlu tasks do: mmlu/dev); use 0 for it",
                                num_fewshot, list->names[i]);
    /* zero-shot packs many items' windows into one forward of up to
     * PACK_TOKENS tokens (eval/zeroshot.h); each window stays ≤ ctx */
    enum { PACK_TOKENS = 2048 };
    rb_workspace ws;
    int rc = rb_workspace_init(&ws, &cm->model->cfg, ctx < PACK_TOKENS ? PACK_TOKENS : ctx, err);
    if (rc) return rc;
    json_object *tasks = json_object_new_object(), *files = json_object_new_array();
    rb_sha256 all;
    rb_sha256_init(&all);
    char one_sha[65] = "", path[1024] = "";
    double sum_acc = 0, sum_norm = 0, var_acc = 0, var_norm = 0, seconds = 0;
    size_t items = 0, tokens = 0;
    for (int i = 0; i < list->n && !rc; i++) {
        const char *name = list->names[i];
        rb_zs_result r = {0};
        char line[160];
        if (rb_mmlu_select(name, sel)) {
            rc = run_mmlu(cm, &ws, hooks, report, name, data_dir, limit, ctx, num_fewshot, tasks,
                          &r, path, sizeof path, one_sha, err);
            if (rc) break;
            snprintf(line, sizeof line, "%s %s\n", name, one_sha);
            rb_sha256_update(&all, line, strlen(line));
            json_object_array_add(files, json_object_new_string(path));
            rb_logf(log, "eval: %s acc %.4f ± %.4f, %zu items in %.2f s, %.1f items/s", name,
                    r.acc, r.acc_stderr, r.n_items, r.seconds, (double)r.n_items / r.seconds);
            if (r.n_ctx_truncated)
                rb_logf(log, "eval: warning: %s: %zu prompts longer than the %d-token window "
                        "were left-truncated", name, r.n_ctx_truncated, ctx);
        } else {
            rb_zs_task task = {0};
            rc = rb_data_resolve(name, RB_DATA_ZEROSHOT, data_dir, path, sizeof path, err);
            if (!rc) rc = rb_sha256_file(path, one_sha, err);
            if (!rc) rc = rb_zs_task_load(name, path, &task, err);
            if (rc) break;
            snprintf(line, sizeof line, "%s %s\n", name, one_sha);
            rb_sha256_update(&all, line, strlen(line));
            json_object_array_add(files, json_object_new_string(path));
            size_t n = limit && limit < task.n_items ? limit : task.n_items;
            rb_logf(log, "eval: %s (%s): %zu items%s", name, path, n, limit ? " (--limit)" : "");
            rb_run_progress progress = {report, name, "item"};
            rb_zs_item_score *scores = samples ? calloc(n, sizeof *scores) : NULL;
            rc = samples && !scores ? rb_error_set(err, RB_ENOMEM, "out of memory")
                                    : rb_zeroshot_items(cm->model, &ws, hooks, cm->tokenizer,
                                                        &task, limit, ctx, rb_run_progress_fn,
                                                        &progress, scores, &r, err);
            if (!rc && samples) rc = rb_lmeval_samples_add(samples, &task, scores, n, err);
            free(scores);
            int greedy = task.kind == RB_ZS_GREEDY;
            rb_zs_task_free(&task);
            if (rc) {
                rb_error_prefix(err, "%s: ", name);
                break;
            }
            double ips = (double)r.n_items / r.seconds;
            if (greedy)
                rb_logf(log, "eval: %s acc %.4f ± %.4f (greedy match), ppl %.4f, %zu items in "
                        "%.2f s, %.1f items/s", name, r.acc, r.acc_stderr, r.ppl, r.n_items,
                        r.seconds, ips);
            else
                rb_logf(log, "eval: %s acc %.4f ± %.4f, acc_norm %.4f ± %.4f, %zu items in %.2f "
                        "s, %.1f items/s", name, r.acc, r.acc_stderr, r.acc_norm,
                        r.acc_norm_stderr, r.n_items, r.seconds, ips);
            if (r.n_ctx_truncated)
                rb_logf(log, "eval: warning: %s: %zu items longer than the %d-token window were "
                        "left-truncated", name, r.n_ctx_truncated, ctx);
            if (r.n_cont_truncated)
                rb_logf(log, "eval: warning: %s: %zu choices have continuations longer than the "
                        "%d-token window and were scored by their last %d tokens", name,
                        r.n_cont_truncated, ctx, ctx);
            json_object *t = result_json(&r, greedy);
            json_object_object_add(t, "data_sha256", json_object_new_string(one_sha));
            json_object_object_add(tasks, name, t);
        }
        sum_acc += r.acc;
        sum_norm += r.acc_norm;
        var_acc += r.acc_stderr * r.acc_stderr;
        var_norm += r.acc_norm_stderr * r.acc_norm_stderr;
        items += r.n_items;
        tokens += r.n_forwarded;
        seconds += r.seconds;
    }
    rb_workspace_free(&ws);
    if (rc) {
        json_object_put(tasks);
        json_object_put(files);
        return rc;
    }
    int k = list->n;
    if (k == 1) {
        json_object_object_add(rec, "data", json_object_new_string(path));
        json_object_object_add(rec, "data_sha256", json_object_new_string(one_sha));
        json_object_put(files);
    } else {
        char hex[65];
        rb_sha256_final_hex(&all, hex);
        json_object_object_add(rec, "data", files);
        json_object_object_add(rec, "data_sha256", json_object_new_string(hex));
    }
    json_object_object_add(rec, "num_fewshot", json_object_new_int(num_fewshot));
    json_object_object_add(rec, "tasks", tasks);
    json_object_object_add(rec, "n_items", json_object_new_int64((int64_t)items));
    add_d(rec, "acc", sum_acc / k);
    add_d(rec, "acc_stderr", sqrt(var_acc) / k);
    add_d(rec, "acc_norm", sum_norm / k);
    add_d(rec, "acc_norm_stderr", sqrt(var_norm) / k);
    json_object_object_add(rec, "n_tokens", json_object_new_int64((int64_t)tokens));
    add_d(rec, "seconds", seconds);
    add_d(rec, "items_per_second", (double)items / seconds);
    add_d(rec, "tokens_per_second", (double)tokens / seconds);
    if (k > 1)
        rb_logf(log, "eval: average of %d tasks: acc %.4f ± %.4f, acc_norm %.4f ± %.4f, %zu "
                "items in %.2f s, %.1f items/s", k, sum_acc / k, sqrt(var_acc) / k,
                sum_norm / k, sqrt(var_norm) / k, items, seconds, (double)items / seconds);
    return RB_OK;
}
