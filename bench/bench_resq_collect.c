/* ResQ calibration phases on one model: the full fp32 calibration forward
 * (what the covariance pass cost before it ended each window at its last
 * statistic), rb_resq_collect (the covariance pass as the stage runs it) and
 * rb_pca of the residual covariance (the largest eigendecomposition of the
 * default stage).  Calibration: N windows of L random token ids (seed 1):
 * the times do not depend on the text.  Prints one JSON line; peak memory
 * is measured around it (/usr/bin/time -v).
 *
 *   bench_resq_collect MODEL [N [L]]      (default 32 windows of 256) */
#include <stdio.h>
#include <stdlib.h>

#include "base/io.h"
#include "base/rng.h"
#include "core/model_open.h"
#include "methods/resq.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_resq_collect MODEL [WINDOWS [LEN]]\n");
        return 2;
    }
    int nw = argc > 2 ? atoi(argv[2]) : 32, len = argc > 3 ? atoi(argv[3]) : 256;
    static rb_model_info info;
    rb_model *m;
    rb_error err;
    if (rb_model_open(argv[1], 0, &m, &info, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    rb_calib cal = {malloc(sizeof(int32_t) * (size_t)nw * len), nw, len};
    rb_rng r;
    rb_rng_seed(&r, 1);
    for (size_t i = 0; i < (size_t)nw * len; i++)
        cal.tokens[i] = (int32_t)rb_rng_below(&r, (uint64_t)m->cfg.vocab_size);
    rb_hooks none = {0};
    double t0 = rb_now();
    int rc = rb_calib_forward(m, &cal, &none, &err);
    double t1 = rb_now();
    rb_resq_cov cov;
    if (!rc) rc = rb_resq_collect(m, &cal, 0, 0, &cov, &err);
    double t2 = rb_now();
    double *w = malloc(sizeof(double) * (size_t)m->cfg.dim);
    if (!rc) rc = rb_pca(cov.resid, m->cfg.dim, w, &err);
    double t3 = rb_now();
    if (rc) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    printf("{\"model\": \"%s\", \"dim\": %d, \"hidden\": %d, \"layers\": %d, \"vocab\": %d, "
           "\"windows\": %d, \"len\": %d, \"full_forward_s\": %.3f, \"collect_s\": %.3f, "
           "\"pca_resid_s\": %.3f}\n",
           argv[1], m->cfg.dim, m->cfg.hidden_dim, m->cfg.n_layers, m->cfg.vocab_size, nw, len,
           t1 - t0, t2 - t1, t3 - t2);
    rb_resq_cov_free(&cov);
    free(w);
    free(cal.tokens);
    rb_model_free(m);
    return 0;
}
