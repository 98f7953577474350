/* llama2.c / SentencePiece-score tokenizer (internal to the tokenizer seam,
 * core/tokenizer.c): load, encode (exactly like llama2.c's encode, in
 * O(n log n)), decode.
 *
 * File layout (little-endian): int32 max_token_length, then for every token
 * until end of file: float32 score, int32 length, `length` bytes (not NUL
 * terminated).  The vocabulary size is the number of entries in the file.
 *
 * Encoding follows llama2.c run.c `encode`:
 *   - optional BOS;
 *   - for non-empty text, the token for " " (dummy prefix) first;
 *   - text split into UTF-8 code points; each code point that is a vocabulary
 *     piece becomes that token, otherwise each of its bytes becomes the byte
 *     fallback token (file: byte + 3; in-memory pieces: the "<0xNN>" piece);
 *   - repeatedly merge the adjacent pair whose concatenation is in the
 *     vocabulary with the highest score (leftmost pair on ties) until no pair
 *     merges;
 *   - optional EOS.
 * The merge loop uses a heap + linked list, so a megabyte of text encodes in
 * well under a second, with results identical to the quadratic loop.
 */
#ifndef RB_TOK_SPM_H
#define RB_TOK_SPM_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct rb_spm rb_spm;

/* A llama2.c tokenizer file; every length validated against the file size. */
int rb_spm_load(const char *path, rb_spm **out, rb_error *err);
/* n pieces (pieces[i][0..lens[i]), not NUL terminated; U+2581 "▁" is read as
 * " ", as llama2.c's export writes it) with their scores; copies them.
 * `what` names the source in errors. */
int rb_spm_from_pieces(const char *what, int32_t n, const char *const *pieces,
                       const size_t *lens, const float *scores, rb_spm **out, rb_error *err);
void rb_spm_free(rb_spm *t);

int rb_spm_vocab_size(const rb_spm *t);
/* bos / eos: ids to put first / last, or -1 for none.  *tokens is malloc'd. */
int rb_spm_encode(const rb_spm *t, const char *text, size_t len, int32_t bos, int32_t eos,
                  int32_t **tokens, size_t *n_tokens, rb_error *err);
/* As rb_tokenizer_decode; `bos` is the id after which a leading space drops. */
const char *rb_spm_decode(const rb_spm *t, int32_t bos, int32_t prev_token, int32_t token,
                          size_t *len);
const char *rb_spm_piece(const rb_spm *t, int32_t token, size_t *len);
float rb_spm_score(const rb_spm *t, int32_t token);

#endif
