/* Calibration sets: N windows of L tokens drawn with a seed from a corpus,
 * and a helper that runs them through the forward with hooks (how methods
 * collect activation statistics, Hessians and covariances).
 *
 * Default corpus (rotbench eval): tinystories when the evaluated task is
 * wikitext2, else the wikitext2 file; a calibration corpus is never the one
 * scored in the same run.  --calib FILE overrides it. */
#ifndef RB_CALIB_H
#define RB_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "core/forward.h"

typedef struct rb_calib {
    int32_t *tokens;  /* [n_windows][window], owned */
    int n_windows;
    int window;
} rb_calib;

/* Draws n_windows start positions uniformly (with rb_rng seeded by seed)
 * from tokens[0 .. n - window] and copies the windows.  RB_EINVAL when the
 * stream is shorter than one window. */
int rb_calib_from_tokens(const int32_t *tokens, size_t n, int n_windows, int window,
                         uint64_t seed, rb_calib *out, rb_error *err);
void rb_calib_free(rb_calib *c);

/* Runs every calibration window through rb_forward with hooks (logits are
 * computed and discarded). */
int rb_calib_forward(const rb_model *m, const rb_calib *c, const rb_hooks *hooks, rb_error *err);

/* The calibration windows layer by layer, for stages that change layer l
 * before they look at layer l + 1 (GPTQ, SmoothQuant's α search): each
 * window's residual stream is kept, so looking at layer l runs layer l
 * alone, not every earlier layer again.  Bit for bit what rb_forward from
 * the embedding through the model as it is computes (the same layer
 * buffers, core/forward.h rb_workspace_layer_bufs).
 * Memory: n_windows · window · dim floats, plus one workspace. */
typedef struct rb_calib_stream {
    const rb_calib *calib; /* not owned */
    int n_windows;         /* the first n_windows windows of calib */
    int layer;             /* the layer the stream enters next */
    float *x;              /* [n_windows][window][dim], owned */
    rb_workspace ws;
    rb_layer_bufs bufs;
} rb_calib_stream;

/* The embeddings of the first n_windows (≤ calib->n_windows) windows;
 * RB_EINVAL for token ids outside the vocabulary. */
int rb_calib_stream_init(rb_calib_stream *s, const rb_model *m, const rb_calib *calib,
                         int n_windows, rb_error *err);
/* Runs layer s->layer of m with hooks on a copy of window w's stream (the
 * stream is unchanged); a hook's nonzero return stops the layer and is
 * returned as is (a stage's "enough" code, or an error). */
int rb_calib_stream_look(rb_calib_stream *s, const rb_model *m, int w, const rb_hooks *hooks,
                         rb_error *err);
/* Carries every window's stream through layer s->layer as m has it now
 * (no hooks) and moves on to the next layer. */
int rb_calib_stream_advance(rb_calib_stream *s, const rb_model *m, rb_error *err);
void rb_calib_stream_free(rb_calib_stream *s);

#endif
