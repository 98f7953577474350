#include "app/cli.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "datasets/registry.h"
#include "kernels/linear.h"

int rb_cli_load(const char *model, const char *tokenizer, const char *data_dir,
                int want_tokenizer, int want_hashes, rb_cli_model *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    if (!model) model = RB_DEFAULT_MODEL;
    int rc = rb_data_resolve(model, RB_DATA_MODEL, data_dir, out->model_path,
                             sizeof out->model_path, err);
    if (rc) return rc;
    if ((rc = rb_model_load(out->model_path, &out->model, err))) return rc;
    if (want_hashes && (rc = rb_sha256_file(out->model_path, out->model_sha256, err))) return rc;
    if (!want_tokenizer) return RB_OK;
    if (!tokenizer) {
        const rb_data_entry *e = rb_data_find(model, RB_DATA_MODEL);
        if (!e)
            return rb_error_set(err, RB_EINVAL,
                                "%s: a model given as a file needs --tokenizer FILE (or a "
                                "tokenizer name: tok512, llama2)",
                                model);
        tokenizer = e->tokenizer;
    }
    if ((rc = rb_data_resolve(tokenizer, RB_DATA_TOKENIZER, data_dir, out->tokenizer_path,
                              sizeof out->tokenizer_path, err)))
        return rc;
    if ((rc = rb_tokenizer_load(out->tokenizer_path, &out->tokenizer, err))) return rc;
    if (rb_tokenizer_vocab_size(out->tokenizer) != out->model->cfg.vocab_size)
        return rb_error_set(err, RB_EINVAL, "%s has %d tokens but %s has vocab_size %d",
                            out->tokenizer_path, rb_tokenizer_vocab_size(out->tokenizer),
                            out->model_path, out->model->cfg.vocab_size);
    if (want_hashes && (rc = rb_sha256_file(out->tokenizer_path, out->tokenizer_sha256, err)))
        return rc;
    return RB_OK;
}

void rb_cli_unload(rb_cli_model *cm) {
    rb_model_free(cm->model);
    rb_tokenizer_free(cm->tokenizer);
    memset(cm, 0, sizeof *cm);
}

long rb_cli_int(const char *flag, const char *value, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(value ? value : "", &end, 10);
    if (!value || !*value || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "error: %s expects an integer in %ld..%ld, got '%s'\n", flag, lo, hi,
                value ? value : "");
        exit(2);
    }
    return v;
}

long rb_cli_bits(const char *flag, const char *value) {
    long b = rb_cli_int(flag, value, 2, 16);
    if (b > 8 && b != 16) {
        fprintf(stderr, "error: %s expects 2..8 or 16 (off), got %ld\n", flag, b);
        exit(2);
    }
    return b;
}

int rb_cli_set_threads(int threads) {
    if (threads <= 0) threads = omp_get_num_procs();
    rb_set_threads(threads);
    return threads;
}

int rb_cli_fail(const rb_error *err) {
    fprintf(stderr, "error: %s\n", err->msg);
    return 1;
}

void rb_cli_progress(void *state, size_t done, size_t total, double seconds) {
    rb_cli_progress_state *p = state;
    if (done != total && seconds - p->last < 2.0) return;
    p->last = seconds;
    fprintf(stderr, "%s: window %zu/%zu, %.1f s\n", p->label, done, total, seconds);
}
