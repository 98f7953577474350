/* The BPE model of HF tokenizers (internal to the tokenizer seam): a vocabulary
 * of pieces (in the model's alphabet: byte-level "Ġthe" or SentencePiece
 * "▁the"), ranked merges, and the encoding of one pre-tokenized word.
 *
 * encode_word(word), HF tokenizers' BPE::merge_word:
 *   1. ignore_merges and the whole word is a piece: that piece;
 *   2. one symbol per UTF-8 character: its piece; else, with byte_fallback and
 *      a "<0xNN>" piece for each of its bytes, those; else unk (consecutive
 *      unks fused into one with fuse_unk); no unk token: an error;
 *   3. repeatedly merge the adjacent pair with the lowest merge rank (leftmost
 *      on ties) -- a heap of (rank, position) over a linked list of symbols,
 *      stale entries skipped, O(n log n) in the word's length.
 * The word must be valid UTF-8 (the caller checks the text once).
 */
#ifndef RB_TOK_BPE_H
#define RB_TOK_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct rb_bpe rb_bpe;

/* A growable id array; free a with free(). */
typedef struct rb_ids {
    int32_t *a;
    size_t n, cap;
} rb_ids;
int rb_ids_push(rb_ids *v, int32_t id); /* 0, or -1 out of memory */

/* n ids; pieces[i][0..lens[i]) is the piece of id i, or pieces[i] == NULL for
 * an id the model does not have (e.g. an added token).  Copies the pieces;
 * a duplicate piece is an error naming both ids. */
int rb_bpe_new(const char *what, int32_t n, const char *const *pieces, const size_t *lens,
               rb_bpe **out, rb_error *err);
void rb_bpe_free(rb_bpe *b);

/* Merge number `rank` (0 = applied first): left + right -> their concatenation.
 * All three must be pieces.  A repeated pair takes the later rank (as HF). */
int rb_bpe_add_merge(rb_bpe *b, const char *left, size_t nl, const char *right, size_t nr,
                     int32_t rank, rb_error *err);

/* Options; unk_id -1 = none. */
void rb_bpe_set_options(rb_bpe *b, int byte_fallback, int ignore_merges, int fuse_unk,
                        int32_t unk_id);

/* The id of a piece, or -1. */
int32_t rb_bpe_lookup(const rb_bpe *b, const char *s, size_t n);
/* The piece of an id ("" with *len 0 for holes and out-of-range ids). */
const char *rb_bpe_piece(const rb_bpe *b, int32_t id, size_t *len);
int32_t rb_bpe_size(const rb_bpe *b);

/* Appends the ids of word[0..len) to out.  The model is read-only here; the
 * scratch lives in the caller's workspace (zero-initialise it, free it with
 * rb_bpe_work_free), so threads may share one rb_bpe. */
typedef struct rb_bpe_work {
    void *sym;
    size_t sym_cap;
    uint64_t *heap;
    size_t heap_cap;
} rb_bpe_work;
int rb_bpe_encode_word(const rb_bpe *b, rb_bpe_work *w, const char *word, size_t len,
                       rb_ids *out, rb_error *err);
void rb_bpe_work_free(rb_bpe_work *w);

#endif
