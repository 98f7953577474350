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

/* A vocabulary to embed in a GGUF file that a writer takes as an
 * rb_vocab_desc (core/model_save.h), with the storage it points into.
 *   from a GGUF file: its tokenizer.ggml.* as they are (rb_vocab_from_gguf;
 *     the file stays mapped until rb_vocab_export_free);
 *   from a llama2.c-kind tokenizer (llama2.c file or GGUF "llama"):
 *     rb_vocab_from_tokenizer writes what llama.cpp's
 *     convert-llama2c-to-ggml writes: kind "llama", each piece with " " as
 *     "▁" (U+2581), its score, type 2 (unknown) for id 0, 3 (control) for
 *     BOS/EOS with their pieces trimmed of white space ("\n<s>\n" → "<s>"),
 *     6 (byte) for "<0xNN>", else 1; bos 1, eos 2, unk 0, and (unlike the
 *     converter) add_bos_token true: rotbench starts every window with BOS,
 *     and so llama.cpp does too.  HF tokenizer.json
 *     vocabularies are refused (RB_EUNSUPPORTED). */
typedef struct rb_vocab_export {
    rb_vocab_desc desc;
    /* owned storage */
    char *pool;
    const char **tokens;
    size_t *lens;
    float *scores;
    int32_t *types;
    void *gguf;   /* an open rb_gguf + its vocabulary, or NULL */
} rb_vocab_export;
int rb_vocab_from_gguf(const char *path, rb_vocab_export *out, rb_error *err);
int rb_vocab_from_tokenizer(const rb_tokenizer *t, rb_vocab_export *out, rb_error *err);
void rb_vocab_export_free(rb_vocab_export *v);

#endif
