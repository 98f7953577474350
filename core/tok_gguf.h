/* The tokenizer a GGUF file embeds (tokenizer.ggml.*), built through
 * rb_tokenizer_from_vocab: "llama" vocabularies (SentencePiece scores, as
 * llama2.c) and "gpt2" ones (BPE merges with tokenizer.ggml.pre naming the
 * pre-tokenizer). */
#ifndef RB_TOK_GGUF_H
#define RB_TOK_GGUF_H

#include "base/error.h"
#include "core/tokenizer.h"

/* Opens the GGUF file at path, reads its vocabulary and builds the
 * tokenizer (*out owned by the caller, rb_tokenizer_free).  RB_EFORMAT when
 * the file has no tokenizer.ggml.tokens or a key is malformed (named). */
int rb_gguf_tokenizer_open(const char *path, rb_tokenizer **out, rb_error *err);

#endif
