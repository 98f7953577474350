/* The tokenizer seam's struct, shared by core/tokenizer.c (open, dispatch)
 * and core/tok_vocab.c (in-memory vocabularies).  Not for other modules. */
#ifndef RB_TOKENIZER_IMPL_H
#define RB_TOKENIZER_IMPL_H

#include "core/tok_hf.h"
#include "core/tok_spm.h"
#include "core/tokenizer.h"

struct rb_tokenizer {
    rb_tokenizer_kind kind;
    rb_spm *spm;      /* RB_TOK_LLAMA2C */
    rb_hf *hf;        /* RB_TOK_HF */
    int32_t bos, eos; /* -1: none */
    int adds_bos;     /* what the file says: 1, 0, -1 unknown */
};

/* Moves *t (its spm or hf) into a new heap rb_tokenizer; frees them on failure. */
int rb_tokenizer_wrap(const rb_tokenizer *t, rb_tokenizer **out, rb_error *err);

#endif
