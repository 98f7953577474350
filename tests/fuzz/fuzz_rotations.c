/* libFuzzer target: the SpinQuant rotations file loader
 * (rb_spin_rotations_load) for a fixed small model shape (dim 8, 2 heads of
 * 4, 2 layers).  Input: one mode byte, then the file.  Mode bit 0 set: the
 * file as is.  Clear: zero-padded or cut to the exact size that shape needs
 * (magic 8 + header 12 + (8·8 + 2·4·4)·8 = 788 bytes), so the fuzzer reaches
 * the finiteness and orthogonality checks. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "methods/spinquant.h"
#include "tests/fuzz/fuzz_util.h"

enum { FILE_BYTES = 8 + 12 + (8 * 8 + 2 * 4 * 4) * 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const rb_config cfg = {.dim = 8, .hidden_dim = 16, .n_layers = 2, .n_heads = 2,
                           .n_kv_heads = 2, .vocab_size = 16, .seq_len = 32, .head_dim = 4,
                           .norm_eps = 1e-5f, .rope_theta = 10000.0f};
    size_t n = size - 1, len = (data[0] & 1) ? n : FILE_BYTES;
    uint8_t *file = calloc(len ? len : 1, 1);
    if (!file) abort();
    memcpy(file, data + 1, n < len ? n : len);
    char path[64];
    int fd = fuzz_memfd(file, len, path, sizeof path);
    free(file);
    if (fd < 0) abort();
    rb_spin_rotations r;
    memset(&r, 0, sizeof r);
    rb_error err = {0};
    if (rb_spin_rotations_load(&r, &cfg, path, &err) == RB_OK) {
        if (rb_spin_orthogonality_error(r.R1, 8) > 1e-6) abort();
        for (int l = 0; l < 2; l++)
            if (rb_spin_orthogonality_error(r.R2 + 16 * l, 4) > 1e-6) abort();
        rb_spin_rotations_free(&r);
    } else if (!err.msg[0]) {
        abort();
    }
    close(fd);
    return 0;
}
