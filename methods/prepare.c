/* The preparation of a model for one evaluation (DESIGN.md data flow 3-4):
 * pipeline stages, implicit RTN, static calibration. */
#include "methods/prepare.h"

extern const rb_method rb_method_rtn;

int rb_pipeline_complete(rb_pipeline *p, const rb_quant_config *q, rb_error *err) {
    if (!rb_quant_weights_on(q)) return RB_OK;
    for (int s = 0; s < p->n; s++)
        if (p->stages[s].method->quantizes_weights) return RB_OK;
    if (p->n == RB_MAX_STAGES)
        return rb_error_set(err, RB_EINVAL, "no room to append the rtn stage");
    p->stages[p->n].method = &rb_method_rtn;
    p->stages[p->n].opts = (rb_stage_opts){{0}, {0}, {0}};
    p->n++;
    return RB_OK;
}

int rb_prepare_model_notes(rb_model *m, const rb_pipeline *p, rb_quant_config *q,
                           const rb_calib *calib, uint64_t seed, const rb_log *log,
                           json_object *notes, rb_error *err) {
    return rb_prepare_model_tap(m, p, q, calib, seed, log, notes, NULL, NULL, err);
}

int rb_prepare_model_tap(rb_model *m, const rb_pipeline *p, rb_quant_config *q,
                         const rb_calib *calib, uint64_t seed, const rb_log *log,
                         json_object *notes, rb_prepare_tap tap, void *tap_ctx, rb_error *err) {
    int rc = rb_quant_config_check(q, &m->cfg, err);
    if (rc) return rc;
    q->override_layers = m->cfg.n_layers; /* --a-override's negative layer indices */
    /* the stages rewrite weights: copy-on-write faults page by page would
     * cost more than one copy */
    if (p->n > 0 && (rc = rb_model_own_weights(m, err))) return rc;
    rb_stage_ctx ctx = {m, calib, q, seed, log, notes};
    /* the stages before the first weight quantizer, the tap, the rest */
    rb_pipeline head = {0}, tail = {0};
    int cut = p->n;
    for (int s = 0; s < p->n && cut == p->n; s++)
        if (p->stages[s].method->quantizes_weights) cut = s;
    for (int s = 0; s < p->n; s++) {
        rb_pipeline *to = s < cut ? &head : &tail;
        to->stages[to->n++] = p->stages[s];
    }
    if ((rc = rb_pipeline_apply(&head, &ctx, err))) return rc;
    if (tap && (rc = tap(tap_ctx, m, q, err))) return rc;
    if ((rc = rb_pipeline_apply(&tail, &ctx, err))) return rc;
    return rb_quant_calibrate(q, m, calib, err);
}

int rb_prepare_model(rb_model *m, const rb_pipeline *p, rb_quant_config *q,
                     const rb_calib *calib, uint64_t seed, const rb_log *log, rb_error *err) {
    return rb_prepare_model_tap(m, p, q, calib, seed, log, NULL, NULL, NULL, err);
}
