/* Sweeps: a JSON config (eval/sweep_config.h) expanded into runs
 * (eval/sweep_expand.h); run/sweep.h runs them as child `rotbench eval`
 * processes and appends their records to a JSON Lines results file. */
#ifndef RB_SWEEP_H
#define RB_SWEEP_H

#include "eval/sweep_config.h"
#include "eval/sweep_expand.h"

#endif
