#include "run/report.h"

void rb_run_progress_fn(void *ctx, size_t done, size_t total, double seconds) {
    const rb_run_progress *p = ctx;
    if (p->report && p->report->progress)
        p->report->progress(p->report->progress_ctx, p->what, p->unit, done, total, seconds);
}
