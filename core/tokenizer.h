/* Tokenizers: one opaque rb_tokenizer behind one open function, three kinds.
 *
 *   RB_TOK_LLAMA2C  llama2.c tokenizer files (SentencePiece pieces + scores),
 *                   core/tok_spm.c; also GGUF "llama" vocabularies.
 *   RB_TOK_HF       HF tokenizers `tokenizer.json` (BPE model, normalizers,
 *                   pre-tokenizers, added tokens), core/tok_json.c +
 *                   core/tok_hf.c; also GGUF "gpt2" vocabularies.
 *
 * rb_tokenizer_open recognises the kind from the path: a directory means its
 * tokenizer.json; a file whose name ends in ".json" or whose content starts
 * (after white space) with '{' is a tokenizer.json; anything else is a
 * llama2.c file.  A tokenizer.json's BOS comes from tokenizer_config.json in
 * the same directory (bos_token, add_bos_token) when there is one, else from
 * the post_processor (TemplateProcessing's leading special token).
 *
 * BOS convention: evaluation windows start with BOS.  Callers pass
 * add_bos = 1 and get rb_tokenizer_bos(t) first (nothing when it is -1).
 * For Llama-3's original tokenizer.json (its post_processor adds nothing) the
 * BOS is <|begin_of_text|> = 128000, named by tokenizer_config.json.
 *
 * llama2.c encoding follows llama2.c run.c `encode` (see core/tok_spm.h):
 * optional BOS, the " " dummy prefix, code points or byte fallback, highest-
 * score merges; O(n log n).
 */
#ifndef RB_TOKENIZER_H
#define RB_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct rb_tokenizer rb_tokenizer;

/* Ids of the llama2.c vocabularies (tok512, Llama-2).  Code that works with
 * any tokenizer asks rb_tokenizer_bos / rb_tokenizer_eos instead. */
enum { RB_TOKEN_UNK = 0, RB_TOKEN_BOS = 1, RB_TOKEN_EOS = 2 };

typedef enum rb_tokenizer_kind { RB_TOK_LLAMA2C = 1, RB_TOK_HF = 2 } rb_tokenizer_kind;

/* Opens `path` (file or directory, see above; a GGUF file, by its magic,
 * gives its embedded vocabulary: core/tok_gguf.h).  Malformed or unsupported
 * content is RB_EFORMAT / RB_EUNSUPPORTED with the file and the field. */
int rb_tokenizer_open(const char *path, rb_tokenizer **out, rb_error *err);

/* Loads a llama2.c tokenizer file.  Validates every length against the file
 * size; a truncated or malformed file is RB_EFORMAT with the file name and
 * the offending entry. */
int rb_tokenizer_load(const char *path, rb_tokenizer **out, rb_error *err);

/* An in-memory vocabulary, as a GGUF file embeds it (tokenizer.ggml.*). */
typedef struct rb_vocab_desc {
    const char *kind;             /* "llama" (SentencePiece scores, as llama2.c) or "gpt2" (BPE merges) */
    const char *pre;              /* gpt2: tokenizer.ggml.pre ("llama-bpe", "default", ...), else NULL */
    int n_tokens;
    const char *const *tokens;    /* [n_tokens] pieces, not NUL-terminated */
    const size_t *token_lens;     /* [n_tokens] */
    const float *scores;          /* llama: [n_tokens]; NULL for gpt2 */
    const int32_t *token_types;   /* [n_tokens] GGUF types (1 normal, 2 unknown, 3 control,
                                   * 4 user-defined, 5 unused, 6 byte) or NULL */
    int n_merges;
    const char *const *merges;    /* gpt2: [n_merges] "left right" strings, ranked by order */
    const size_t *merge_lens;
    int bos_id, eos_id, unk_id;   /* -1 when absent */
    int add_bos;                  /* -1 unknown, 0, 1 */
} rb_vocab_desc;
/* Copies what it needs; `what` names the source in errors (e.g. the GGUF path). */
int rb_tokenizer_from_vocab(const rb_vocab_desc *d, const char *what, rb_tokenizer **out,
                            rb_error *err);
int rb_tokenizer_bos(const rb_tokenizer *t);   /* BOS id, or -1 */

void rb_tokenizer_free(rb_tokenizer *t);

rb_tokenizer_kind rb_tokenizer_kind_of(const rb_tokenizer *t);
int rb_tokenizer_eos(const rb_tokenizer *t);   /* EOS id, or -1 */
/* What the file itself says about adding BOS: 1, 0, or -1 when it says
 * nothing.  Informational: the evaluator always starts windows with BOS. */
int rb_tokenizer_file_adds_bos(const rb_tokenizer *t);
int rb_tokenizer_vocab_size(const rb_tokenizer *t);

/* Encodes text[0..len) (need not be NUL terminated).  add_bos prepends
 * rb_tokenizer_bos(t) (when >= 0), add_eos appends rb_tokenizer_eos(t).  On
 * success *tokens is a malloc'd array of *n_tokens ids that the caller frees. */
int rb_tokenizer_encode(const rb_tokenizer *t, const char *text, size_t len,
                        int add_bos, int add_eos, int32_t **tokens,
                        size_t *n_tokens, rb_error *err);

/* The bytes `token` decodes to when it follows `prev_token`, like llama2.c's
 * decode: a leading space is dropped right after BOS, and "<0xNN>" pieces
 * decode to the single byte NN.  Returns a pointer owned by t (valid until
 * rb_tokenizer_free) and its length in *len.  Out-of-range ids give "". */
const char *rb_tokenizer_decode(const rb_tokenizer *t, int32_t prev_token,
                                int32_t token, size_t *len);

/* The piece of a token in text bytes (llama2.c: the raw piece; tokenizer.json:
 * byte-level pieces mapped back to bytes and "▁" read as " ", "<0xNN>" kept),
 * and its score (llama2.c; NAN for BPE vocabularies).  For tests and tools. */
const char *rb_tokenizer_piece(const rb_tokenizer *t, int32_t token, size_t *len);
float rb_tokenizer_score(const rb_tokenizer *t, int32_t token);

#endif
