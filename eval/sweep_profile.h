/* Sweep profiles: named reductions of a sweep config, written in the config
 * itself (eval/sweep_profile.c), e.g. the `ci` profile the paper test suite
 * runs from scratch (README "Sweeps", "Profiles").
 *
 *   "profiles": {
 *     "ci": {
 *       "description": "why and how this is smaller",
 *       "results": "results/ci/w8a8_grid.jsonl",   optional; default
 *                                                  results/<profile>/<name>.jsonl
 *       "base": {"max-tokens": 16384},             eval flags over the config's base
 *                                                  (each key overrides, "pipeline"
 *                                                  too; false drops a key)
 *       "keep": {"seed": ["1", "2"]},              per axis, the labels kept (in the
 *                                                  axis's order); the others are
 *                                                  dropped, with them from "exclude",
 *                                                  and the tables and plots whose
 *                                                  "where" names one are left out
 *       "values": {"method": {"SpinQuant+RTN": {"pipeline": "spinquant:iters=8,rtn"}}}
 *                                                  per axis and label, eval flags
 *                                                  over that value's args (override)
 *     }
 *   }
 *
 * A profile's name is file-name safe ([A-Za-z0-9_.-]).  Applying a profile
 * gives an ordinary config (the "profiles" key removed), parsed and
 * validated as any other: the run keys are the canonical JSON of the reduced
 * runs' args, so reduced and full records never share a key. */
#ifndef RB_SWEEP_PROFILE_H
#define RB_SWEEP_PROFILE_H

#include <json-c/json.h>

#include "base/error.h"
#include "eval/sweep_config.h"

/* Validates root's "profiles" (absent is fine) against cfg, the config
 * parsed from root without a profile: unknown keys, axes and labels that do
 * not exist, args that are no eval flags.  Messages name the file and the
 * JSON path ("configs/x.json: profiles.ci.keep.seed[0]: axis \"seed\" has no
 * label \"9\""). */
int rb_sweep_profiles_check(const rb_sweep_config *cfg, json_object *root, rb_error *err);

/* A new root (owned by the caller; json_object_put) that is root with the
 * profile named name applied and "profiles" removed.  RB_EINVAL naming the
 * file and the profiles the config has when there is no such profile.
 * root must have passed rb_sweep_profiles_check. */
int rb_sweep_profile_apply(const rb_sweep_config *cfg, json_object *root, const char *name,
                           json_object **out, rb_error *err);

#endif
