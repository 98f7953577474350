#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int rb_error_set(rb_error *err, rb_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

int rb_error_prefix(rb_error *err, const char *fmt, ...) {
    if (!err) return RB_OK;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n < sizeof err->msg ? (size_t)n : sizeof err->msg - 1;
    size_t room = sizeof err->msg - 1 - used, len = strnlen(old, sizeof old - 1);
    memcpy(err->msg + used, old, len < room ? len : room);
    err->msg[used + (len < room ? len : room)] = 0;
    return err->status;
}

const char *rb_status_name(rb_status status) {
    switch (status) {
    case RB_OK: return "ok";
    case RB_EIO: return "I/O error";
    case RB_EFORMAT: return "format error";
    case RB_EINVAL: return "invalid argument";
    case RB_ENOMEM: return "out of memory";
    case RB_EUNSUPPORTED: return "unsupported";
    case RB_ENUMERIC: return "numerical error";
    }
    return "unknown error";
}
