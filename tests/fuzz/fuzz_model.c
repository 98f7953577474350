/* libFuzzer target: the llama2.c v0 model loader (rb_model_load).
 *
 * Input: one mode byte, then the file.  Mode bit 0 set: the rest is the file
 * as is (the fuzzer meets the header and size checks).  Clear: the rest is a
 * 28-byte header and a payload prefix; when the header is a valid
 * configuration of at most MAX_FLOATS weights, the harness zero-pads or cuts
 * the payload to exactly the size the header implies, so the fuzzer gets
 * past the size check into the weight checks (NaN/Inf per section).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/model.h"
#include "tests/fuzz/fuzz_util.h"

enum { HEADER_BYTES = 28, MAX_FLOATS = 1 << 19 };

/* the file rb_model_load will see for this input: *file is malloc'd */
static size_t build_file(const uint8_t *data, size_t size, uint8_t **file) {
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    size_t out = n;
    if (!(data[0] & 1) && n >= HEADER_BYTES) {
        int32_t h[7];
        memcpy(h, body, sizeof h);
        rb_config cfg = {.dim = h[0], .hidden_dim = h[1], .n_layers = h[2], .n_heads = h[3],
                         .n_kv_heads = h[4], .vocab_size = h[5] == INT32_MIN ? -1 : abs(h[5]),
                         .seq_len = h[6], .norm_eps = 1e-5f, .rope_theta = 10000.0f};
        cfg.head_dim = cfg.n_heads > 0 ? cfg.dim / cfg.n_heads : 0;
        if (rb_config_validate(&cfg, "fuzz", NULL) == RB_OK) {
            uint64_t floats = rb_llama2c_payload_floats(&cfg, h[5] > 0);
            if (floats <= MAX_FLOATS) out = HEADER_BYTES + 4 * (size_t)floats;
        }
    }
    *file = calloc(out ? out : 1, 1);
    if (!*file) abort();
    memcpy(*file, body, n < out ? n : out);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t *file;
    size_t file_size = build_file(data, size, &file);
    char path[64];
    int fd = fuzz_memfd(file, file_size, path, sizeof path);
    free(file);
    if (fd < 0) abort();
    rb_model *m = NULL;
    rb_error err = {0};
    int rc = rb_model_load(path, &m, &err);
    if (rc == RB_OK) {
        /* read every weight: a view that points past the map faults here */
        volatile float sum = 0;
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int id = 0; id < RB_LINEAR_COUNT; id++) {
                rb_weight_view v = rb_model_weight(m, l, (rb_linear_id)id);
                for (size_t i = 0; i < (size_t)v.rows * (size_t)v.cols; i++) sum += v.w[i];
            }
        for (size_t i = 0; i < (size_t)m->cfg.vocab_size * (size_t)m->cfg.dim; i++)
            sum += m->classifier[i];
        (void)sum;
        rb_model_free(m);
    } else if (err.msg[0] == '\0') {
        abort(); /* an error must say what is wrong */
    }
    close(fd);
    return 0;
}
