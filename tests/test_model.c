/* Model loading: the real file, round trips, and every kind of broken file. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/context_limit.h"
#include "core/model.h"
#include "tests/test_util.h"

static rb_config small_cfg(void) {
    return (rb_config){.dim = 12, .hidden_dim = 20, .n_layers = 2, .n_heads = 2,
                       .n_kv_heads = 1, .vocab_size = 7, .seq_len = 16, .head_dim = 6,
                       .norm_eps = 1e-5f, .rope_theta = 10000.0f};
}

/* Writes a synthetic model file and returns its bytes (malloc'd) and size. */
static unsigned char *synth_file(const char *path, int shared, size_t *size) {
    rb_config c = small_cfg();
    rb_model *m = NULL;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, shared, 3, &m, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_model_save(m, path, &err), RB_OK, "%s", err.msg);
    rb_model_free(m);
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*size);
    cr_assert_eq(fread(b, 1, *size, f), *size);
    fclose(f);
    return b;
}

static int load_expect(const char *path, rb_status want, const char *needle) {
    rb_model *m = (rb_model *)0x1;
    rb_error err = {0};
    int rc = rb_model_load(path, &m, &err);
    cr_expect_eq(rc, want, "%s: got %d (%s)", path, rc, err.msg);
    cr_expect_null(m);
    if (rc) {
        cr_expect(strstr(err.msg, path) != NULL, "message names the file: %s", err.msg);
        if (needle) cr_expect(strstr(err.msg, needle) != NULL, "'%s' not in: %s", needle, err.msg);
    }
    return rc;
}

Test(model, loads_stories260K) {
    const char *path = rb_test_require_data("models/stories260K/stories260K.bin");
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_load(path, &m, &err), RB_OK, "%s", err.msg);
    rb_config c = m->cfg;
    cr_expect_eq(c.dim, 64);
    cr_expect_eq(c.hidden_dim, 172);
    cr_expect_eq(c.n_layers, 5);
    cr_expect_eq(c.n_heads, 8);
    cr_expect_eq(c.n_kv_heads, 4);
    cr_expect_eq(c.vocab_size, 512);
    cr_expect_eq(c.seq_len, 512);
    cr_expect_eq(c.head_dim, 8);
    cr_expect(m->classifier_shared);
    cr_expect_eq(m->classifier, m->token_embedding);
    /* the first embedding value as stored at byte 28 of the file */
    FILE *f = fopen(path, "rb");
    float first;
    fseek(f, 28, SEEK_SET);
    cr_assert_eq(fread(&first, 4, 1, f), 1);
    fclose(f);
    cr_expect_eq(m->token_embedding[0], first);
    rb_weight_view w2 = rb_model_weight(m, 4, RB_W2);
    cr_expect_eq(w2.rows, 64);
    cr_expect_eq(w2.cols, 172);
    rb_model_free(m);
}

Test(model, save_load_round_trip_shared_and_separate) {
    for (int shared = 0; shared < 2; shared++) {
        char path[512];
        rb_test_tmp_path(shared ? "rt_shared.bin" : "rt_sep.bin", path, sizeof path);
        rb_config c = small_cfg();
        rb_model *a, *b;
        rb_error err;
        cr_assert_eq(rb_model_synthetic(&c, shared, 11, &a, &err), RB_OK, "%s", err.msg);
        cr_assert_eq(rb_model_save(a, path, &err), RB_OK, "%s", err.msg);
        cr_assert_eq(rb_model_load(path, &b, &err), RB_OK, "%s", err.msg);
        cr_expect_eq(b->classifier_shared, shared);
        cr_expect_eq(memcmp(a->token_embedding, b->token_embedding, sizeof(float) * 7 * 12), 0);
        cr_expect_eq(memcmp(a->classifier, b->classifier, sizeof(float) * 7 * 12), 0);
        cr_expect_eq(memcmp(a->final_norm, b->final_norm, sizeof(float) * 12), 0);
        for (int l = 0; l < c.n_layers; l++)
            for (int id = 0; id < RB_LINEAR_COUNT; id++) {
                rb_weight_view va = rb_model_weight(a, l, id), vb = rb_model_weight(b, l, id);
                cr_expect_eq(memcmp(va.w, vb.w, sizeof(float) * va.rows * va.cols), 0,
                             "layer %d %s", l, rb_linear_name(id));
            }
        rb_model_free(a);
        rb_model_free(b);
    }
}

