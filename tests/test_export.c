/* Saving models (--save-model; core/model_save.h, run/save.h): every format
 * written and read back gives the perplexity of the model in memory bit for
 * bit (stories260K, the planted-outlier model, QuaRot with and without
 * online transforms, ResQ with dense online bases, SpinQuant), LLMC's
 * two-step flow (save_trans, then GPTQ) equals the one pipeline, the GGUF
 * Q8_0/Q4_0 blocks follow ggml's layout and hold rotbench's quantized
 * weights exactly, the embedded vocabulary equals the one llama.cpp's
 * converter wrote, and bad output requests are clear errors that leave no
 * file behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "core/gguf.h"
#include "core/model_open.h"
#include "core/model_save.h"
#include "core/tok_gguf.h"
#include "core/tokenizer.h"
#include "eval/perplexity.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "kernels/quant_common.h"
#include "run/eval.h"
#include "run/spec.h"
#include "test_models.h"
#include "test_util.h"

/* ---- blocks and fp16 scales (no data needed) ------------------------------ */

Test(export, fp16_scale_rounding_matches_the_binary16_conversion) {
    rb_rng r;
    rb_rng_seed(&r, 7);
    for (int i = 0; i < 20000; i++) {
        /* magnitudes from 2^-30 to 2^15: subnormal halves, normal ones */
        float x = ldexpf(1.0f + (float)rb_rng_uniform(&r), (int)(rb_rng_uniform(&r) * 45) - 30);
        float want = rb_f16_to_f32(rb_f32_to_f16(x)); /* core/dtype.c, written separately */
        if (want == 0) want = 1.0f;
        cr_assert_eq(rb_round_scale_f16(x), want, "x = %a: %a vs %a", x, rb_round_scale_f16(x), want);
    }
    cr_expect_eq(rb_round_scale_f16(1e6f), 65504.0f);
}

/* Weights fake-quantized with symmetric group-32 fp16 scales are stored as
 * Q8_0/Q4_0 blocks and read back equal. */
Test(export, quantized_rows_encode_exactly_as_blocks) {
    rb_rng r;
    rb_rng_seed(&r, 3);
    int rows = 6, cols = 96;
    for (int q4 = 0; q4 < 2; q4++)
        for (int bits = 2; bits <= (q4 ? 4 : 8); bits++) {
            float *w = malloc(sizeof(float) * rows * cols), *back = malloc(sizeof(float) * rows * cols);
            rb_test_fill_uniform(w, (size_t)rows * cols, -0.3f, 0.3f, &r);
            w[5] = 0; /* zeros and a zero block too */
            for (int j = 32; j < 64; j++) w[j] = 0;
            rb_quant_spec s = {bits, 0, RB_GRAN_GROUP, 32, 1.0f, 1};
            rb_error err;
            cr_assert_eq(rb_fake_quant_dynamic(w, rows, cols, &s, &err), RB_OK);
            rb_dtype dt = q4 ? RB_DTYPE_Q4_0 : RB_DTYPE_Q8_0;
            unsigned char *blk = malloc(rb_dtype_bytes(dt, (uint64_t)rows * cols));
            cr_assert_eq(rb_dtype_encode_exact(dt, w, (size_t)rows * cols, blk), -1, "%d bits", bits);
            rb_dtype_to_f32(dt, blk, back, (size_t)rows * cols);
            for (int i = 0; i < rows * cols; i++)
                cr_assert_eq(back[i], w[i], "%s %d bits, element %d", rb_dtype_name(dt), bits, i);
            /* fp32 scales are not binary16 values: refused, with the block */
            float *raw = malloc(sizeof(float) * rows * cols);
            rb_test_fill_uniform(raw, (size_t)rows * cols, -0.3f, 0.3f, &r);
            rb_quant_spec s32 = {bits, 0, RB_GRAN_GROUP, 32, 1.0f, 0};
            cr_assert_eq(rb_fake_quant_dynamic(raw, rows, cols, &s32, &err), RB_OK);
            cr_expect_geq(rb_dtype_encode_exact(dt, raw, (size_t)rows * cols, blk), 0);
            free(raw);
            free(w);
            free(back);
            free(blk);
        }
}

