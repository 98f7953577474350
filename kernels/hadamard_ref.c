/* The scalar reference of rb_hadamard_apply: every output is the explicit sum
 *     y_i = Σ_j H_n[i][j]·x_j,   H_n[i][j] = B_k[a_i][a_j]·(-1)^popcount(b_i & b_j) / √n
 * over i = a_i·2^m + b_i (the Sylvester entry of S_{2^m} is the parity of the
 * common bits), accumulated in double.  O(n²) per column; for tests and
 * benchmarks only. */
#include <math.h>
#include <stdlib.h>

#include "kernels/hadamard.h"

static int parity(unsigned v) {
    int p = 0;
    for (; v; v &= v - 1) p ^= 1;
    return p;
}

int rb_hadamard_apply_ref(float *x, size_t rows, int n, int inner, rb_error *err) {
    int k, m;
    int rc = rb_hadamard_factor(n, &k, &m, err);
    if (rc) return rc;
    if (inner < 1)
        return rb_error_set(err, RB_EINVAL, "Hadamard transform: inner stride %d < 1", inner);
    const signed char *B = rb_hadamard_base(k);
    if (!B) return rb_error_set(err, RB_ENOMEM, "Hadamard reference %d: out of memory for the base matrix", n);
    int L = 1 << m;
    double scale = 1.0 / sqrt((double)n);
    double *y = malloc(sizeof(double) * (size_t)n);
    if (!y) return rb_error_set(err, RB_ENOMEM, "Hadamard reference: out of memory");
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < inner; c++) {
            float *col = x + r * (size_t)n * inner + c; /* element j at col[j·inner] */
            for (int i = 0; i < n; i++) {
                int ai = i / L, bi = i % L;
                double acc = 0;
                for (int j = 0; j < n; j++) {
                    int aj = j / L, bj = j % L;
                    int sign = B[(size_t)ai * k + aj] * (parity((unsigned)(bi & bj)) ? -1 : 1);
                    acc += sign * (double)col[(size_t)j * inner];
                }
                y[i] = acc * scale;
            }
            for (int i = 0; i < n; i++) col[(size_t)i * inner] = (float)y[i];
        }
    free(y);
    return RB_OK;
}
