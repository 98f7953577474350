/* Model loading speed: opens a model with rb_model_open (any format) and
 * prints one JSON line: the format, dtypes, files and their bytes, the size
 * of the fp32 weights it built and the wall time of the open.  Peak RSS is
 * measured around it by bench/model_load.sh (/usr/bin/time -v).
 *
 *   bench_model_load PATH [--hash]      (--hash: also sha256 every file) */
#include <stdio.h>
#include <string.h>

#include "base/io.h"
#include "core/model_open.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_model_load PATH [--hash]\n");
        return 2;
    }
    int hash = argc > 2 && strcmp(argv[2], "--hash") == 0;
    static rb_model_info info;
    rb_model *m;
    rb_error err;
    double t = rb_now();
    if (rb_model_open(argv[1], hash ? RB_OPEN_HASH : 0, &m, &info, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    t = rb_now() - t;
    unsigned long long fp32 = 0, files = 0;
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
        if (!rb_tensor_present(&m->cfg, m->classifier_shared, (rb_tensor_kind)k)) continue;
        int nd;
        int64_t d[2];
        rb_tensor_shape(&m->cfg, (rb_tensor_kind)k, &nd, d);
        fp32 += 4ull * (unsigned long long)(d[0] * d[1]) *
                (rb_tensor_per_layer((rb_tensor_kind)k) ? (unsigned)m->cfg.n_layers : 1u);
    }
    for (int i = 0; i < info.n_files; i++) files += info.files[i].bytes;
    printf("{\"path\": \"%s\", \"format\": \"%s\", \"dtype\": \"%s\", \"n_files\": %d, "
           "\"file_bytes\": %llu, \"fp32_weight_bytes\": %llu, \"hash\": %s, \"seconds\": %.4f}\n",
           argv[1], info.format_name, info.dtype, info.n_files, files, fp32,
           hash ? "true" : "false", t);
    rb_model_free(m);
    return 0;
}
