/* Pre-tokenizers of HF tokenizers (internal to the tokenizer seam): a
 * sequence of steps, each cutting every piece of the text further.
 *
 *   Split(regex, behavior)   PCRE2 in UTF + UCP mode (so \p{L}, \p{N}, \s,
 *                            (?i:...) and look-ahead behave as in HF's
 *                            Oniguruma: PCRE2's UCP \s is U+0009..U+000D,
 *                            U+0085 and Z, as Oniguruma's, so U+FEFF is not
 *                            white space, unlike ECMAScript's \s);
 *                            behaviors Isolated, Removed,
 *                            MergedWithPrevious, MergedWithNext, Contiguous.
 *   ByteLevel(add_prefix_space, use_regex)
 *                            optional " " before each piece not starting with
 *                            one, optional GPT-2 regex split (Isolated), then
 *                            every byte of the piece written as its GPT-2
 *                            byte-level character (bytes_to_unicode).
 *
 * Pieces are (offset, length) spans in one buffer the work struct owns; the
 * input must be valid UTF-8 (the caller checks once).
 */
#ifndef RB_PRETOK_H
#define RB_PRETOK_H

#include <stddef.h>

#include "base/error.h"

typedef enum rb_split_behavior {
    RB_SPLIT_ISOLATED,
    RB_SPLIT_REMOVED,
    RB_SPLIT_MERGED_WITH_PREVIOUS,
    RB_SPLIT_MERGED_WITH_NEXT,
    RB_SPLIT_CONTIGUOUS,
} rb_split_behavior;

/* GPT-2's pattern (ByteLevel use_regex, GGUF pre "default") and Llama-3's
 * (GGUF pre "llama-bpe"). */
extern const char RB_REGEX_GPT2[];
extern const char RB_REGEX_LLAMA3[];

typedef struct rb_pretok rb_pretok;

rb_pretok *rb_pretok_new(void); /* NULL: out of memory */
void rb_pretok_free(rb_pretok *p);
/* `what` names the component in errors (e.g. "tok.json: pre_tokenizer[0]"). */
int rb_pretok_add_split(rb_pretok *p, const char *pattern, size_t len, rb_split_behavior b,
                        const char *what, rb_error *err);
int rb_pretok_add_bytelevel(rb_pretok *p, int add_prefix_space, int use_regex, const char *what,
                            rb_error *err);
int rb_pretok_n_steps(const rb_pretok *p);

/* The pieces of one run: piece i = buf[off[i] .. off[i] + len[i]). */
typedef struct rb_pieces {
    char *buf;
    size_t n_buf, cap_buf;
    size_t *off, *len;
    size_t n, cap;
} rb_pieces;

/* Scratch for rb_pretok_run: zero-initialise, free with rb_pretok_work_free. */
typedef struct rb_pretok_work {
    rb_pieces a, b;
    void *match_data;
} rb_pretok_work;
void rb_pretok_work_free(rb_pretok_work *w);

/* Runs every step on text[0..len); *out points into w (valid until the next
 * run).  With no steps the text is one piece. */
int rb_pretok_run(const rb_pretok *p, rb_pretok_work *w, const char *text, size_t len,
                  const rb_pieces **out, rb_error *err);

/* GPT-2 byte-level alphabet: the UTF-8 of byte b's character (1 or 2 bytes)
 * into dst, returning its length; and the inverse on one character of s
 * (returns the byte, or -1 if s[0..n) does not start with one; *used = its
 * length). */
int rb_bytelevel_char(unsigned char b, char dst[2]);
int rb_bytelevel_byte(const char *s, size_t n, size_t *used);

#endif
