#include "core/tok_gguf.h"

#include <stdlib.h>
#include <string.h>

#include "core/gguf.h"

static void desc_of(const rb_gguf_vocab *v, rb_vocab_desc *d) {
    *d = (rb_vocab_desc){
        .kind = v->kind,
        .pre = v->pre[0] ? v->pre : NULL,
        .n_tokens = v->n_tokens,
        .tokens = v->tokens,
        .token_lens = v->token_lens,
        .scores = v->scores,
        .token_types = v->token_types,
        .n_merges = v->n_merges,
        .merges = v->merges,
        .merge_lens = v->merge_lens,
        .bos_id = v->bos_id,
        .eos_id = v->eos_id,
        .unk_id = v->unk_id,
        .add_bos = v->add_bos,
    };
}

int rb_gguf_tokenizer_open(const char *path, rb_tokenizer **out, rb_error *err) {
    *out = NULL;
    rb_gguf g;
    int rc = rb_gguf_open(path, &g, err);
    if (rc) return rc;
    rb_gguf_vocab v;
    if ((rc = rb_gguf_vocab_read(&g, &v, err))) {
        rb_gguf_close(&g);
        return rc;
    }
    rb_vocab_desc d;
    desc_of(&v, &d);
    rc = rb_tokenizer_from_vocab(&d, path, out, err);
    rb_gguf_vocab_free(&v);
    rb_gguf_close(&g);
    return rc;
}

typedef struct gguf_vocab_hold {
    rb_gguf g;
    rb_gguf_vocab v;
} gguf_vocab_hold;

int rb_vocab_from_gguf(const char *path, rb_vocab_export *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    gguf_vocab_hold *h = calloc(1, sizeof *h);
    if (!h) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    int rc = rb_gguf_open(path, &h->g, err);
    if (!rc && (rc = rb_gguf_vocab_read(&h->g, &h->v, err))) rb_gguf_close(&h->g);
    if (rc) {
        free(h);
        return rc;
    }
    out->gguf = h;
    desc_of(&h->v, &out->desc);
    return RB_OK;
}

int rb_vocab_from_tokenizer(const rb_tokenizer *t, rb_vocab_export *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    if (rb_tokenizer_kind_of(t) != RB_TOK_LLAMA2C)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "writing a tokenizer.json vocabulary into GGUF is not supported (only "
                            "llama2.c / SentencePiece-score vocabularies)");
    int n = rb_tokenizer_vocab_size(t), bos = rb_tokenizer_bos(t), eos = rb_tokenizer_eos(t);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        rb_tokenizer_piece(t, i, &len);
        total += 3 * len + 1; /* each " " may become the 3 bytes of U+2581 */
    }
    out->pool = malloc(total + 1);
    out->tokens = malloc(sizeof *out->tokens * (size_t)n);
    out->lens = malloc(sizeof *out->lens * (size_t)n);
    out->scores = malloc(sizeof *out->scores * (size_t)n);
    out->types = malloc(sizeof *out->types * (size_t)n);
    if (!out->pool || !out->tokens || !out->lens || !out->scores || !out->types) {
        rb_vocab_export_free(out);
        return rb_error_set(err, RB_ENOMEM, "out of memory for the vocabulary");
    }
    char *p = out->pool;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *s = rb_tokenizer_piece(t, i, &len);
        int control = i == bos || i == eos;
        if (control || i == 0) /* "\n<s>\n" → "<s>" */
            while (len && strchr(" \n", *s)) s++, len--;
        while ((control || i == 0) && len && strchr(" \n", s[len - 1])) len--;
        out->tokens[i] = p;
        for (size_t k = 0; k < len; k++)
            if (s[k] == ' ') memcpy(p, "\xe2\x96\x81", 3), p += 3;
            else *p++ = s[k];
        out->lens[i] = (size_t)(p - out->tokens[i]);
        out->scores[i] = rb_tokenizer_score(t, i);
        int byte = len == 6 && !memcmp(s, "<0x", 3) && s[5] == '>';
        out->types[i] = i == 0 ? 2 : control ? 3 : byte ? 6 : 1;
    }
    out->desc = (rb_vocab_desc){.kind = "llama", .n_tokens = n, .tokens = out->tokens,
                                .token_lens = out->lens, .scores = out->scores,
                                .token_types = out->types, .bos_id = bos, .eos_id = eos,
                                .unk_id = 0, .add_bos = 1};
    return RB_OK;
}

void rb_vocab_export_free(rb_vocab_export *v) {
    if (v->gguf) {
        gguf_vocab_hold *h = v->gguf;
        rb_gguf_vocab_free(&h->v);
        rb_gguf_close(&h->g);
        free(h);
    }
    free(v->pool);
    free(v->tokens);
    free(v->lens);
    free(v->scores);
    free(v->types);
    memset(v, 0, sizeof *v);
}
