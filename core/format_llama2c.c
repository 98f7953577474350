/* llama2.c "v0" files: load (mmap, weights point into the map) and save.
 *
 * Layout (little-endian): 7 int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size — negative when the classifier is stored
 * separately —, seq_len), then fp32 arrays in the order of v0_order below:
 * the canonical tensors up to the final norm, the RoPE cos/sin tables
 * [seq_len][head_dim/2] each (ignored on load, recomputed with theta 10000
 * on save), then the classifier when it is not shared. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/io.h"
#include "core/formats.h"
#include "core/model.h"
#include "core/tensor_table.h"

enum { V0_HEADER_INTS = 7 };
#define AK42_MAGIC 0x616b3432u

/* A v0 section: a canonical tensor kind, or one of the RoPE tables. */
enum { V0_ROPE_REAL = -1, V0_ROPE_IMAG = -2 };
static const int v0_order[] = {
    RB_TENSOR_EMBED, RB_TENSOR_ATTN_NORM, RB_TENSOR_WQ, RB_TENSOR_WK, RB_TENSOR_WV,
    RB_TENSOR_WO, RB_TENSOR_FFN_NORM, RB_TENSOR_W1, RB_TENSOR_W2, RB_TENSOR_W3,
    RB_TENSOR_FINAL_NORM, V0_ROPE_REAL, V0_ROPE_IMAG, RB_TENSOR_CLASSIFIER};
enum { V0_SECTIONS = sizeof v0_order / sizeof *v0_order };

/* The names errors use ("wq of layer 3"); v0 has none of the extras. */
static const char *const v0_names[RB_TENSOR_KIND_COUNT] = {
    [RB_TENSOR_EMBED] = "token_embedding",      [RB_TENSOR_ATTN_NORM] = "attn_norm of layer %d",
    [RB_TENSOR_WQ] = "wq of layer %d",          [RB_TENSOR_WK] = "wk of layer %d",
    [RB_TENSOR_WV] = "wv of layer %d",          [RB_TENSOR_WO] = "wo of layer %d",
    [RB_TENSOR_FFN_NORM] = "ffn_norm of layer %d", [RB_TENSOR_W1] = "w1 of layer %d",
    [RB_TENSOR_W2] = "w2 of layer %d",          [RB_TENSOR_W3] = "w3 of layer %d",
    [RB_TENSOR_FINAL_NORM] = "final_norm",      [RB_TENSOR_CLASSIFIER] = "classifier"};

static uint64_t rope_floats(const rb_config *c) { return (uint64_t)c->seq_len * (c->head_dim / 2); }

static uint64_t kind_floats(const rb_config *c, int k) {
    int nd;
    int64_t d[2];
    rb_tensor_shape(c, (rb_tensor_kind)k, &nd, d);
    return (uint64_t)d[0] * (uint64_t)d[1];
}

uint64_t rb_llama2c_payload_floats(const rb_config *cfg, int shared_classifier) {
    uint64_t n = 2 * rope_floats(cfg);
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++)
        if (v0_names[k] && rb_tensor_present(cfg, shared_classifier, (rb_tensor_kind)k))
            n += kind_floats(cfg, k) *
                 (rb_tensor_per_layer((rb_tensor_kind)k) ? (uint64_t)cfg->n_layers : 1);
    return n;
}

/* Points every tensor of m into the payload at base, in v0 order, through the table. */
static int bind_payload(rb_model *m, float *base, const char *path, rb_error *err) {
    rb_tensor_table t;
    int rc = rb_tensor_table_init(&t, m, v0_names, path, err);
    if (rc) return rc;
    const rb_config *c = &m->cfg;
    float *p = base;
    for (int s = 0; s < V0_SECTIONS && !rc; s++) {
        int k = v0_order[s];
        if (k < 0) {
            p += rope_floats(c);
            continue;
        }
        if (!rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k)) continue;
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; l < reps && !rc; l++) {
            char name[128];
            snprintf(name, sizeof name, v0_names[k], l);
            int nd;
            int64_t dims[2];
            rb_tensor_shape(c, (rb_tensor_kind)k, &nd, dims);
            rb_tensor_entry *e;
            rc = rb_tensor_table_claim(&t, path, name, strlen(name), nd, dims, &e, err);
            if (!rc) *e->slot = p;
            p += kind_floats(c, k);
        }
    }
    if (m->classifier_shared) m->classifier = m->token_embedding;
    if (!rc) rc = rb_tensor_table_finish(&t, path, err);
    rb_tensor_table_free(&t);
    return rc;
}

