/* How the library reports while it works: progress counts and log lines go
 * to callbacks the caller provides (app/ prints them on stderr; a test or a
 * worker may collect or drop them).  The library itself never prints.
 *
 *   rb_progress_fn  (done, total, seconds) after each unit of work (a window,
 *                   an item); the callee decides how often to show it.
 *   rb_log          one line of text at a time, without the trailing newline
 *                   ("gptq: layer 3/6 done, 1.2 s"); lines name their source
 *                   first.  A NULL rb_log, or one whose fn is NULL, drops them.
 */
#ifndef RB_PROGRESS_H
#define RB_PROGRESS_H

#include <stddef.h>

/* Called after each unit with (units done, units total); may be NULL. */
typedef void (*rb_progress_fn)(void *ctx, size_t done, size_t total, double seconds);

typedef struct rb_log {
    void (*fn)(void *ctx, const char *line);
    void *ctx;
} rb_log;

/* Formats one line and hands it to log->fn (nothing when log or fn is NULL). */
void rb_logf(const rb_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
