/* Explicit orthogonal matrices (kernels/rotation.h). */
#include "kernels/rotation.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "kernels/hadamard.h"

static const char *const kind_names[] = {"hadamard", "random_hadamard", "random_orthogonal"};
#define N_KINDS (int)(sizeof kind_names / sizeof *kind_names)

const char *rb_rotation_kind_name(rb_rotation_kind kind) {
    return (int)kind >= 0 && (int)kind < N_KINDS ? kind_names[kind] : "unknown";
}

int rb_rotation_kind_parse(const char *text, rb_rotation_kind *kind, rb_error *err) {
    for (int i = 0; i < N_KINDS; i++)
        if (text && strcmp(text, kind_names[i]) == 0) {
            *kind = (rb_rotation_kind)i;
            return RB_OK;
        }
    return rb_error_set(err, RB_EINVAL,
                        "unknown rotation kind \"%s\": expected hadamard, random_hadamard or "
                        "random_orthogonal",
                        text ? text : "(null)");
}

/* Q of the QR decomposition of G [n][n] (standard normals from the seed,
 * row-major, drawn row by row) with the columns of Q multiplied by
 * sign(R_jj), so that diag(R) > 0: the Haar measure on O(n).  LAPACK in
 * float64 (dgeqrf + dorgqr), rounded to float at the end.  G is written
 * straight into column-major storage and LAPACK called on it: the calls
 * the row-major LAPACKE interface makes after its transposed copies (two
 * of n² doubles per call), without the copies. */
static int random_orthogonal(int n, uint64_t seed, float *R, rb_error *err) {
    size_t nn = (size_t)n * n;
    double *a = malloc(sizeof(double) * nn), *tau = malloc(sizeof(double) * (size_t)n);
    double *sign = malloc(sizeof(double) * (size_t)n);
    int rc = RB_OK;
    if (!a || !tau || !sign) {
        rc = rb_error_set(err, RB_ENOMEM, "random orthogonal %dx%d: out of memory", n, n);
        goto out;
    }
    rb_rng rng;
    rb_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) /* G(i, j) at a[i + j*n] */
        for (int j = 0; j < n; j++) a[i + (size_t)j * n] = rb_rng_normal(&rng);
    lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, n, n, a, n, tau);
    if (info) {
        rc = rb_error_set(err, RB_ENUMERIC, "random orthogonal %dx%d: dgeqrf failed (info %d)", n,
                          n, (int)info);
        goto out;
    }
    for (int j = 0; j < n; j++) sign[j] = a[(size_t)j * n + j] < 0 ? -1.0 : 1.0;
    info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, n, n, n, a, n, tau);
    if (info) {
        rc = rb_error_set(err, RB_ENUMERIC, "random orthogonal %dx%d: dorgqr failed (info %d)", n,
                          n, (int)info);
        goto out;
    }
    enum { TILE = 64 }; /* R[i][j] = Q(i, j)·sign_j, Q(i, j) at a[i + j*n] */
    for (int i0 = 0; i0 < n; i0 += TILE)
        for (int j0 = 0; j0 < n; j0 += TILE)
            for (int j = j0; j < j0 + TILE && j < n; j++)
                for (int i = i0; i < i0 + TILE && i < n; i++)
                    R[(size_t)i * n + j] = (float)(a[i + (size_t)j * n] * sign[j]);
out:
    free(a);
    free(tau);
    free(sign);
    return rc;
}

int rb_rotation_matrix(rb_rotation_kind kind, int n, uint64_t seed, float *R, rb_error *err) {
    switch (kind) {
    case RB_ROT_HADAMARD: return rb_hadamard_matrix(n, R, err);
    case RB_ROT_RANDOM_HADAMARD: {
        int rc = rb_hadamard_matrix(n, R, err);
        if (rc) return rc;
        /* diag(s)·H: row i times s_i */
        float *sg = malloc(sizeof(float) * (size_t)n);
        if (!sg) return rb_error_set(err, RB_ENOMEM, "random Hadamard %dx%d: out of memory", n, n);
        rc = rb_rotation_signs(kind, n, seed, sg, err);
        for (int i = 0; !rc && i < n; i++)
            for (int j = 0; j < n; j++) R[(size_t)i * n + j] *= sg[i];
        free(sg);
        return rc;
    }
    case RB_ROT_RANDOM_ORTHOGONAL:
        if (n < 1)
            return rb_error_set(err, RB_EINVAL, "random orthogonal rotation: size %d < 1", n);
        return random_orthogonal(n, seed, R, err);
    }
    return rb_error_set(err, RB_EINVAL, "unknown rotation kind %d", (int)kind);
}

int rb_rotation_signs(rb_rotation_kind kind, int n, uint64_t seed, float *s, rb_error *err) {
    int k, m;
    if (kind != RB_ROT_HADAMARD && kind != RB_ROT_RANDOM_HADAMARD)
        return rb_error_set(err, RB_EINVAL, "rotation kind %s has no sign vector",
                            rb_rotation_kind_name(kind));
    int rc = rb_hadamard_factor(n, &k, &m, err);
    if (rc) return rc;
    /* s_i = -1 when the top bit of the i-th draw is set */
    rb_rng rng;
    rb_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++)
        s[i] = kind == RB_ROT_HADAMARD || !(rb_rng_next(&rng) >> 63) ? 1.0f : -1.0f;
    return RB_OK;
}
