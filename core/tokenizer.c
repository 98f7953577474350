/* The tokenizer seam: recognise a path's kind, open it, dispatch (see
 * tokenizer.h).  The kinds live in tok_spm.c (llama2.c), tok_json.c +
 * tok_hf.c (tokenizer.json) and tok_vocab.c (in-memory vocabularies). */
#include "core/tokenizer_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/tok_gguf.h"
#include "core/tok_json.h"

int rb_tokenizer_wrap(const rb_tokenizer *t, rb_tokenizer **out, rb_error *err) {
    rb_tokenizer *h = malloc(sizeof *h);
    if (!h) {
        rb_spm_free(t->spm);
        rb_hf_free(t->hf);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    *h = *t;
    *out = h;
    return RB_OK;
}

int rb_tokenizer_load(const char *path, rb_tokenizer **out, rb_error *err) {
    *out = NULL;
    rb_tokenizer t = {.kind = RB_TOK_LLAMA2C, .adds_bos = -1};
    int rc = rb_spm_load(path, &t.spm, err);
    if (rc) return rc;
    t.bos = RB_TOKEN_BOS; /* llama2.c's convention: 0 unk, 1 <s>, 2 </s> */
    t.eos = RB_TOKEN_EOS;
    return rb_tokenizer_wrap(&t, out, err);
}

static int open_json(const char *path, rb_tokenizer **out, rb_error *err) {
    rb_tokenizer t = {.kind = RB_TOK_HF};
    rb_hf_specials sp;
    int rc = rb_tok_json_load(path, &t.hf, &sp, err);
    if (rc) return rc;
    t.bos = sp.bos;
    t.eos = sp.eos;
    t.adds_bos = sp.adds_bos;
    return rb_tokenizer_wrap(&t, out, err);
}

/* A GGUF file (its embedded vocabulary): the magic "GGUF". */
static int looks_like_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4] = {0};
    size_t got = fread(m, 1, 4, f);
    fclose(f);
    return got == 4 && !memcmp(m, "GGUF", 4);
}

/* A tokenizer.json by name, or by content: the first non-blank byte is '{'. */
static int looks_like_json(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".json")) return 1;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r') {
    }
    fclose(f);
    return c == '{';
}

int rb_tokenizer_open(const char *path, rb_tokenizer **out, rb_error *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0)
        return rb_error_set(err, RB_EIO, "%s: cannot open tokenizer (no such file or directory)",
                            path);
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(path);
        char *p = malloc(n + 32);
        if (!p) return rb_error_set(err, RB_ENOMEM, "out of memory");
        snprintf(p, n + 32, "%s%stokenizer.json", path, n && path[n - 1] == '/' ? "" : "/");
        int rc = stat(p, &st) == 0 ? open_json(p, out, err)
                                   : rb_error_set(err, RB_EIO,
                                                  "%s: directory has no tokenizer.json", path);
        free(p);
        return rc;
    }
    if (looks_like_gguf(path)) return rb_gguf_tokenizer_open(path, out, err);
    return looks_like_json(path) ? open_json(path, out, err) : rb_tokenizer_load(path, out, err);
}

void rb_tokenizer_free(rb_tokenizer *t) {
    if (!t) return;
    rb_spm_free(t->spm);
    rb_hf_free(t->hf);
    free(t);
}

rb_tokenizer_kind rb_tokenizer_kind_of(const rb_tokenizer *t) { return t->kind; }
int rb_tokenizer_bos(const rb_tokenizer *t) { return t->bos; }
int rb_tokenizer_eos(const rb_tokenizer *t) { return t->eos; }
int rb_tokenizer_file_adds_bos(const rb_tokenizer *t) { return t->adds_bos; }

int rb_tokenizer_vocab_size(const rb_tokenizer *t) {
    return t->spm ? rb_spm_vocab_size(t->spm) : rb_hf_size(t->hf);
}

int rb_tokenizer_encode(const rb_tokenizer *t, const char *text, size_t len, int add_bos,
                        int add_eos, int32_t **tokens, size_t *n_tokens, rb_error *err) {
    if (!t || !tokens || !n_tokens || (!text && len))
        return rb_error_set(err, RB_EINVAL, "rb_tokenizer_encode: NULL argument");
    int32_t bos = add_bos ? t->bos : -1, eos = add_eos ? t->eos : -1;
    if (t->spm) return rb_spm_encode(t->spm, text, len, bos, eos, tokens, n_tokens, err);
    *tokens = NULL;
    *n_tokens = 0;
    rb_ids ids = {0};
    int rc = RB_OK;
    if (bos >= 0 && rb_ids_push(&ids, bos)) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    if (!rc) rc = rb_hf_encode(t->hf, text ? text : "", len, &ids, err);
    if (!rc && eos >= 0 && rb_ids_push(&ids, eos))
        rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    if (!rc && !ids.a && !(ids.a = malloc(sizeof *ids.a)))
        rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    if (rc) {
        free(ids.a);
        return rc;
    }
    *tokens = ids.a;
    *n_tokens = ids.n;
    return RB_OK;
}

const char *rb_tokenizer_decode(const rb_tokenizer *t, int32_t prev_token, int32_t token,
                                size_t *len) {
    if (t->spm) return rb_spm_decode(t->spm, t->bos, prev_token, token, len);
    return rb_hf_decode(t->hf, t->bos, prev_token, token, len);
}

const char *rb_tokenizer_piece(const rb_tokenizer *t, int32_t token, size_t *len) {
    return t->spm ? rb_spm_piece(t->spm, token, len) : rb_hf_piece(t->hf, token, len);
}

float rb_tokenizer_score(const rb_tokenizer *t, int32_t token) {
    return t->spm ? rb_spm_score(t->spm, token) : NAN;
}