/* ggml's layout (ggml-common.h block_q4_0 / block_q8_0, dequantize_row_q4_0):
 * the fp16 d first, then Q4_0's byte j = weight j (low nibble) | weight j+16
 * (high nibble), each + 8; Q8_0's int8 in order. */
Test(export, block_layout_is_ggml_s) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = 0.5f * (float)((j % 15) - 7); /* d = 0.5, q = j%15 - 7 */
    unsigned char b4[18], b8[34];
    cr_assert_eq(rb_dtype_encode_exact(RB_DTYPE_Q4_0, x, 32, b4), -1);
    cr_assert_eq(rb_dtype_encode_exact(RB_DTYPE_Q8_0, x, 32, b8), -1);
    cr_expect_eq(b4[0] | b4[1] << 8, 0x3800); /* 0.5 in binary16 */
    /* Q8_0 takes the finest exact scale: d = 3.5/112 = 2^-5, q = 16·(j%15 - 7) */
    cr_expect_eq(b8[0] | b8[1] << 8, 0x2800);
    for (int j = 0; j < 16; j++) {
        cr_expect_eq(b4[2 + j] & 15, (j % 15) - 7 + 8, "low nibble %d", j);
        cr_expect_eq(b4[2 + j] >> 4, ((j + 16) % 15) - 7 + 8, "high nibble %d", j);
    }
    for (int j = 0; j < 32; j++) cr_expect_eq((int8_t)b8[2 + j], 16 * ((j % 15) - 7));
    /* 8 levels below zero fit Q4_0 (-8·d), 8 above do not */
    x[0] = -4.0f;
    cr_expect_eq(rb_dtype_encode_exact(RB_DTYPE_Q4_0, x, 32, b4), -1);
    x[0] = 4.0f; /* now the largest is +4 = 8·0.5: only d = 4/7 candidates, not exact */
    cr_expect_eq(rb_dtype_encode_exact(RB_DTYPE_Q4_0, x, 32, b4), 0);
}

/* ---- runs on stories260K ------------------------------------------------ */

static const char *data_or_skip(void) {
    const char *p = rb_test_require_data("models/stories260K/stories260K.bin");
    if (!p) cr_skip_test("no stories260K (set ROTBENCH_DATA)");
    return p;
}

/* One evaluation: its record's nll (and, when arch != NULL, its
 * model_architecture). */
static double eval_nll(rb_run_spec *s, char *arch, size_t cap) {
    json_object *rec = NULL;
    rb_error err = {0};
    s->threads = 1;
    int rc = rb_run_eval(s, NULL, &rec, &err);
    cr_assert_eq(rc, RB_OK, "%s", err.msg);
    json_object *v;
    cr_assert(json_object_object_get_ex(rec, "nll", &v));
    double nll = json_object_get_double(v);
    if (arch && json_object_object_get_ex(rec, "model_architecture", &v))
        snprintf(arch, cap, "%s", json_object_get_string(v));
    json_object_put(rec);
    return nll;
}

static void base_spec(rb_run_spec *s) {
    rb_run_spec_init(s);
    s->data_dir = rb_test_data_dir();
    s->task = "tinystories";
    s->ctx = 256;
    s->max_tokens = 1024;
    s->calib_windows = 4;
    s->calib_len = 128;
}

/* Saves the pipeline's model as out (what, dtype), evaluates it from the
 * file with the same quantizers and no pipeline: the same nll bit for bit. */
