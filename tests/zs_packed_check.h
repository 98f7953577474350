/* The packed-versus-per-choice zero-shot check shared by test_zeroshot.c and
 * test_mmlu.c. */
#ifndef RB_TEST_ZS_PACKED_CHECK_H
#define RB_TEST_ZS_PACKED_CHECK_H

#include <stddef.h>

#include "eval/zeroshot.h"

/* Scores every item of t with rb_zeroshot (packed windows of pack_T tokens,
 * choices truncated to max_len, hooks may be NULL) and with rb_zs_score_item
 * (one forward per choice); expects equal log-prob sums up to a relative
 * 2e-6 (only float summation order may differ), equal acc, and, with exact,
 * bit-identical sums.  Fills *packed with rb_zeroshot's result and
 * *per_choice_tokens with the tokens the per-choice reference forwarded.
 * Owns nothing past the call. */
void rb_test_expect_packed_equals_per_choice(const rb_model *m, const rb_tokenizer *tk,
                                             const rb_zs_task *t, const rb_hooks *hooks,
                                             int pack_T, int max_len, int exact,
                                             rb_zs_result *packed, size_t *per_choice_tokens);

#endif
