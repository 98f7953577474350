/* rb_buf: a growable NUL-terminated string for building text (JSON, CSV,
 * gnuplot scripts, prompts).  Appends never fail loudly: an allocation
 * failure sets oom, keeps the text so far, and makes rb_buf_take return
 * NULL, so a caller checks once at the end.  Zero-initialise to start
 * (rb_buf b = {0}); the buffer owns s until rb_buf_take hands it over. */
#ifndef RB_BUF_H
#define RB_BUF_H

#include <stddef.h>

typedef struct rb_buf {
    char *s;    /* NUL-terminated (NULL until the first append) */
    size_t len;
    size_t cap;
    int oom;    /* an allocation failed: s holds a truncated text */
} rb_buf;

void rb_buf_append(rb_buf *b, const char *s, size_t n);
void rb_buf_puts(rb_buf *b, const char *s);
void rb_buf_printf(rb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the string over (never NULL unless out of memory; "" when empty). */
char *rb_buf_take(rb_buf *b);
void rb_buf_free(rb_buf *b);

#endif
