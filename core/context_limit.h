/* The longest window a model may be run on, and the one check every
 * evaluation path makes against it (perplexity windows, zero-shot windows,
 * calibration and training windows).
 *
 * A model's maximum position is what its format says it was trained for:
 * rb_config.seq_len (llama2.c: the header's seq_len; a loader for another
 * format fills it from that format's field, e.g. max_position_embeddings or
 * llama.context_length).  Past it RoPE runs on positions the model never
 * saw, so a perplexity there is not comparable: refused unless the caller
 * allows it explicitly (and then records that it did). */
#ifndef RB_CONTEXT_LIMIT_H
#define RB_CONTEXT_LIMIT_H

#include "base/error.h"
#include "core/model.h"

/* The model's maximum context in tokens (> 0 for a loaded model). */
int rb_model_max_ctx(const rb_config *c);

/* RB_OK when a window of ctx tokens fits c (ctx <= rb_model_max_ctx(c)) or
 * allow_long; else RB_EINVAL with a message naming what (the setting, e.g.
 * "--ctx"), ctx, model (the model's file, for the message; may be NULL) and
 * the maximum, and pointing at --allow-long-ctx. */
int rb_ctx_check(const rb_config *c, long ctx, int allow_long, const char *what,
                 const char *model, rb_error *err);

#endif
