/* A cache of large files' SHA-256, so that a sweep hashing the same model
 * for every run reads it once (a 7B checkpoint takes seconds to hash).
 *
 * One entry per file, <dir>/sha256-<sha256 of the key>, holding the key and
 * the digest; the key is the file's identity and version as stat(2) gives
 * them: device, inode, size, modification and status-change times in
 * nanoseconds, and its path.  A rewritten, touched, renamed or replaced file
 * misses and is hashed again.  <dir> is $ROTBENCH_CACHE, else
 * $XDG_CACHE_HOME/rotbench, else $HOME/.cache/rotbench; "ROTBENCH_CACHE=off"
 * turns the cache off.
 *
 * Deliberate global state outside the process: the cache directory.  The
 * cache is best effort: an entry that cannot be read, does not match or is
 * malformed is a miss, and one that cannot be written is skipped; neither
 * is an error and neither changes a digest. */
#ifndef RB_HASH_CACHE_H
#define RB_HASH_CACHE_H

#include <stddef.h>

#include "base/error.h"

/* Files smaller than this are hashed every time (cheaper than the lookup). */
#define RB_HASH_CACHE_MIN_BYTES (64u << 20)

/* The SHA-256 of the file at path in hex[65], through the cache for files of
 * RB_HASH_CACHE_MIN_BYTES or more.  *cached (may be NULL) says whether the
 * digest came from the cache.  Errors as rb_sha256_file's (RB_EIO). */
int rb_sha256_file_cached(const char *path, char hex[65], int *cached, rb_error *err);

#endif
