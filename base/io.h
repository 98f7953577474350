/* Small file helpers. */
#ifndef RB_IO_H
#define RB_IO_H

#include <stddef.h>

#include "base/error.h"

/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees).
 * Refuses files over max_bytes (0 = 4 GiB) with a clear error. */
int rb_read_file(const char *path, size_t max_bytes, char **data, size_t *len, rb_error *err);

/* Monotonic wall clock in seconds. */
double rb_now(void);

#endif