static void round_trip(const char *pipeline, const char *out_name, const char *what,
                       const char *dtype, int bits, const char *want_arch) {
    char out[512], arch[64] = "";
    rb_test_tmp_path(out_name, out, sizeof out);
    rb_run_spec s;
    base_spec(&s);
    s.pipeline = pipeline;
    s.a_bits = s.kv_bits = bits;
    if (dtype && !strcmp(dtype, "q4_0")) s.w_bits = 4;
    if (dtype && !strcmp(dtype, "q8_0")) s.w_bits = 8;
    if (dtype && dtype[0] == 'q') s.w_gran = "group:32", s.w_scale_f16 = 1;
    if (!dtype && (strstr(pipeline, "rtn") || strstr(pipeline, "gptq"))) s.w_bits = 4;
    s.save_model = out;
    s.save_what = what;
    s.save_dtype = dtype;
    double mem = eval_nll(&s, NULL, 0);
    rb_run_spec t;
    base_spec(&t);
    t.model = out;
    t.a_bits = t.kv_bits = bits;
    if (!strstr(out_name, ".gguf")) t.tokenizer = "tok512"; /* HF from tok512, llama2.c */
    double file = eval_nll(&t, arch, sizeof arch);
    cr_expect_eq(file, mem, "%s → %s: nll %.17g from the file, %.17g in memory", pipeline, out_name,
                 file, mem);
    if (want_arch) cr_expect_str_eq(arch, want_arch, "%s", out_name);
}

Test(export, round_trips_are_bit_identical, .timeout = 600) {
    data_or_skip();
    round_trip("", "plain.gguf", NULL, NULL, 16, "llama");
    round_trip("", "plain_hf", NULL, NULL, 16, "LlamaForCausalLM");
    round_trip("", "plain.bin", NULL, NULL, 16, "llama2c");
    round_trip("outliers", "outliers.gguf", NULL, NULL, 16, "llama");
    round_trip("outliers", "outliers_hf/", NULL, NULL, 16, "LlamaForCausalLM");
    round_trip("quarot:online=0", "r12.bin", NULL, NULL, 16, "llama2c");
    round_trip("quarot:online=0", "r12_q4.gguf", NULL, "q4_0", 16, "llama");
    round_trip("quarot:online=0,gptq", "r12_q8.gguf", NULL, "q8_0", 16, "llama");
    /* online transforms, quantized activations and KV */
    round_trip("quarot", "quarot.gguf", NULL, NULL, 4, "rotbench-llama");
    round_trip("quarot", "quarot_hf", NULL, NULL, 4, "RotbenchLlamaForCausalLM");
    round_trip("outliers,quarot,rtn", "quarot_w4.gguf", NULL, NULL, 4, "rotbench-llama");
    round_trip("outliers,quarot,gptq", "quarot_gptq_hf", NULL, NULL, 4, "RotbenchLlamaForCausalLM");
    /* ResQ: dense key and down_proj bases, mixed-precision channels */
    round_trip("resq:down=pca", "resq.gguf", NULL, NULL, 4, "rotbench-llama");
    round_trip("resq:down=pca", "resq_hf", NULL, NULL, 4, "RotbenchLlamaForCausalLM");
    round_trip("spinquant:iters=2:windows=4:batch=2", "spin.gguf", NULL, NULL, 4, "rotbench-llama");
}

/* LLMC's two steps: save the QuaRot model (trans, online transforms on),
 * load it and run GPTQ: the one-pipeline quarot,gptq result bit for bit. */
Test(export, two_step_quarot_then_gptq_equals_one_pipeline, .timeout = 300) {
    data_or_skip();
    char out[512];
    rb_test_tmp_path("step1.gguf", out, sizeof out);
    rb_run_spec s;
    base_spec(&s);
    s.pipeline = "quarot,gptq";
    s.w_bits = 4;
    s.save_model = out;
    s.save_what = "trans";
    double one = eval_nll(&s, NULL, 0);
    rb_run_spec t;
    base_spec(&t);
    t.model = out;
    t.pipeline = "gptq";
    t.w_bits = 4;
    double two = eval_nll(&t, NULL, 0);
    cr_expect_eq(two, one, "two steps %.17g, one pipeline %.17g", two, one);
    /* and the saved model is the transformed one, not the quantized one */
    rb_run_spec u;
    base_spec(&u);
    u.model = out;
    rb_run_spec v;
    base_spec(&v);
    v.pipeline = "quarot";
    cr_expect_eq(eval_nll(&u, NULL, 0), eval_nll(&v, NULL, 0));
}