Test(model, truncated_and_padded_files) {
    char path[512], bad[512];
    size_t n;
    unsigned char *bytes = synth_file(rb_test_tmp_path("good.bin", path, sizeof path), 1, &n);
    rb_test_tmp_path("bad.bin", bad, sizeof bad);
    cr_assert_eq(rb_test_write_file(bad, bytes, n - 4), 0);
    load_expect(bad, RB_EFORMAT, "truncated");
    cr_assert_eq(rb_test_write_file(bad, bytes, n / 2), 0);
    load_expect(bad, RB_EFORMAT, "truncated");
    unsigned char *more = calloc(n + 16, 1);
    memcpy(more, bytes, n);
    cr_assert_eq(rb_test_write_file(bad, more, n + 16), 0);
    load_expect(bad, RB_EFORMAT, "trailing");
    cr_assert_eq(rb_test_write_file(bad, bytes, 10), 0);
    load_expect(bad, RB_EFORMAT, "too short");
    cr_assert_eq(rb_test_write_file(bad, bytes, 0), 0);
    load_expect(bad, RB_EFORMAT, "too short");
    free(more);
    free(bytes);
}

Test(model, absurd_and_inconsistent_headers) {
    char path[512], bad[512];
    size_t n;
    unsigned char *bytes = synth_file(rb_test_tmp_path("good2.bin", path, sizeof path), 1, &n);
    rb_test_tmp_path("hdr.bin", bad, sizeof bad);
    struct { int field; int32_t value; const char *needle; } cases[] = {
        {0, -3, "dim"},          {0, 1 << 30, "dim"},        {1, 0, "hidden_dim"},
        {2, -1, "n_layers"},     {2, 100000, "n_layers"},    {3, 0, "n_heads"},
        {3, 5, "n_heads"},       {4, 0, "n_kv_heads"},       {4, 3, "n_kv_heads"},
        {4, 4, "n_kv_heads"},    {5, 0, "vocab_size"},       {6, 0, "seq_len"},
        {3, 4, "head_dim"},      /* dim 12 / 4 heads = 3: odd head_dim */
        {5, 1 << 21, "implies"}, /* valid vocab, but the size no longer matches */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned char *b = malloc(n);
        memcpy(b, bytes, n);
        memcpy(b + 4 * cases[i].field, &cases[i].value, 4);
        cr_assert_eq(rb_test_write_file(bad, b, n), 0);
        rb_model *m = NULL;
        rb_error err = {0};
        int rc = rb_model_load(bad, &m, &err);
        cr_expect_neq(rc, RB_OK, "case %zu accepted", i);
        cr_expect(strstr(err.msg, cases[i].needle) != NULL, "case %zu: '%s' not in: %s", i,
                  cases[i].needle, err.msg);
        cr_expect(strstr(err.msg, bad) != NULL, "case %zu: file not named: %s", i, err.msg);
        free(b);
    }
    free(bytes);
}

Test(model, ak42_magic_is_unsupported) {
    char bad[512];
    rb_test_tmp_path("ak42.bin", bad, sizeof bad);
    uint32_t hdr[64] = {0x616b3432u, 2, 64, 172, 5, 8, 4, 512, 512};
    cr_assert_eq(rb_test_write_file(bad, hdr, sizeof hdr), 0);
    load_expect(bad, RB_EUNSUPPORTED, "ak42");
}

Test(model, nan_weight_is_named) {
    char path[512];
    size_t n;
    unsigned char *bytes = synth_file(rb_test_tmp_path("nan.bin", path, sizeof path), 0, &n);
    /* the classifier is the last tensor of a separate-classifier file */
    float nanv = NAN;
    memcpy(bytes + n - 8, &nanv, 4);
    cr_assert_eq(rb_test_write_file(path, bytes, n), 0);
    load_expect(path, RB_ENUMERIC, "classifier");
    free(bytes);
}

Test(model, missing_file) {
    load_expect("/nonexistent/dir/model.bin", RB_EIO, "cannot open");
}

Test(model, clone_and_untie) {
    rb_config c = small_cfg();
    rb_model *a, *b;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, 1, 5, &a, &err), RB_OK);
    cr_assert_eq(rb_model_clone(a, &b, &err), RB_OK);
    cr_expect(b->classifier_shared);
    cr_expect_eq(b->classifier, b->token_embedding);
    cr_assert_eq(rb_model_untie_classifier(b, &err), RB_OK);
    cr_expect(!b->classifier_shared);
    cr_expect_neq(b->classifier, b->token_embedding);
    cr_expect_eq(memcmp(b->classifier, a->token_embedding, sizeof(float) * 7 * 12), 0);
    b->classifier[0] += 1.0f;
    cr_expect_neq(b->token_embedding[0], b->classifier[0]);
    cr_expect_eq(memcmp(a->layers[1].w2, b->layers[1].w2, sizeof(float) * 12 * 20), 0);
    rb_model_free(a);
    rb_model_free(b);
}

