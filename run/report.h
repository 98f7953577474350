/* How a run reports while it works: log lines (what app/ prints on stderr:
 * "eval: ppl 122.3159 ...", the stages' "gptq: layer 2/6 done ...") and
 * labelled progress counts ("eval" windows, "piqa" items).  Either member
 * may be NULL; a NULL rb_run_report is silent. */
#ifndef RB_RUN_REPORT_H
#define RB_RUN_REPORT_H

#include <stddef.h>

#include "base/progress.h"

typedef struct rb_run_report {
    rb_log log;
    /* after each unit of work: what ("eval", a task's name), unit ("window",
     * "item"), units done of total, seconds since that work started */
    void (*progress)(void *ctx, const char *what, const char *unit, size_t done, size_t total,
                     double seconds);
    void *progress_ctx;
} rb_run_report;

/* The log of r (NULL when r is NULL). */
static inline const rb_log *rb_run_log(const rb_run_report *r) { return r ? &r->log : NULL; }

/* An rb_progress_fn (base/progress.h) that forwards to r->progress with a
 * label: pass rb_run_progress_fn and a pointer to one of these. */
typedef struct rb_run_progress {
    const rb_run_report *report;
    const char *what, *unit;
} rb_run_progress;
void rb_run_progress_fn(void *ctx, size_t done, size_t total, double seconds);

#endif