int rb_llama2c_open(const char *path, rb_model **out, rb_model_info *info, rb_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rb_error_set(err, RB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return rb_error_set(err, RB_EIO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) { /* rb_model_open reads checkpoint directories */
        close(fd);
        return rb_error_set(err, RB_EINVAL,
                            S_ISDIR(st.st_mode)
                                ? "%s: is a directory, not a llama2.c model file (rb_model_open "
                                  "reads Hugging Face checkpoint directories)"
                                : "%s: not a regular file",
                            path);
    }
    uint64_t size = (uint64_t)st.st_size;
    int32_t h[V0_HEADER_INTS];
    ssize_t got = size >= sizeof h ? pread(fd, h, sizeof h, 0) : 0;
    if (got != (ssize_t)sizeof h) {
        close(fd);
        return rb_error_set(err, RB_EFORMAT,
                            "%s: file has %llu bytes, too short for a llama2.c header (28 bytes)",
                            path, (unsigned long long)size);
    }
    if ((uint32_t)h[0] == AK42_MAGIC) {
        close(fd);
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: llama2.c versioned format (magic \"ak42\", version %d) is not "
                            "supported yet; export the checkpoint with llama2.c's legacy v0 "
                            "layout (export.py --version 0)",
                            path, h[1]);
    }
    rb_config cfg = {.dim = h[0], .hidden_dim = h[1], .n_layers = h[2], .n_heads = h[3],
                     .n_kv_heads = h[4], .vocab_size = abs(h[5]), .seq_len = h[6],
                     .norm_eps = 1e-5f, .rope_theta = 10000.0f};
    int shared = h[5] > 0;
    if (h[5] == INT32_MIN) cfg.vocab_size = -1;
    cfg.head_dim = cfg.n_heads > 0 ? cfg.dim / cfg.n_heads : 0;
    char what[1100];
    snprintf(what, sizeof what, "%s: header", path);
    int rc = RB_OK;
    if (cfg.n_heads > 0 && cfg.dim % cfg.n_heads) /* the format's head_dim is dim/n_heads */
        rc = rb_error_set(err, RB_EINVAL, "%s: dim = %d is not a multiple of n_heads = %d", what,
                          cfg.dim, cfg.n_heads);
    if (!rc) rc = rb_config_validate(&cfg, what, err);
    if (rc) {
        close(fd);
        return rc;
    }
    uint64_t expect = sizeof h + 4 * rb_llama2c_payload_floats(&cfg, shared);
    if (size != expect) {
        close(fd);
        return rb_error_set(err, RB_EFORMAT,
                            "%s: file has %llu bytes but its header (dim %d, hidden %d, layers "
                            "%d, heads %d, kv_heads %d, vocab %d %s, seq_len %d) implies %llu%s",
                            path, (unsigned long long)size, cfg.dim, cfg.hidden_dim,
                            cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size,
                            shared ? "shared" : "separate", cfg.seq_len,
                            (unsigned long long)expect,
                            size < expect ? " (truncated?)" : " (trailing data or wrong header)");
    }
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return rb_error_set(err, RB_EIO, "%s: mmap failed: %s", path, strerror(errno));
    rb_model *m;
    if ((rc = rb_model_alloc(&cfg, shared, &m, err))) {
        munmap(map, size);
        return rc;
    }
    m->map = map;
    m->map_bytes = size;
    snprintf(m->source, sizeof m->source, "%s", path);
    if ((rc = bind_payload(m, (float *)((char *)map + sizeof h), path, err))) {
        rb_model_free(m);
        return rc;
    }
    info->format = RB_FORMAT_LLAMA2C;
    info->format_name = "llama2c";
    snprintf(info->architecture, sizeof info->architecture, "llama2c");
    rb_model_info_add_dtype(info, "F32");
    info->max_context = cfg.seq_len;
    info->qk_layout = RB_QK_INTERLEAVED;
    if ((rc = rb_model_info_add_file(info, path, size, err))) {
        rb_model_free(m);
        return rc;
    }
    *out = m;
    return RB_OK;
}

int rb_model_load(const char *path, rb_model **out, rb_error *err) {
    rb_model_info info;
    memset(&info, 0, sizeof info);
    return rb_llama2c_open(path, out, &info, err);
}

static int write_all(FILE *f, const void *p, size_t bytes) { return fwrite(p, 1, bytes, f) == bytes; }

int rb_model_save(const rb_model *m, const char *path, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (rb_online_plan_active(&m->online))
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: the model has online transforms (Hadamards from quarot or "
                            "spinquant, bases from resq) that the llama2.c format cannot "
                            "store; put the stages that need them in the same pipeline "
                            "instead of saving",
                            path);
    if (c->qkv_bias || c->rope_scaling != RB_ROPE_SCALING_NONE || c->rope_theta != 10000.0f ||
        c->head_dim != c->dim / c->n_heads)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: the llama2.c format cannot store q/k/v biases, RoPE scaling, "
                            "a rope_theta other than 10000 or a head_dim other than dim/n_heads",
                            path);
    FILE *f;
    char tmp[1100];
    int rc = rb_atomic_create(path, tmp, sizeof tmp, &f, err);
    if (rc) return rc;
    int32_t h[V0_HEADER_INTS] = {c->dim, c->hidden_dim, c->n_layers,
                                 c->n_heads, c->n_kv_heads,
                                 m->classifier_shared ? c->vocab_size : -c->vocab_size,
                                 c->seq_len};
    int ok = write_all(f, h, sizeof h);
    int half = c->head_dim / 2;
    float *rope = malloc(sizeof(float) * (size_t)(half > 0 ? half : 1));
    ok = ok && rope;
    for (int s = 0; ok && s < V0_SECTIONS; s++) {
        int k = v0_order[s];
        if (k < 0) {
            for (int pos = 0; ok && pos < c->seq_len; pos++) {
                for (int i = 0; i < half; i++) {
                    double freq = pow((double)c->rope_theta, -(2.0 * i) / c->head_dim);
                    rope[i] = (float)(k == V0_ROPE_REAL ? cos(pos * freq) : sin(pos * freq));
                }
                ok = write_all(f, rope, sizeof(float) * (size_t)half);
            }
            continue;
        }
        if (!rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k)) continue;
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; ok && l < reps; l++)
            ok = write_all(f, *rb_model_tensor_slot((rb_model *)m, (rb_tensor_kind)k, l),
                           sizeof(float) * kind_floats(c, k));
    }
    free(rope);
    if (!ok) {
        int e = errno;
        rb_atomic_abort(f, tmp);
        return rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return rb_atomic_commit(f, tmp, path, err);
}
