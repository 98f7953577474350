/* lm-eval's samples_<task>_<date>.jsonl lines (eval/lmeval_samples.h).
 * Layout from EleutherAI/lm-evaluation-harness at commit
 * 4e7e0d47f33bc71070c1d38394bafbb52b117163: lm_eval/evaluator.py (the
 * sample dict, its hashes), lm_eval/loggers/evaluation_tracker.py
 * (save_results_samples), lm_eval/utils.py (hash_string, sanitize_list). */
#include "eval/lmeval_samples.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/sha256.h"
#include "datasets/task_defs.h"
#include "eval/pyjson.h"

int rb_lmeval_samples_supported(const char *name) { return rb_task_def_find(name) != NULL; }

void rb_lmeval_samples_free(rb_lmeval_samples *s) {
    for (int i = 0; i < s->n; i++) free(s->task[i].jsonl);
    free(s->task);
    memset(s, 0, sizeof *s);
}

static void sha_hex(const char *text, size_t n, char hex[65]) { rb_sha256_hex(text, n, hex); }

/* [str(ll), str(is_greedy)] as sanitize_list writes a response tuple */
static json_object *resp(double ll, int greedy) {
    char num[32];
    json_object *a = json_object_new_array();
    json_object_array_add(a, json_object_new_string(rb_pyjson_float(ll, num)));
    json_object_array_add(a, json_object_new_string(greedy ? "True" : "False"));
    return a;
}

/* One sample, members in lm-eval's order; *hashes gets doc+prompt+target
 * hash.  NULL with why set when the doc does not parse. */
static json_object *sample(const rb_task_def *d, const rb_zs_task *task, size_t i,
                           const rb_zs_item_score *sc, char hashes[3 * 64 + 1], char *why,
                           size_t why_cap, rb_error *err, int *rc) {
    const rb_zs_item *it = &task->items[i];
    json_object *doc = json_tokener_parse(it->doc);
    if (!doc || !json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        snprintf(why, why_cap, "its doc is not a JSON object");
        *rc = RB_EFORMAT;
        return NULL;
    }
    /* target: str(doc_to_target(doc)) */
    char gold[16];
    snprintf(gold, sizeof gold, "%d", it->gold);
    const char *target = task->kind == RB_ZS_PARTIAL  ? it->context
                         : task->kind == RB_ZS_GREEDY ? it->choices[0]
                                                      : gold;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "doc_id", json_object_new_int64((int64_t)i));
    json_object_object_add(o, "doc", doc);
    json_object_object_add(o, "target", json_object_new_string(target));
    json_object *args = json_object_new_object(), *resps = json_object_new_array(),
                *filtered = json_object_new_array();
    char *prompt = NULL;
    for (int c = 0; c < it->n_choices && !*rc; c++) {
        const char *ctx;
        char *cont, key[32];
        if ((*rc = rb_zs_request(task, it, c, &ctx, &cont, err))) break;
        json_object *a = json_object_new_object();
        json_object_object_add(a, "arg_0", json_object_new_string(ctx));
        json_object_object_add(a, "arg_1", json_object_new_string(cont));
        snprintf(key, sizeof key, "gen_args_%d", c);
        json_object_object_add(args, key, a);
        free(cont);
        if (c == 0 && !(prompt = strdup(ctx))) *rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        json_object *r = json_object_new_array();
        json_object_array_add(r, resp(sc->logprob[c], sc->greedy[c]));
        json_object_array_add(resps, r);
        json_object_array_add(filtered, resp(sc->logprob[c], sc->greedy[c]));
    }
    json_object_object_add(o, "arguments", args);
    json_object_object_add(o, "resps", resps);
    json_object_object_add(o, "filtered_resps", filtered);
    json_object_object_add(o, "filter", json_object_new_string("none"));
    json_object *names = json_object_new_array();
    json_object_object_add(o, "metrics", names);
    rb_buf b = {0};
    rb_pyjson_dump(doc, 2, &b);
    if (!*rc && (b.oom || !prompt)) *rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    if (*rc) {
        rb_buf_free(&b);
        free(prompt);
        json_object_put(o);
        return NULL;
    }
    char h[65];
    sha_hex(b.s, b.len, h);
    rb_buf_free(&b);
    json_object_object_add(o, "doc_hash", json_object_new_string(h));
    memcpy(hashes, h, 64);
    sha_hex(prompt, strlen(prompt), h);
    free(prompt);
    json_object_object_add(o, "prompt_hash", json_object_new_string(h));
    memcpy(hashes + 64, h, 64);
    sha_hex(target, strlen(target), h);
    json_object_object_add(o, "target_hash", json_object_new_string(h));
    memcpy(hashes + 128, h, 64);
    hashes[192] = 0;
    /* the metrics: lm-eval's process_results for the task's output type */
    if (task->kind == RB_ZS_GREEDY) {
        json_object_array_add(names, json_object_new_string("perplexity"));
        json_object_array_add(names, json_object_new_string("acc"));
        json_object_object_add(o, "perplexity", json_object_new_double(sc->logprob[0]));
        json_object_object_add(o, "acc", json_object_new_int(sc->acc));
    } else {
        json_object_array_add(names, json_object_new_string("acc"));
        json_object_object_add(o, "acc", json_object_new_double(sc->acc ? 1.0 : 0.0));
        if (!d->lm_eval_acc_only) {
            json_object_array_add(names, json_object_new_string("acc_norm"));
            json_object_object_add(o, "acc_norm", json_object_new_double(sc->acc_norm ? 1.0 : 0.0));
        }
    }
    return o;
}

