/* rb_tokenizer_from_vocab: tokenizers from an in-memory vocabulary (what a
 * GGUF file embeds as tokenizer.ggml.*).
 *
 *   "llama"  SentencePiece pieces + scores, encoded exactly like a llama2.c
 *            file (core/tok_spm.h; "▁" in pieces read as " "; byte fallback
 *            through the "<0xNN>" pieces).  Control tokens are not matched in
 *            the text, as llama2.c does not.
 *   "gpt2"   byte-level BPE with ranked "left right" merges; `pre` names the
 *            pre-tokenizer: "llama-bpe" = Llama-3's Split regex + ByteLevel
 *            without its own regex, and ignore_merges (as llama.cpp sets it);
 *            "default" (or NULL) = ByteLevel with GPT-2's regex.  Control and
 *            user-defined tokens (types 3, 4) are added tokens, matched in
 *            the text before the model, as tokenizer.json does.
 * Anything else is refused by name.
 */
#include <stdlib.h>
#include <string.h>

#include "core/tok_hf.h"
#include "core/tok_spm.h"
#include "core/tokenizer_impl.h"

enum { GGUF_CONTROL = 3, GGUF_USER_DEFINED = 4, MAX_TOKENS = 1 << 24 };

static int check_desc(const rb_vocab_desc *d, const char *what, rb_error *err) {
    if (!d->kind)
        return rb_error_set(err, RB_EFORMAT, "%s: vocabulary without a model kind", what);
    if (d->n_tokens < 1 || d->n_tokens > MAX_TOKENS || !d->tokens || !d->token_lens)
        return rb_error_set(err, RB_EFORMAT, "%s: vocabulary of %d tokens (expected 1..%d, with "
                            "pieces and lengths)", what, d->n_tokens, MAX_TOKENS);
    for (int i = 0; i < d->n_tokens; i++)
        if (!d->tokens[i] && d->token_lens[i])
            return rb_error_set(err, RB_EFORMAT, "%s: token %d has no piece", what, i);
    const int ids[3] = {d->bos_id, d->eos_id, d->unk_id};
    const char *names[3] = {"bos", "eos", "unk"};
    for (int i = 0; i < 3; i++)
        if (ids[i] < -1 || ids[i] >= d->n_tokens)
            return rb_error_set(err, RB_EFORMAT, "%s: %s token id %d is outside 0..%d", what,
                                names[i], ids[i], d->n_tokens - 1);
    return RB_OK;
}

static int gpt2_pretok(rb_hf *h, const char *pre, const char *what, rb_error *err) {
    rb_pretok *p = rb_hf_pretok(h);
    if (!pre || !strcmp(pre, "default")) return rb_pretok_add_bytelevel(p, 0, 1, what, err);
    if (!strcmp(pre, "llama-bpe")) {
        int rc = rb_pretok_add_split(p, RB_REGEX_LLAMA3, strlen(RB_REGEX_LLAMA3),
                                     RB_SPLIT_ISOLATED, what, err);
        return rc ? rc : rb_pretok_add_bytelevel(p, 0, 0, what, err);
    }
    return rb_error_set(err, RB_EUNSUPPORTED,
                        "%s: pre-tokenizer \"%s\" (tokenizer.ggml.pre) is not supported (known: "
                        "llama-bpe, default)",
                        what, pre);
}

static int build_gpt2(const rb_vocab_desc *d, const char *what, rb_hf **out, rb_error *err) {
    rb_hf *h = rb_hf_new(what);
    if (!h) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", what);
    rb_bpe *bpe = NULL;
    int rc = rb_bpe_new(what, d->n_tokens, d->tokens, d->token_lens, &bpe, err);
    if (!rc) rb_hf_set_model(h, bpe);
    if (!rc && d->n_merges && (!d->merges || !d->merge_lens))
        rc = rb_error_set(err, RB_EFORMAT, "%s: %d merges without their strings", what, d->n_merges);
    for (int i = 0; !rc && i < d->n_merges; i++) {
        const char *m = d->merges[i];
        size_t n = d->merge_lens[i];
        const char *sp = m ? memchr(m, ' ', n) : NULL;
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - m)))
            rc = rb_error_set(err, RB_EFORMAT,
                              "%s: merge %d \"%.*s\" is not two pieces separated by one space",
                              what, i, (int)(n > 40 ? 40 : n), m ? m : "");
        else
            rc = rb_bpe_add_merge(bpe, m, (size_t)(sp - m), sp + 1, n - (size_t)(sp - m) - 1, i,
                                  err);
    }
    if (!rc) {
        int llama3 = d->pre && !strcmp(d->pre, "llama-bpe");
        rb_bpe_set_options(bpe, 0, llama3, 0, d->unk_id);
        rc = gpt2_pretok(h, d->pre, what, err);
    }
    for (int i = 0; !rc && d->token_types && i < d->n_tokens; i++)
        if ((d->token_types[i] == GGUF_CONTROL || d->token_types[i] == GGUF_USER_DEFINED) &&
            d->token_lens[i])
            rc = rb_hf_add_token(h, i, d->tokens[i], d->token_lens[i], err);
    if (!rc) {
        rb_hf_set_decode(h, 1, 0);
        rc = rb_hf_finish(h, err);
    }
    if (rc) {
        rb_hf_free(h);
        return rc;
    }
    *out = h;
    return RB_OK;
}

int rb_tokenizer_from_vocab(const rb_vocab_desc *d, const char *what, rb_tokenizer **out,
                            rb_error *err) {
    *out = NULL;
    if (!what) what = "vocabulary";
    if (!d) return rb_error_set(err, RB_EINVAL, "%s: no vocabulary", what);
    int rc = check_desc(d, what, err);
    if (rc) return rc;
    rb_tokenizer t = {0};
    t.bos = d->bos_id;
    t.eos = d->eos_id;
    t.adds_bos = d->add_bos < 0 ? -1 : !!d->add_bos;
    if (!strcmp(d->kind, "llama")) {
        if (!d->scores)
            return rb_error_set(err, RB_EFORMAT, "%s: \"llama\" vocabulary without scores", what);
        t.kind = RB_TOK_LLAMA2C;
        rc = rb_spm_from_pieces(what, d->n_tokens, d->tokens, d->token_lens, d->scores, &t.spm, err);
    } else if (!strcmp(d->kind, "gpt2")) {
        t.kind = RB_TOK_HF;
        rc = build_gpt2(d, what, &t.hf, err);
    } else {
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: tokenizer model \"%s\" is not supported (known: llama, gpt2)",
                            what, d->kind);
    }
    if (rc) return rc;
    return rb_tokenizer_wrap(&t, out, err);
}
