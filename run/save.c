/* --save-model (see run/save.h). */
#include "run/save.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/tok_gguf.h"

const char *rb_save_what_name(rb_save_what w) {
    return w == RB_SAVE_TRANS ? "trans" : w == RB_SAVE_QUANT ? "quant" : "fake";
}

static int form_of(const char *path, rb_model_format *f, rb_error *err) {
    size_t n = strlen(path);
    struct stat st;
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (n && path[n - 1] == '/') *f = RB_FORMAT_HF;
    else if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) *f = RB_FORMAT_HF;
    else if (dot && !strcmp(dot, ".gguf")) *f = RB_FORMAT_GGUF;
    else if (dot && !strcmp(dot, ".bin")) *f = RB_FORMAT_LLAMA2C;
    else if (!dot && *base) *f = RB_FORMAT_HF;
    else
        return rb_error_set(err, RB_EINVAL,
                            "--save-model %s: unknown output form (OUT.gguf: GGUF, OUT.bin: "
                            "llama2.c, OUT/ or a name without extension: a Hugging Face "
                            "directory)",
                            path);
    return RB_OK;
}

int rb_run_save_parse(const rb_run_spec *s, const rb_quant_config *q, rb_run_save *out,
                      rb_error *err) {
    memset(out, 0, sizeof *out);
    out->path = s->save_model;
    if (!s->save_model) {
        if (s->save_dtype || s->save_what)
            return rb_error_set(err, RB_EINVAL, "--save-dtype and --save-what need --save-model OUT");
        return RB_OK;
    }
    int rc = form_of(s->save_model, &out->format, err);
    if (rc) return rc;
    static const char *const dts[] = {"f32", "bf16", "f16", "q8_0", "q4_0"};
    static const rb_dtype dtv[] = {RB_DTYPE_F32, RB_DTYPE_BF16, RB_DTYPE_F16, RB_DTYPE_Q8_0,
                                   RB_DTYPE_Q4_0};
    out->dtype = RB_DTYPE_F32;
    int found = !s->save_dtype;
    for (int i = 0; i < 5 && !found; i++)
        if (!strcmp(s->save_dtype, dts[i])) out->dtype = dtv[i], found = 1;
    if (!found)
        return rb_error_set(err, RB_EINVAL, "--save-dtype expects f32, bf16, f16, q8_0 or q4_0, got '%s'",
                            s->save_dtype);
    int block = rb_dtype_is_block(out->dtype);
    out->what = block ? RB_SAVE_QUANT : RB_SAVE_FAKE;
    if (s->save_what) {
        if (!strcmp(s->save_what, "trans")) out->what = RB_SAVE_TRANS;
        else if (!strcmp(s->save_what, "fake")) out->what = RB_SAVE_FAKE;
        else if (!strcmp(s->save_what, "quant")) out->what = RB_SAVE_QUANT;
        else
            return rb_error_set(err, RB_EINVAL, "--save-what expects trans, fake or quant, got '%s'",
                                s->save_what);
    }
    if (out->what == RB_SAVE_QUANT && !block)
        return rb_error_set(err, RB_EINVAL,
                            "--save-what quant needs --save-dtype q8_0 or q4_0 (quantized blocks); "
                            "f32/bf16/f16 hold the fake-quantized weights (--save-what fake)");
    if (block && out->what != RB_SAVE_QUANT)
        return rb_error_set(err, RB_EINVAL, "--save-dtype %s stores quantized weights: --save-what %s "
                            "cannot be written that way", s->save_dtype, s->save_what);
    if (block && out->format != RB_FORMAT_GGUF)
        return rb_error_set(err, RB_EINVAL, "--save-dtype %s: Q8_0/Q4_0 blocks go to GGUF only (OUT.gguf)",
                            s->save_dtype);
    if (block) {
        const rb_quant_spec *w = &q->w;
        int max_bits = out->dtype == RB_DTYPE_Q4_0 ? 4 : 8;
        const char *name = out->dtype == RB_DTYPE_Q4_0 ? "Q4_0" : "Q8_0";
        if (rb_quant_spec_off(w))
            return rb_error_set(err, RB_EINVAL, "--save-dtype %s: the weights are not quantized "
                                "(give --w-bits %d --w-gran group:32 --w-scale-f16)", s->save_dtype, max_bits);
        if (w->asym || w->gran != RB_GRAN_GROUP || w->group != 32 || !w->scale_f16 || w->bits > max_bits)
            return rb_error_set(err, RB_EINVAL,
                                "--save-dtype %s: %s stores symmetric weights in groups of 32 with an "
                                "fp16 scale and at most %d bits; the weight quantizer is %d bits, %s, "
                                "%s%s (use --w-bits %d --w-gran group:32 --w-scale-f16, no --w-asym)",
                                s->save_dtype, name, max_bits, w->bits, w->asym ? "asymmetric" : "symmetric",
                                w->gran == RB_GRAN_GROUP ? "group" : w->gran == RB_GRAN_ROW ? "per channel" : "per tensor",
                                w->scale_f16 ? "" : ", fp32 scales", max_bits);
    }
    return RB_OK;
}

/* The tokenizer files of an HF output: tokenizer.json (+ tokenizer_config.json
 * beside it) when the run's tokenizer is one. */
static void hf_copy_files(const rb_run_model *m, char files[2][1100], rb_save_options *o) {
    const char *t = m->tokenizer_path;
    size_t n = strlen(t);
    if (n < 14 || strcmp(t + n - 14, "tokenizer.json")) return;
    snprintf(files[0], 1100, "%s", t);
    snprintf(files[1], 1100, "%.*stokenizer_config.json", (int)(n - 14), t);
    struct stat st;
    o->copy_files[0] = files[0];
    if (stat(files[1], &st) == 0) o->copy_files[1] = files[1];
}

static int is_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int yes = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
    if (f) fclose(f);
    return yes;
}

int rb_run_save_model(const rb_run_save *sv, const rb_run_model *m, const rb_model *model,
                      const rb_quant_config *q, rb_error *err) {
    rb_saved_meta meta;
    rb_saved_meta_from(&meta, model, q, rb_save_what_name(sv->what));
    rb_save_options o = {.format = sv->format, .dtype = sv->dtype, .meta = &meta};
    rb_vocab_export v = {0};
    char files[2][1100];
    int rc = RB_OK, have_vocab = 0;
    if (sv->format == RB_FORMAT_GGUF && m->tokenizer) {
        rc = is_gguf(m->tokenizer_path) ? rb_vocab_from_gguf(m->tokenizer_path, &v, err)
                                        : rb_vocab_from_tokenizer(m->tokenizer, &v, err);
        if (!rc) o.vocab = &v.desc, have_vocab = 1;
    }
    if (sv->format == RB_FORMAT_HF && m->tokenizer) hf_copy_files(m, files, &o);
    if (!rc) rc = rb_model_save_as(model, sv->path, &o, err);
    if (have_vocab) rb_vocab_export_free(&v);
    return rc;
}
