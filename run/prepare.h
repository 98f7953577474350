/* The prepare sequence every run shares (rotbench eval, rotbench stats):
 * load the model and tokenizer a spec names, turn its quantizer flags into
 * an rb_quant_config, parse its pipeline, draw its calibration set.  Then
 * methods/prepare.h's rb_prepare_model runs the pipeline.
 *
 * Nothing here prints; errors name the flag, file and value. */
#ifndef RB_RUN_PREPARE_H
#define RB_RUN_PREPARE_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "core/calib.h"
#include "core/model.h"
#include "core/model_open.h"
#include "core/quant.h"
#include "core/tokenizer.h"
#include "methods/method.h"
#include "run/spec.h"

/* A loaded model and tokenizer with the paths they came from. */
typedef struct rb_run_model {
    char model_path[1024];
    char tokenizer_path[1024];
    char model_sha256[65];     /* "" unless hashed */
    char tokenizer_sha256[65];
    rb_model *model;           /* owned */
    rb_tokenizer *tokenizer;   /* owned; NULL when not requested */
    rb_model_info *info;       /* what the model's format knew (owned) */
} rb_run_model;

/* Resolves and opens s->model (name, file or Hugging Face directory; default
 * stories260K; rb_model_open) and, when want_tokenizer, s->tokenizer (name,
 * file or directory; default: the named model's, an HF directory's
 * tokenizer.json, or a GGUF file's embedded vocabulary), which must match
 * the model's vocabulary.  With want_hashes, model_sha256 is the sha256 of
 * the model's one file, or for a model of several files (HF) the sha256 of
 * their `sha256sum` listing ("<sha256>  <file name>\n" per file, in
 * info->files order); info->files[] has every file's own.  out is
 * overwritten; rb_run_model_free it (also on error). */
int rb_run_load(const rb_run_spec *s, int want_tokenizer, int want_hashes, rb_run_model *out,
                rb_error *err);
void rb_run_model_free(rb_run_model *m);

/* Adds m's "model", "model_sha256", [model_config (taken over) when not
 * NULL], "tokenizer", "tokenizer_sha256" and what its format knew
 * ("model_format", "model_architecture", "model_dtype", "model_dequantized"
 * when a quantized file was expanded, "model_max_context", "model_files"
 * [{path, sha256, bytes}]) to the record o. */
void rb_run_model_record(const rb_run_model *m, json_object *model_config, json_object *o);

/* Applies s->threads (0: all cores) to OpenMP and OpenBLAS (a process-wide
 * setting); returns the count. */
int rb_run_set_threads(const rb_run_spec *s);

/* The quantizers of s for a model of shape c: bits, granularities ("head" =
 * per token and head for K/V), clipping, asymmetry, static/dynamic.  q is
 * initialised here (rb_quant_config_free it, also on error). */
int rb_run_quant(const rb_run_spec *s, const rb_config *c, rb_quant_config *q, rb_error *err);

/* Parses s->pipeline and appends rtn when q quantizes weights and no stage
 * does. */
int rb_run_pipeline(const rb_run_spec *s, const rb_quant_config *q, rb_pipeline *p,
                    rb_error *err);

/* Tokenizes the calibration corpus (s->calib, else default_corpus: a name or
 * a file) with m's tokenizer and draws s->calib_windows windows of
 * s->calib_len tokens with s->seed after its first s->calib_skip tokens
 * (windows past the model's maximum context are refused unless
 * s->allow_long_ctx).  The corpus's path goes to path[cap]. */
int rb_run_calib(const rb_run_spec *s, const rb_run_model *m, const char *default_corpus,
                 rb_calib *out, char *path, size_t cap, rb_error *err);

#endif
