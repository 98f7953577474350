/* llama2.c tokenizer files: load, encode (exactly like llama2.c's encode, in
 * O(n log n)), decode.
 *
 * File layout (little-endian): int32 max_token_length, then for every token
 * until end of file: float32 score, int32 length, `length` bytes (not NUL
 * terminated).  The vocabulary size is the number of entries in the file.
 *
 * Encoding follows llama2.c run.c `encode`:
 *   - optional BOS (id 1);
 *   - for non-empty text, the token for " " (dummy prefix) first;
 *   - text split into UTF-8 code points; each code point that is a vocabulary
 *     piece becomes that token, otherwise each of its bytes becomes the byte
 *     fallback token (byte + 3);
 *   - repeatedly merge the adjacent pair whose concatenation is in the
 *     vocabulary with the highest score (leftmost pair on ties) until no pair
 *     merges;
 *   - optional EOS (id 2).
 * The merge loop uses a heap + linked list, so a megabyte of text encodes in
 * well under a second, with results identical to the quadratic loop.
 */
#ifndef RB_TOKENIZER_H
#define RB_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct rb_tokenizer rb_tokenizer;

enum { RB_TOKEN_UNK = 0, RB_TOKEN_BOS = 1, RB_TOKEN_EOS = 2 };

/* Loads `path`.  Validates every length against the file size; a truncated or
 * malformed file is RB_EFORMAT with the file name and the offending entry. */
int rb_tokenizer_load(const char *path, rb_tokenizer **out, rb_error *err);
void rb_tokenizer_free(rb_tokenizer *t);

int rb_tokenizer_vocab_size(const rb_tokenizer *t);

/* Encodes text[0..len) (need not be NUL terminated).  On success *tokens is a
 * malloc'd array of *n_tokens ids that the caller frees. */
int rb_tokenizer_encode(const rb_tokenizer *t, const char *text, size_t len,
                        int add_bos, int add_eos, int32_t **tokens,
                        size_t *n_tokens, rb_error *err);

/* The bytes `token` decodes to when it follows `prev_token`, like llama2.c's
 * decode: a leading space is dropped right after BOS, and "<0xNN>" pieces
 * decode to the single byte NN.  Returns a pointer owned by t (valid until
 * rb_tokenizer_free) and its length in *len.  Out-of-range ids give "". */
const char *rb_tokenizer_decode(const rb_tokenizer *t, int32_t prev_token,
                                int32_t token, size_t *len);

/* The raw vocabulary piece and score of a token (for tests and tools). */
const char *rb_tokenizer_piece(const rb_tokenizer *t, int32_t token, size_t *len);
float rb_tokenizer_score(const rb_tokenizer *t, int32_t token);

#endif
