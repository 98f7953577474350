/* lm-evaluation-harness 0.4 results from rotbench records (eval/lmeval.h). */
#include "eval/lmeval.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "datasets/task_defs.h"
#include "eval/records.h"
#include "eval/table.h" /* rb_write_text_file */

/* Bytes of the white-space character at s (Python's str \s), 0 when none. */
static size_t space_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)) return 1;
    if (n >= 2 && c == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n >= 3 && c == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;          /* U+1680 */
    if (n >= 3 && c == 0xe2 && s[1] == 0x80 &&
        (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3;                                                             /* U+2000.. */
    if (n >= 3 && c == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3;          /* U+205F */
    if (n >= 3 && c == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3;          /* U+3000 */
    return 0;
}

size_t rb_lmeval_count_words(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t pieces = 1, i = 0;
    while (i < len) {
        size_t k = space_len(s + i, len - i);
        if (!k) {
            i++;
            continue;
        }
        pieces++; /* a run of white space separates two pieces */
        while (i < len && (k = space_len(s + i, len - i))) i += k;
    }
    return pieces;
}

static void add_num(json_object *o, const char *k, double v) {
    json_object_object_add(o, k, isfinite(v) ? json_object_new_double(v) : NULL);
}

static void add_na(json_object *o, const char *k) {
    json_object_object_add(o, k, json_object_new_string("N/A"));
}

/* "metric,none" and "metric_stderr,none" (stderr NAN: "N/A") */
static void add_metric(json_object *res, json_object *hib, json_object *mlist, const char *metric,
                       double v, double se, int higher) {
    char k[128];
    snprintf(k, sizeof k, "%s,none", metric);
    add_num(res, k, v);
    snprintf(k, sizeof k, "%s_stderr,none", metric);
    if (isnan(se))
        add_na(res, k);
    else
        add_num(res, k, se);
    json_object_object_add(hib, metric, json_object_new_boolean(higher));
    json_object *m = json_object_new_object();
    json_object_object_add(m, "metric", json_object_new_string(metric));
    json_object_object_add(m, "aggregation",
                           json_object_new_string(!strcmp(metric, "word_perplexity") ||
                                                          !strcmp(metric, "byte_perplexity")
                                                      ? "weighted_perplexity"
                                                  : !strcmp(metric, "bits_per_byte")
                                                      ? "bits_per_byte"
                                                  : strstr(metric, "perplexity") ? "perplexity"
                                                                                 : "mean"));
    json_object_object_add(m, "higher_is_better", json_object_new_boolean(higher));
    json_object_array_add(mlist, m);
}

typedef struct out_parts {
    json_object *results, *versions, *nshot, *hib, *nsamples, *configs;
} out_parts;

static double num_or_nan(json_object *o, const char *path) {
    double v;
    return rb_record_number(o, path, &v) == 0 ? v : NAN;
}

static void add_task(out_parts *p, const char *name, const char *output_type, int fewshot,
                     size_t n, json_object **res, json_object **hib, json_object **mlist) {
    *res = json_object_new_object();
    json_object_object_add(*res, "alias", json_object_new_string(name));
    json_object_object_add(*res, "name", json_object_new_string(name));
    json_object_object_add(*res, "sample_len", json_object_new_int64((int64_t)n));
    json_object_object_add(p->results, name, *res);
    json_object_object_add(p->versions, name, json_object_new_double(1.0));
    json_object_object_add(p->nshot, name, json_object_new_int(fewshot));
    *hib = json_object_new_object();
    json_object_object_add(p->hib, name, *hib);
    json_object *ns = json_object_new_object();
    json_object_object_add(ns, "original", json_object_new_int64((int64_t)n));
    json_object_object_add(ns, "effective", json_object_new_int64((int64_t)n));
    json_object_object_add(p->nsamples, name, ns);
    json_object *cfg = json_object_new_object();
    json_object_object_add(cfg, "task", json_object_new_string(name));
    json_object_object_add(cfg, "output_type", json_object_new_string(output_type));
    json_object_object_add(cfg, "num_fewshot", json_object_new_int(fewshot));
    *mlist = json_object_new_array();
    json_object_object_add(cfg, "metric_list", *mlist);
    json_object *md = json_object_new_object();
    json_object_object_add(md, "version", json_object_new_double(1.0));
    json_object_object_add(cfg, "metadata", md);
    json_object_object_add(p->configs, name, cfg);
}

int rb_lmeval_results(json_object *record, json_object **out, rb_error *err) {
    *out = NULL;
    out_parts p = {json_object_new_object(), json_object_new_object(), json_object_new_object(),
                   json_object_new_object(), json_object_new_object(), json_object_new_object()};
    json_object *tasks = NULL, *res, *hib, *mlist;
    json_object_object_get_ex(record, "tasks", &tasks);
    double fewshot_d = num_or_nan(record, "num_fewshot");
    int fewshot = isfinite(fewshot_d) ? (int)fewshot_d : 0;
    int n_tasks = 0;
    if (tasks && json_object_is_type(tasks, json_type_object)) {
        json_object_object_foreach(tasks, name, t) {
            double n = num_or_nan(t, "n_items"), ppl = num_or_nan(t, "ppl");
            int mmlu = !strncmp(name, "mmlu", 4);
            const char *lname = rb_task_lm_eval_name(name);
            const rb_task_def *def = rb_task_def_find(name);
            if (!isfinite(n)) continue;
            add_task(&p, lname, isfinite(ppl) ? "loglikelihood" : "multiple_choice",
                     mmlu ? fewshot : 0, (size_t)n, &res, &hib, &mlist);
            add_metric(res, hib, mlist, "acc", num_or_nan(t, "acc"), num_or_nan(t, "acc_stderr"),
                       1);
            if (isfinite(ppl)) {
                add_metric(res, hib, mlist, "perplexity", ppl, NAN, 0);
            } else if (!mmlu && !(def && def->lm_eval_acc_only)) {
                add_metric(res, hib, mlist, "acc_norm", num_or_nan(t, "acc_norm"),
                           num_or_nan(t, "acc_norm_stderr"), 1);
            }
            n_tasks++;
        }
    } else {
        double nll = num_or_nan(record, "nll"), ntok = num_or_nan(record, "n_tokens");
        double words = num_or_nan(record, "n_words"), bytes = num_or_nan(record, "n_bytes");
        double ppl = num_or_nan(record, "ppl");
        json_object *tv = NULL;
        json_object_object_get_ex(record, "task", &tv);
        const char *name = tv ? json_object_get_string(tv) : NULL;
        if (name && isfinite(nll) && ntok > 0 && words > 0 && bytes > 0) {
            double nll_sum = nll * ntok; /* -LL */
            add_task(&p, name, "loglikelihood_rolling", 0, 1, &res, &hib, &mlist);
            add_metric(res, hib, mlist, "word_perplexity", exp(nll_sum / words), NAN, 0);
            add_metric(res, hib, mlist, "byte_perplexity", exp(nll_sum / bytes), NAN, 0);
            add_metric(res, hib, mlist, "bits_per_byte", nll_sum / bytes / log(2.0), NAN, 0);
            add_metric(res, hib, mlist, "token_perplexity", ppl, NAN, 0);
            n_tasks++;
        }
    }
    if (!n_tasks) {
        json_object_put(p.results);
        json_object_put(p.versions);
        json_object_put(p.nshot);
        json_object_put(p.hib);
        json_object_put(p.nsamples);
        json_object_put(p.configs);
        return rb_error_set(err, RB_EINVAL,
                            "record has neither zero-shot tasks nor a perplexity with n_words "
                            "and n_bytes");
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "results", p.results);
    json_object_object_add(o, "groups", json_object_new_object());
    json_object_object_add(o, "configs", p.configs);
    json_object_object_add(o, "versions", p.versions);
    json_object_object_add(o, "n-shot", p.nshot);
    json_object_object_add(o, "higher_is_better", p.hib);
    json_object_object_add(o, "n-samples", p.nsamples);
    json_object_object_add(o, "task_hashes", json_object_new_object()); /* rb_lmeval_write */
    json_object *cfg = json_object_new_object();
    json_object *m = NULL, *sha = NULL, *meth = NULL, *pipe = NULL, *seed = NULL;
    json_object_object_get_ex(record, "model", &m);
    json_object_object_get_ex(record, "model_sha256", &sha);
    if (json_object_object_get_ex(record, "method", &meth)) {
        json_object_object_get_ex(meth, "pipeline", &pipe);
        json_object_object_get_ex(meth, "seed", &seed);
    }
    char args[2048];
    snprintf(args, sizeof args, "model=%s,pipeline=%s", m ? json_object_get_string(m) : "",
             pipe ? json_object_get_string(pipe) : "");
    json_object_object_add(cfg, "model", json_object_new_string("rotbench"));
    json_object_object_add(cfg, "model_args", json_object_new_string(args));
    json_object_object_add(cfg, "model_sha", sha ? json_object_get(sha) : NULL);
    json_object_object_add(cfg, "model_sha256", sha ? json_object_get(sha) : NULL);
    json_object_object_add(cfg, "batch_size", json_object_new_int(1));
    json_object_object_add(cfg, "device", json_object_new_string("cpu"));
    json_object_object_add(cfg, "bootstrap_iters", json_object_new_int(0));
    json_object_object_add(cfg, "random_seed", seed ? json_object_get(seed) : NULL);
    json_object_object_add(o, "config", cfg);
    json_object_object_add(o, "rotbench_record", json_object_get(record));
    *out = o;
    return RB_OK;
}

int rb_lmeval_write(json_object *record, const rb_lmeval_samples *samples, const char *dir,
                    char *path, size_t cap, rb_error *err) {
    json_object *o;
    int rc = rb_lmeval_results(record, &o, err);
    if (rc) return rc;
    rb_json_null_nonfinite(o);
    json_object *hashes = json_object_object_get(o, "task_hashes");
    for (int i = 0; samples && i < samples->n; i++)
        json_object_object_add(hashes, samples->task[i].task,
                               json_object_new_string(samples->task[i].hash));
    /* lm-eval's date id: datetime.now().isoformat() with ':' as '-' (UTC here) */
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char date[64], id[80];
    strftime(date, sizeof date, "%Y-%m-%dT%H-%M-%S", &tm);
    snprintf(id, sizeof id, "%s.%06ld", date, (long)tv.tv_usec);
    snprintf(path, cap, "%s/results_%s.json", dir, id);
    rc = rb_write_text_file(path,
                            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE),
                            err);
    json_object_put(o);
    /* save_results_samples: DIR/samples_<task>_<the same date id>.jsonl */
    for (int i = 0; !rc && samples && i < samples->n; i++) {
        char spath[4200];
        snprintf(spath, sizeof spath, "%s/samples_%s_%s.jsonl", dir, samples->task[i].task, id);
        rc = rb_write_text_file(spath, samples->task[i].jsonl, err);
    }
    return rc;
}
