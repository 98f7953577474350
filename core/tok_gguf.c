#include "core/tok_gguf.h"

#include "core/gguf.h"

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
    rb_vocab_desc d = {
        .kind = v.kind,
        .pre = v.pre[0] ? v.pre : NULL,
        .n_tokens = v.n_tokens,
        .tokens = v.tokens,
        .token_lens = v.token_lens,
        .scores = v.scores,
        .token_types = v.token_types,
        .n_merges = v.n_merges,
        .merges = v.merges,
        .merge_lens = v.merge_lens,
        .bos_id = v.bos_id,
        .eos_id = v.eos_id,
        .unk_id = v.unk_id,
        .add_bos = v.add_bos,
    };
    rc = rb_tokenizer_from_vocab(&d, path, out, err);
    rb_gguf_vocab_free(&v);
    rb_gguf_close(&g);
    return rc;
}
