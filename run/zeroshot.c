#include "run/zeroshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"
#include "datasets/registry.h"
#include "datasets/task_defs.h"
#include "datasets/tasks.h"
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
        if (!rb_data_find(t, RB_DATA_ZEROSHOT)) {
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
    return RB_OK;
}

static void add_d(json_object *o, const char *k, double v) {
    json_object_object_add(o, k, json_object_new_double(v));
}

int rb_run_zeroshot(const rb_run_model *cm, const rb_hooks *hooks, const rb_zs_list *list,
                    const char *data_dir, size_t limit, int ctx, const rb_run_report *report,
                    json_object *rec, rb_error *err) {
    const rb_log *log = rb_run_log(report);
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
        rb_zs_task task = {0};
        rc = rb_data_resolve(name, RB_DATA_ZEROSHOT, data_dir, path, sizeof path, err);
        if (!rc) rc = rb_sha256_file(path, one_sha, err);
        if (!rc) rc = rb_zs_task_load(name, path, &task, err);
        if (rc) break;
        char line[128];
        snprintf(line, sizeof line, "%s %s\n", name, one_sha);
        rb_sha256_update(&all, line, strlen(line));
        json_object_array_add(files, json_object_new_string(path));
        size_t n = limit && limit < task.n_items ? limit : task.n_items;
        rb_logf(log, "eval: %s (%s): %zu items%s", name, path, n, limit ? " (--limit)" : "");
        rb_run_progress progress = {report, name, "item"};
        rb_zs_result r = {0};
        rc = rb_zeroshot(cm->model, &ws, hooks, cm->tokenizer, &task, limit, ctx, rb_run_progress_fn,
                         &progress, NULL, &r, err);
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
        if (r.n_cont_truncated)
            rb_logf(log, "eval: warning: %s: %zu choices have continuations longer than the "
                    "%d-token window and were scored by their last %d tokens", name,
                    r.n_cont_truncated, ctx, ctx);
        json_object *t = json_object_new_object();
        json_object_object_add(t, "n_items", json_object_new_int64((int64_t)r.n_items));
        add_d(t, "acc", r.acc);
        add_d(t, "acc_stderr", r.acc_stderr);
        add_d(t, "acc_norm", r.acc_norm);
        add_d(t, "acc_norm_stderr", r.acc_norm_stderr);
        if (greedy) add_d(t, "ppl", r.ppl);
        json_object_object_add(t, "n_cont_truncated",
                               json_object_new_int64((int64_t)r.n_cont_truncated));
        add_d(t, "seconds", r.seconds);
        add_d(t, "items_per_second", ips);
        json_object_object_add(t, "data_sha256", json_object_new_string(one_sha));
        json_object_object_add(tasks, name, t);
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
