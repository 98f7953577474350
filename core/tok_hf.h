/* An HF-tokenizers pipeline (internal to the tokenizer seam), built by the
 * tokenizer.json reader (core/tok_json.c) or from a GGUF "gpt2" vocabulary
 * (core/tok_vocab.c):
 *
 *   text (valid UTF-8, else an error naming the byte offset)
 *   -> added tokens: leftmost-longest match of their exact content on the raw
 *      text; each match is its id and is never split; the text between
 *      matches goes on, segment by segment
 *   -> normalizers, in order: Prepend(s) (non-empty segments only),
 *      Replace(a -> b) (every occurrence, left to right)
 *   -> pre-tokenizers (core/pretok.h)
 *   -> the BPE model on each piece (core/tok_bpe.h).
 *
 * Pieces for rb_tokenizer_piece / decode are in text bytes: byte-level pieces
 * mapped back, "▁" read as " ", added tokens as their content.
 */
#ifndef RB_TOK_HF_H
#define RB_TOK_HF_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "core/pretok.h"
#include "core/tok_bpe.h"

typedef struct rb_hf rb_hf;

rb_hf *rb_hf_new(const char *what); /* NULL: out of memory */
void rb_hf_free(rb_hf *h);
const char *rb_hf_what(const rb_hf *h);

/* Building, in any order, then rb_hf_finish once. */
void rb_hf_set_model(rb_hf *h, rb_bpe *bpe); /* takes ownership */
rb_pretok *rb_hf_pretok(rb_hf *h);           /* add pre-tokenizer steps to it */
int rb_hf_add_prepend(rb_hf *h, const char *s, size_t n, rb_error *err);
int rb_hf_add_replace(rb_hf *h, const char *from, size_t nf, const char *to, size_t nt,
                      rb_error *err);
/* An added token (content matched before the model); id may be a model id. */
int rb_hf_add_token(rb_hf *h, int32_t id, const char *s, size_t n, rb_error *err);
/* byte_level: pieces are in GPT-2's byte-level alphabet (decode maps back);
 * strip_after_bos: decode drops a leading space right after BOS. */
void rb_hf_set_decode(rb_hf *h, int byte_level, int strip_after_bos);
int rb_hf_finish(rb_hf *h, rb_error *err);

/* Using. */
int32_t rb_hf_size(const rb_hf *h); /* 1 + the largest id */
/* The id of an added token's content, else of a model piece, else -1. */
int32_t rb_hf_token_id(const rb_hf *h, const char *s, size_t n);
int rb_hf_encode(const rb_hf *h, const char *text, size_t len, rb_ids *out, rb_error *err);
const char *rb_hf_piece(const rb_hf *h, int32_t id, size_t *len);
const char *rb_hf_decode(const rb_hf *h, int32_t bos, int32_t prev, int32_t id, size_t *len);

#endif