/* The vocabulary written from tok512.bin equals the one llama.cpp's
 * convert-llama2c-to-ggml wrote into stories260K.gguf. */
Test(export, gguf_vocabulary_matches_llama_cpp_s_converter) {
    data_or_skip();
    const char *gg = rb_test_require_data("models/stories260K/stories260K.gguf");
    if (!gg) cr_skip_test("no stories260K.gguf");
    rb_tokenizer *t;
    rb_error err;
    cr_assert_eq(rb_tokenizer_open(rb_test_data_path("models/stories260K/tok512.bin"), &t, &err), RB_OK,
                 "%s", err.msg);
    rb_vocab_export mine, theirs;
    cr_assert_eq(rb_vocab_from_tokenizer(t, &mine, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_vocab_from_gguf(gg, &theirs, &err), RB_OK, "%s", err.msg);
    const rb_vocab_desc *a = &mine.desc, *b = &theirs.desc;
    cr_assert_eq(a->n_tokens, b->n_tokens);
    cr_expect_str_eq(a->kind, b->kind);
    cr_expect_eq(a->bos_id, b->bos_id);
    cr_expect_eq(a->eos_id, b->eos_id);
    cr_expect_eq(a->unk_id, b->unk_id);
    for (int i = 0; i < a->n_tokens; i++) {
        cr_expect(a->token_lens[i] == b->token_lens[i] &&
                      !memcmp(a->tokens[i], b->tokens[i], a->token_lens[i]),
                  "token %d: %.*s vs %.*s", i, (int)a->token_lens[i], a->tokens[i],
                  (int)b->token_lens[i], b->tokens[i]);
        cr_expect_eq(a->scores[i], b->scores[i], "score %d", i);
        cr_expect_eq(a->token_types[i], b->token_types[i], "type %d", i);
    }
    rb_vocab_export_free(&mine);
    rb_vocab_export_free(&theirs);
    rb_tokenizer_free(t);
}

/* Nothing but what was there before is in dir. */
static int n_entries(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d, "%s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void save_fails(rb_run_spec *s, const char *needle) {
    json_object *rec = NULL;
    rb_error err = {0};
    s->threads = 1;
    cr_expect_neq(rb_run_eval(s, NULL, &rec, &err), RB_OK, "%s should fail", s->save_model);
    cr_expect(err.msg[0] && strstr(err.msg, needle), "'%s' not in: %s", needle, err.msg);
    json_object_put(rec);
}

Test(export, bad_outputs_are_clear_errors_and_leave_nothing, .timeout = 300) {
    data_or_skip();
    char dir[512], out[700];
    rb_test_tmp_path("bad_out", dir, sizeof dir);
    mkdir(dir, 0755);
    int before = n_entries(dir);
    rb_run_spec s;
    base_spec(&s);
    /* an unknown output form */
    snprintf(out, sizeof out, "%s/model.onnx", dir);
    s.save_model = out;
    save_fails(&s, "unknown output form");
    /* a path that cannot be written */
    snprintf(out, sizeof out, "%s/no/such/dir/m.gguf", dir);
    save_fails(&s, "cannot create");
    /* a quantizer that Q4_0 cannot hold: per-channel, fp32 scales */
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    s.save_dtype = "q4_0";
    s.w_bits = 4;
    save_fails(&s, "Q4_0 stores symmetric weights in groups of 32");
    s.w_gran = "group:32";
    s.w_scale_f16 = 1;
    s.w_bits = 5;
    save_fails(&s, "at most 4 bits");
    /* blocks only in GGUF, and not of a trans model */
    s.w_bits = 4;
    snprintf(out, sizeof out, "%s/m_hf", dir);
    save_fails(&s, "GGUF only");
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    s.save_what = "trans";
    save_fails(&s, "cannot be written that way");
    cr_expect_eq(n_entries(dir), before, "a failed save left a file in %s", dir);
    /* the writer itself refuses weights that are not blocks, mid-file, and
     * removes its temporary */
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_open(rb_test_data_path("models/stories260K/stories260K.bin"), 0, &m, NULL, &err),
                 RB_OK, "%s", err.msg);
    rb_save_options o = {.format = RB_FORMAT_GGUF, .dtype = RB_DTYPE_Q8_0};
    cr_expect_eq(rb_model_save_as(m, out, &o, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "not d·q with one binary16 scale") && strstr(err.msg, "wq of layer 0"),
              "%s", err.msg);
    cr_expect_eq(n_entries(dir), before, "the failed Q8_0 write left a file in %s", dir);
    /* an HF directory over a non-empty one */
    snprintf(out, sizeof out, "%s/full", dir);
    mkdir(out, 0755);
    char f[800];
    snprintf(f, sizeof f, "%s/keep.txt", out);
    rb_test_write_file(f, "x", 1);
    o = (rb_save_options){.format = RB_FORMAT_HF, .dtype = RB_DTYPE_F32};
    cr_expect_neq(rb_model_save_as(m, out, &o, &err), RB_OK);
    cr_expect(strstr(err.msg, "exists and is not empty"), "%s", err.msg);
    cr_expect_eq(n_entries(dir), before + 1, "only the directory that was there");
    cr_expect_eq(n_entries(out), 1);
    rb_model_free(m);
}

