#include "base/progress.h"

#include <stdarg.h>
#include <stdio.h>

void rb_logf(const rb_log *log, const char *fmt, ...) {
    if (!log || !log->fn) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log->fn(log->ctx, line);
}