int rb_lmeval_samples_add(rb_lmeval_samples *s, const rb_zs_task *task,
                          const rb_zs_item_score *scores, size_t n, rb_error *err) {
    const rb_task_def *d = rb_task_def_find(task->name);
    if (!d)
        return rb_error_set(err, RB_EINVAL,
                            "%s: lm-eval samples are written for the zero-shot tasks of "
                            "datasets/task_defs.c only",
                            task->name);
    if (n > task->n_items) n = task->n_items;
    for (size_t i = 0; i < n; i++)
        if (!task->items[i].doc)
            return rb_error_set(err, RB_EINVAL, "%s item %zu: no doc (its loader kept none)",
                                task->name, i + 1);
    rb_lmeval_task_samples *grown = realloc(s->task, (size_t)(s->n + 1) * sizeof *grown);
    if (!grown) return rb_error_set(err, RB_ENOMEM, "out of memory");
    s->task = grown;
    rb_buf text = {0}, all = {0};
    int rc = RB_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        char hashes[3 * 64 + 1], why[96];
        json_object *o = sample(d, task, i, &scores[i], hashes, why, sizeof why, err, &rc);
        if (!o) {
            if (rc == RB_EFORMAT)
                rb_error_set(err, RB_EFORMAT, "%s item %zu: %s", task->name, i + 1, why);
            break;
        }
        rb_pyjson_dump(o, -1, &text);
        rb_buf_append(&text, "\n", 1);
        rb_buf_append(&all, hashes, 192);
        json_object_put(o);
    }
    if (!rc && (text.oom || all.oom)) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    if (rc) {
        rb_buf_free(&text);
        rb_buf_free(&all);
        return rc;
    }
    rb_lmeval_task_samples *t = &s->task[s->n];
    memset(t, 0, sizeof *t);
    snprintf(t->task, sizeof t->task, "%s", rb_task_lm_eval_name(task->name));
    sha_hex(all.s ? all.s : "", all.len, t->hash);
    rb_buf_free(&all);
    t->jsonl = rb_buf_take(&text);
    if (!t->jsonl) return rb_error_set(err, RB_ENOMEM, "out of memory");
    t->n = n;
    s->n++;
    return RB_OK;
}