/* The one check of a window length against the model's maximum position. */
Test(model, ctx_check_against_the_maximum_position) {
    rb_config c = small_cfg(); /* seq_len 16 */
    rb_error err = {0};
    cr_expect_eq(rb_model_max_ctx(&c), 16);
    cr_expect_eq(rb_ctx_check(&c, 16, 0, "--ctx", "m.bin", &err), RB_OK);
    cr_expect_eq(rb_ctx_check(&c, 2, 0, "--ctx", "m.bin", &err), RB_OK);
    cr_expect_eq(rb_ctx_check(&c, 17, 0, "--ctx", "m.bin", &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "--ctx 17") && strstr(err.msg, "m.bin") &&
                  strstr(err.msg, "16 positions") && strstr(err.msg, "--allow-long-ctx"),
              "%s", err.msg);
    cr_expect_eq(rb_ctx_check(&c, 100000, 1, "--ctx", "m.bin", &err), RB_OK);
    cr_expect_eq(rb_ctx_check(&c, 17, 0, "--calib-len", NULL, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "--calib-len 17") && strstr(err.msg, "the model"), "%s", err.msg);
}

/* A directory given as the model says so (the message comes from rb_model_load,
 * where checkpoint-directory formats will be recognised). */
Test(model, a_directory_is_named_as_one) {
    char dir[512];
    rb_test_tmp_path("model_dir", dir, sizeof dir);
    mkdir(dir, 0700);
    load_expect(dir, RB_EINVAL, "is a directory");
    rmdir(dir);
}

/* A loaded (mmapped) model moved into its own arena keeps every value and
 * pointer relation, and writing to it no longer reaches the map. */
Test(model, own_weights_moves_an_mmapped_model_out_of_its_map) {
    for (int shared = 0; shared <= 1; shared++) {
        char path[512];
        rb_test_tmp_path(shared ? "own_shared.bin" : "own_sep.bin", path, sizeof path);
        rb_config c = small_cfg();
        rb_model *ref, *m;
        rb_error err;
        cr_assert_eq(rb_model_synthetic(&c, shared, 9, &ref, &err), RB_OK, "%s", err.msg);
        cr_assert_eq(rb_model_save(ref, path, &err), RB_OK, "%s", err.msg);
        cr_assert_eq(rb_model_load(path, &m, &err), RB_OK, "%s", err.msg);
        cr_assert_not_null(m->map, "the llama2.c loader maps the file");
        uintptr_t lo = (uintptr_t)m->map, hi = lo + m->map_bytes;
        cr_assert_eq(rb_model_own_weights(m, &err), RB_OK, "%s", err.msg);
        cr_expect_null(m->map);
        cr_expect_not_null(m->owned);
        cr_expect_eq(m->classifier_shared, shared);
        if (shared) cr_expect_eq(m->classifier, m->token_embedding);
        for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
            if (!rb_tensor_present(&c, shared, (rb_tensor_kind)k)) continue;
            int nd;
            int64_t d[2];
            rb_tensor_shape(&c, (rb_tensor_kind)k, &nd, d);
            for (int l = 0; l < (rb_tensor_per_layer((rb_tensor_kind)k) ? c.n_layers : 1); l++) {
                float *a = *rb_model_tensor_slot(m, (rb_tensor_kind)k, l);
                float *b = *rb_model_tensor_slot(ref, (rb_tensor_kind)k, l);
                cr_expect((uintptr_t)a < lo || (uintptr_t)a >= hi, "%s still in the map",
                          rb_tensor_kind_name((rb_tensor_kind)k));
                cr_expect_eq(memcmp(a, b, sizeof(float) * (size_t)(d[0] * d[1])), 0, "%s of layer %d",
                             rb_tensor_kind_name((rb_tensor_kind)k), l);
            }
        }
        m->layers[1].w2[3] = 42.0f;
        cr_expect_eq(rb_model_own_weights(m, &err), RB_OK, "a second call is a no-op");
        cr_expect_eq(m->layers[1].w2[3], 42.0f);
        rb_model_free(m);
        cr_assert_eq(rb_model_load(path, &m, &err), RB_OK, "%s", err.msg);
        cr_expect_eq(m->layers[1].w2[3], ref->layers[1].w2[3], "the file is unchanged");
        rb_model_free(m);
        rb_model_free(ref);
    }
}
