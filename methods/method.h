/* The method interface: pipeline stages that transform a model.
 *
 * A pipeline is written "name:key=value:key=value,name,..." (e.g.
 * "smoothquant:alpha=0.5,gptq:act_order=1").  Each method declares its options
 * (name, type, default, range, help); rb_pipeline_parse validates them and
 * reports unknown methods, unknown keys and bad values as RB_EINVAL naming
 * the stage.  Stages run in order on one rb_stage_ctx; everything a stage
 * changes lives in the model (weights) or in ctx->quant (quantizer settings,
 * static scales, online transforms), so the model can be saved after any
 * stage. */
#ifndef RB_METHODS_METHOD_H
#define RB_METHODS_METHOD_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "core/calib.h"
#include "base/error.h"
#include "base/progress.h"
#include "core/model.h"
#include "core/quant.h"

/* RB_OPT_CHOICE: one of the names in `choices` (NULL-terminated), held as
 * its index; lo = 0 and hi = the last index.
 * RB_OPT_TEXT: free text (a file path), read with rb_opt_get_text; it cannot
 * contain ':' or ',' (the pipeline's separators); the default is "" (def,
 * lo, hi unused). */
typedef enum rb_opt_type {
    RB_OPT_FLOAT, RB_OPT_INT, RB_OPT_BOOL, RB_OPT_CHOICE, RB_OPT_TEXT
} rb_opt_type;

typedef struct rb_option_spec {
    const char *name;
    rb_opt_type type;
    double def, lo, hi; /* default and inclusive range (bools: 0/1) */
    const char *help;
    const char *const *choices; /* RB_OPT_CHOICE only */
} rb_option_spec;

enum { RB_MAX_OPTIONS = 24, RB_MAX_STAGES = 16, RB_OPT_TEXT_BYTES = 512 };

/* Parsed, validated option values of one stage, by index into the method's
 * option specs (unset options hold their defaults).  Text options keep their
 * NUL-terminated values in `text`, value[i] being the offset. */
typedef struct rb_stage_opts {
    double value[RB_MAX_OPTIONS];
    int set[RB_MAX_OPTIONS];
    char text[RB_OPT_TEXT_BYTES];
} rb_stage_opts;

/* What a stage works on. */
typedef struct rb_stage_ctx {
    rb_model *model;
    const rb_calib *calib;   /* calibration windows (may be NULL if no stage needs them) */
    rb_quant_config *quant;  /* weight/activation/KV quantizer settings */
    uint64_t seed;           /* the run's seed (rotations, sampling) */
    const rb_log *log;       /* progress lines ("gptq: layer 2/6 done, 0.4 s"); may be NULL */
    /* What a stage chose that the result record keeps (smoothquant's searched
     * α per layer): a stage adds one member named after itself.  May be NULL
     * (nothing recorded); owned by the caller. */
    json_object *notes;
} rb_stage_ctx;

typedef struct rb_method {
    const char *name;
    const char *help;
    const rb_option_spec *options; /* terminated by {NULL} */
    int quantizes_weights;         /* applies ctx->quant->w itself (rtn, gptq) */
    int (*apply)(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err);
} rb_method;

typedef struct rb_stage {
    const rb_method *method;
    rb_stage_opts opts;
} rb_stage;

typedef struct rb_pipeline {
    int n;
    rb_stage stages[RB_MAX_STAGES];
} rb_pipeline;

/* The registry (methods/registry.c). NULL if unknown. */
const rb_method *rb_method_find(const char *name);
/* Comma-separated names of all methods into buf (returned), for messages. */
const char *rb_method_names(char *buf, size_t cap);
/* NULL-terminated array of all methods. */
const rb_method *const *rb_method_all(void);

int rb_pipeline_parse(const char *text, rb_pipeline *out, rb_error *err);
/* Canonical text of a pipeline with every option written out, e.g.
 * "smoothquant:alpha=0.5:fc_fc=0"; buf of cap bytes. */
void rb_pipeline_format(const rb_pipeline *p, char *buf, size_t cap);
/* Runs the stages in order; errors are prefixed with the stage name. */
int rb_pipeline_apply(const rb_pipeline *p, rb_stage_ctx *ctx, rb_error *err);

/* Option value by name (the method's default if unset); aborts on a name the
 * method does not declare (a programming error, not an input error). */
double rb_opt_get(const rb_method *m, const rb_stage_opts *o, const char *name);
/* A text option's value ("" if unset); aborts like rb_opt_get, also for an
 * option that is not RB_OPT_TEXT. */
const char *rb_opt_get_text(const rb_method *m, const rb_stage_opts *o, const char *name);

#endif
