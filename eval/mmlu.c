/* MMLU over a selection of subjects (eval/mmlu.h). */
#include "eval/mmlu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "base/sha256.h"

/* Items done over the whole selection, for the caller's progress. */
typedef struct offset_progress {
    rb_progress_fn fn;
    void *ctx;
    size_t done, total;
    double seconds;
} offset_progress;

static void forward_progress(void *ctx, size_t done, size_t total, double seconds) {
    (void)total;
    offset_progress *o = ctx;
    o->fn(o->ctx, o->done + done, o->total, o->seconds + seconds);
}

/* sha256 of the files DIR/SPLIT/<subject>_SPLIT.csv of the selection. */
static int hash_split(const char *dir, const char *split, const unsigned char *sel, char hex[65],
                      rb_error *err) {
    rb_sha256 h;
    rb_sha256_init(&h);
    for (int i = 0; i < RB_MMLU_SUBJECTS; i++) {
        if (!sel[i]) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/%s_%s.csv", dir, split, rb_mmlu_subject(i), split);
        char *data = NULL;
        size_t len = 0;
        int rc = rb_read_file(path, 0, &data, &len, err);
        if (rc) return rc;
        rb_sha256_update(&h, data, len);
        free(data);
    }
    rb_sha256_final_hex(&h, hex);
    return RB_OK;
}

int rb_mmlu_eval(const rb_model *m, rb_workspace *ws, const rb_hooks *hooks,
                 const rb_tokenizer *tok, const char *dir, const unsigned char *sel, int k,
                 size_t limit, int max_len, rb_progress_fn progress, void *progress_ctx,
                 rb_mmlu_subject_fn on_subject, void *subject_ctx, rb_mmlu_result *out,
                 rb_error *err) {
    memset(out, 0, sizeof *out);
    memcpy(out->sel, sel, RB_MMLU_SUBJECTS);
    out->num_fewshot = k;
    if (k < 0) return rb_error_set(err, RB_EINVAL, "mmlu: --num-fewshot %d is negative", k);
    /* load every subject first: a malformed file fails before any scoring */
    rb_zs_task *tasks = calloc(RB_MMLU_SUBJECTS, sizeof *tasks);
    if (!tasks) return rb_error_set(err, RB_ENOMEM, "out of memory");
    int rc = RB_OK, n_sel = 0;
    offset_progress op = {progress, progress_ctx, 0, 0, 0};
    for (int i = 0; i < RB_MMLU_SUBJECTS && !rc; i++) {
        if (!sel[i]) continue;
        n_sel++;
        rc = rb_mmlu_load(dir, i, k, &tasks[i], err);
        if (!rc) op.total += limit && limit < tasks[i].n_items ? limit : tasks[i].n_items;
    }
    if (!rc && n_sel == 0) rc = rb_error_set(err, RB_EINVAL, "mmlu: no subject selected");
    if (!rc) rc = hash_split(dir, "test", sel, out->test_sha256, err);
    if (!rc && k > 0) rc = hash_split(dir, "dev", sel, out->dev_sha256, err);
    for (int i = 0; i < RB_MMLU_SUBJECTS && !rc; i++) {
        if (!sel[i]) continue;
        rc = rb_zeroshot(m, ws, hooks, tok, &tasks[i], limit, max_len,
                         progress ? forward_progress : NULL, &op, NULL, &out->subject[i], err);
        if (rc) {
            rb_error_prefix(err, "%s: ", tasks[i].name);
            break;
        }
        op.done += out->subject[i].n_items;
        op.seconds += out->subject[i].seconds;
        if (on_subject) on_subject(subject_ctx, tasks[i].name, &out->subject[i]);
    }
    for (int i = 0; i < RB_MMLU_SUBJECTS; i++) rb_zs_task_free(&tasks[i]);
    free(tasks);
    if (rc) return rc;
    rb_zs_result part[RB_MMLU_SUBJECTS];
    int n_all = 0;
    for (int g = 0; g < RB_MMLU_GROUPS; g++) {
        int n = 0;
        for (int i = 0; i < RB_MMLU_SUBJECTS; i++)
            if (sel[i] && rb_mmlu_subject_group(i) == (rb_mmlu_group)g) part[n++] = out->subject[i];
        out->group_subjects[g] = n;
        if (n) rb_zs_pool(part, n, &out->group[g]);
    }
    for (int i = 0; i < RB_MMLU_SUBJECTS; i++)
        if (sel[i]) part[n_all++] = out->subject[i];
    rb_zs_pool(part, n_all, &out->all);
    return RB_OK;
}
