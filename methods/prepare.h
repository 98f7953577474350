/* Preparing a model for an evaluation: run the pipeline, then calibrate the
 * static quantizers on the transformed model. */
#ifndef RB_METHODS_PREPARE_H
#define RB_METHODS_PREPARE_H

#include "methods/method.h"

/* Appends an rtn stage when weights are to be quantized (q->w on) and no
 * stage quantizes them itself. */
int rb_pipeline_complete(rb_pipeline *p, const rb_quant_config *q, rb_error *err);

/* Checks q against m, applies p's stages to m (in place) with calib, then
 * calibrates q's static activation/KV parameters on the transformed model.
 * The stages report progress through log (may be NULL: silent). */
int rb_prepare_model(rb_model *m, const rb_pipeline *p, rb_quant_config *q,
                     const rb_calib *calib, uint64_t seed, const rb_log *log, rb_error *err);
/* The same, with the stages' notes (rb_stage_ctx.notes) added to `notes` (a
 * JSON object, or NULL). */
int rb_prepare_model_notes(rb_model *m, const rb_pipeline *p, rb_quant_config *q,
                           const rb_calib *calib, uint64_t seed, const rb_log *log,
                           json_object *notes, rb_error *err);

/* A look at the model between the transforms and the weight quantizers:
 * called once, after the stages before the first one that quantizes weights
 * (rtn, gptq) and before it (after all stages when none does); a failure
 * stops the preparation.  LLMC's save_trans point. */
typedef int (*rb_prepare_tap)(void *ctx, const rb_model *m, const rb_quant_config *q,
                              rb_error *err);

/* rb_prepare_model_notes with tap (may be NULL) called at that point. */
int rb_prepare_model_tap(rb_model *m, const rb_pipeline *p, rb_quant_config *q,
                         const rb_calib *calib, uint64_t seed, const rb_log *log,
                         json_object *notes, rb_prepare_tap tap, void *tap_ctx, rb_error *err);

#endif
