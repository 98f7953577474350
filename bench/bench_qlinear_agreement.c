/* Why --kernels int and fake quantization differ in perplexity: stories260K
 * (RTN weights per channel, activations per token, symmetric) scored three
 * ways on the first N tokens of wikitext2, ctx 512:
 *   fake-sgemm    rb_quant_hooks, OpenBLAS sgemm (what `rotbench eval` runs)
 *   fake-double   rb_quant_hooks with every linear by rb_linear_ref (double
 *                 accumulation: summation order removed from the fake path)
 *   int           core/qlinear.h hooks (exact int32 dot products)
 * If the two fake variants agree closely and int stands apart, the
 * difference is not the GEMM's summation order but the rounding of the
 * dequantized values (fl(q·s)) that only fake quantization has, amplified by
 * codes flipping at rounding boundaries in later layers.
 *
 * usage: bench_qlinear_agreement W_BITS N_TOKENS   (data: $ROTBENCH_DATA) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "core/model_open.h"
#include "core/qlinear.h"
#include "core/tokenizer.h"
#include "eval/perplexity.h"
#include "kernels/linear.h"

static rb_hooks fake;

static int fake_act(void *c, int l, rb_act_point p, float *x, int r, int co, rb_error *e) {
    (void)c;
    return fake.activation(fake.ctx, l, p, x, r, co, e);
}

static int ref_linear(void *c, int l, rb_linear_id id, float *y, const float *x, const float *w,
                      int T, int ni, int no, int acc, rb_error *e) {
    (void)c, (void)l, (void)id, (void)e;
    float *t = acc ? malloc(sizeof(float) * (size_t)T * no) : y;
    rb_linear_ref(t, x, w, T, ni, no);
    if (acc) {
        for (size_t i = 0; i < (size_t)T * no; i++) y[i] += t[i];
        free(t);
    }
    return RB_OK;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_qlinear_agreement W_BITS N_TOKENS\n");
        return 2;
    }
    int wbits = atoi(argv[1]);
    size_t ntok = (size_t)atol(argv[2]);
    const char *dir = getenv("ROTBENCH_DATA") ? getenv("ROTBENCH_DATA") : "../shared";
    char mp[1024], tp[1024], cp[1024];
    snprintf(mp, sizeof mp, "%s/models/stories260K/stories260K.bin", dir);
    snprintf(tp, sizeof tp, "%s/models/stories260K/tok512.bin", dir);
    snprintf(cp, sizeof cp, "%s/datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt", dir);
    rb_error err = {0};
    rb_model *m;
    rb_tokenizer *tok;
    char *text;
    size_t len, n;
    int32_t *ids;
    if (rb_model_open(mp, 0, &m, NULL, &err) || rb_tokenizer_open(tp, &tok, &err) ||
        rb_read_file(cp, 0, &text, &len, &err) ||
        rb_tokenizer_encode(tok, text, len, 1, 0, &ids, &n, &err)) {
        fprintf(stderr, "bench_qlinear_agreement: %s\n", err.msg);
        return 1;
    }
    if (ntok < n) n = ntok;
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.w = (rb_quant_spec){wbits, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    q.a = (rb_quant_spec){8, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_workspace ws;
    if (rb_quant_weights_rtn(m, &q, &err) || rb_workspace_init(&ws, &m->cfg, 512, &err)) {
        fprintf(stderr, "bench_qlinear_agreement: %s\n", err.msg);
        return 1;
    }
    rb_quant_hooks(&q, &fake);
    static const char *names[] = {"fake-sgemm", "fake-double", "int"};
    for (int mode = 0; mode < 3; mode++) {
        rb_hooks h = fake;
        rb_qmodel qm = {0};
        if (mode == 1) h.ctx = NULL, h.activation = fake_act, h.linear = ref_linear;
        if (mode == 2 && rb_qmodel_build(&qm, m, &q, &err)) {
            fprintf(stderr, "bench_qlinear_agreement: %s\n", err.msg);
            return 1;
        }
        if (mode == 2) rb_qmodel_hooks(&qm, &h);
        if (mode == 1) h.qkv = NULL; /* kv off here */
        rb_ppl_result res = {0};
        if (rb_perplexity(m, &ws, &h, ids, n, 512, 0, NULL, NULL, &res, NULL, NULL, &err)) {
            fprintf(stderr, "bench_qlinear_agreement: %s\n", err.msg);
            return 1;
        }
        printf("{\"bench\":\"qlinear_agreement\",\"w_bits\":%d,\"a_bits\":8,\"tokens\":%zu,"
               "\"mode\":\"%s\",\"ppl\":%.9f}\n",
               wbits, res.n_scored, names[mode], res.ppl);
        fflush(stdout);
        rb_qmodel_free(&qm);
    }
    rb_workspace_free(&ws);
    rb_quant_config_free(&q);
    rb_model_free(m);
    free(ids);
    free(text);
    rb_tokenizer_free(tok);
    return 0;
}
