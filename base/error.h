/* rb_error: the error record every library function fills on failure.
 *
 * Library functions return 0 on success and a negative rb_status on failure,
 * after writing a human-readable message into *err (which may be NULL when the
 * caller does not care).  Messages name the file, the field and the value
 * ("stories.bin: header says dim=-3, expected 1..65536").  Only app/ prints.
 */
#ifndef RB_ERROR_H
#define RB_ERROR_H

#include <stddef.h>

typedef enum rb_status {
    RB_OK = 0,
    RB_EIO = -1,          /* cannot open / read / write / map a file */
    RB_EFORMAT = -2,      /* file content is malformed (bad magic, sizes, lines) */
    RB_EINVAL = -3,       /* invalid argument or option value */
    RB_ENOMEM = -4,       /* allocation failed */
    RB_EUNSUPPORTED = -5, /* recognised but not supported (yet) */
    RB_ENUMERIC = -6,     /* NaN/Inf or a numerical failure (e.g. Cholesky) */
} rb_status;

typedef struct rb_error {
    rb_status status;
    char msg[512];
} rb_error;

/* Record a printf-style message in err (if non-NULL); returns status so that
 * callers can write `return rb_error_set(err, RB_EIO, "%s: ...", path);`. */
int rb_error_set(rb_error *err, rb_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context ("loading model: ") to an existing message. */
int rb_error_prefix(rb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *rb_status_name(rb_status status);

#endif
