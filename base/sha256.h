/* SHA-256 of files and buffers (FIPS 180-4), for result provenance. */
#ifndef RB_SHA256_H
#define RB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct rb_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
} rb_sha256;

void rb_sha256_init(rb_sha256 *s);
void rb_sha256_update(rb_sha256 *s, const void *data, size_t n);
/* Writes 64 lowercase hex digits and a NUL into hex[65]. */
void rb_sha256_final_hex(rb_sha256 *s, char hex[65]);

void rb_sha256_hex(const void *data, size_t n, char hex[65]);

/* The compression function over n_blocks 64-byte blocks at p, state h [8]:
 * SHA-NI where the CPU has it (chosen per call from CPUID), else the scalar
 * reference rb_sha256_compress_ref, which tests compare it with. */
void rb_sha256_compress(uint32_t h[8], const uint8_t *p, size_t n_blocks);
void rb_sha256_compress_ref(uint32_t h[8], const uint8_t *p, size_t n_blocks);
int rb_sha256_file(const char *path, char hex[65], rb_error *err);

#endif