/* llama-perplexity's scoring (eval/perplexity.h): whole windows, BOS in
 * place of each window's first token, predictions from ctx/2 on; checked
 * against the windows forwarded one by one. */
Test(export, llama_cpp_scoring_is_what_it_says) {
    rb_model *m = rb_test_synth(16, 24, 2, 4, 2, 40, 3);
    int ctx = 12;
    size_t n = 5 * 12 + 7; /* 5 whole windows and a short one */
    int32_t tokens[67];
    rb_rng r;
    rb_rng_seed(&r, 9);
    for (size_t i = 0; i < n; i++) tokens[i] = (int32_t)rb_rng_below(&r, 40);
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, ctx, &err), RB_OK);
    rb_ppl_result plain, same, lc;
    cr_assert_eq(rb_perplexity(m, &ws, NULL, tokens, n, ctx, 0, NULL, NULL, &plain, NULL, NULL, &err), RB_OK);
    rb_ppl_scoring def = {0, 0, -1}, llama = {ctx / 2, 1, 1};
    cr_assert_eq(rb_perplexity_scored(m, &ws, NULL, tokens, n, ctx, 0, &def, NULL, NULL, &same, NULL, NULL, &err), RB_OK);
    cr_expect_eq(same.nll, plain.nll);
    cr_expect_eq(plain.n_scored, n - 6);
    cr_assert_eq(rb_perplexity_scored(m, &ws, NULL, tokens, n, ctx, 0, &llama, NULL, NULL, &lc, NULL, NULL, &err), RB_OK);
    cr_expect_eq(lc.n_windows, 5);
    cr_expect_eq(lc.n_scored, 5 * (size_t)(ctx - ctx / 2 - 1));
    double total = 0;
    double nll[12];
    for (int w = 0; w < 5; w++) {
        int32_t win[12];
        memcpy(win, tokens + w * ctx, sizeof win);
        win[0] = 1;
        cr_assert_eq(rb_forward(m, &ws, win, ctx, NULL, &err), RB_OK);
        rb_nll_rows(nll, ws.logits, win + 1, ctx - 1, m->cfg.vocab_size);
        for (int t = ctx / 2; t < ctx - 1; t++) total += nll[t];
    }
    double want = total / (double)lc.n_scored;
    /* to rounding: BLAS may sum the logits of a whole window and of its
     * scored rows alone differently (OpenBLAS's Haswell kernels do) */
    cr_expect(fabs(lc.nll - want) <= 1e-6 * want, "%.17g vs %.17g", lc.nll, want);
    rb_workspace_free(&ws);
    rb_model_free(m);
}
