/* HF tokenizers `tokenizer.json` (+ tokenizer_config.json) -> rb_hf
 * (internal to the tokenizer seam; see core/tokenizer.h for the BOS rules).
 *
 * Supported (anything else is refused by name, RB_EUNSUPPORTED):
 *   model          BPE: vocab, merges ("a b" strings or [a, b] arrays),
 *                  unk_token, fuse_unk, byte_fallback, ignore_merges; dropout
 *                  null, no continuing_subword_prefix / end_of_word_suffix
 *   added_tokens   id + content (single_word / lstrip / rstrip must be false;
 *                  `normalized` tokens are matched on the raw text too)
 *   normalizer     null, Sequence, Prepend, Replace (String pattern)
 *   pre_tokenizer  null, Sequence, Split (Regex or String pattern, behavior
 *                  Isolated / Removed / MergedWithPrevious / MergedWithNext /
 *                  Contiguous, invert false), ByteLevel (add_prefix_space,
 *                  use_regex)
 *   post_processor null, ByteLevel, TemplateProcessing (its leading special
 *                  token is the file's BOS), Sequence of these
 *   decoder        not read: decoding follows the pre-tokenizer (byte-level
 *                  or "▁" = " ")
 */
#ifndef RB_TOK_JSON_H
#define RB_TOK_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "core/tok_hf.h"

typedef struct rb_hf_specials {
    int32_t bos, eos; /* -1: none */
    int adds_bos;     /* what the files say: 1, 0, -1 unknown */
} rb_hf_specials;

/* path: the tokenizer.json file; tokenizer_config.json is read from the same
 * directory when it exists. */
int rb_tok_json_load(const char *path, rb_hf **out, rb_hf_specials *sp, rb_error *err);

/* The same from memory (config may be NULL); `what` names the file in errors. */
int rb_tok_json_parse(const char *what, const char *json, size_t len, const char *config,
                      size_t config_len, rb_hf **out, rb_hf_specials *sp, rb_error *err);

#endif
