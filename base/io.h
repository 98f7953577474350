/* Small file helpers. */
#ifndef RB_IO_H
#define RB_IO_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Reads a whole file into a malloc'd, NUL-terminated buffer (caller frees).
 * Refuses files over max_bytes (0 = 4 GiB) with a clear error. */
int rb_read_file(const char *path, size_t max_bytes, char **data, size_t *len, rb_error *err);

/* Maps a whole regular file read-only (shared).  On success *map is the
 * mapping (NULL for an empty file, which is not mapped) and *size its length
 * in bytes; the caller releases it with rb_unmap_file.  On failure nothing is
 * left mapped and *map is NULL. */
int rb_map_file(const char *path, void **map, uint64_t *size, rb_error *err);

/* Releases a mapping from rb_map_file; a NULL map is a no-op. */
void rb_unmap_file(void *map, uint64_t size);

/* Monotonic wall clock in seconds. */
double rb_now(void);

#endif
