/* Float64 statistics: mean/std, Student's t, paired t-test, quantiles
 * (base/stats.h). */
#include "base/stats.h"

#include <math.h>
#include <stdlib.h>

void rb_stats_mean_std(const double *x, size_t n, double *mean, double *std) {
    double m = 0, m2 = 0;
    for (size_t i = 0; i < n; i++) { /* Welford */
        double d = x[i] - m;
        m += d / (double)(i + 1);
        m2 += d * (x[i] - m);
    }
    *mean = n ? m : NAN;
    *std = n > 1 ? sqrt(m2 / (double)(n - 1)) : NAN;
}

/* The continued fraction of the incomplete beta function (modified Lentz),
 * converging for x < (a + 1) / (a + b + 2). */
static double beta_cf(double a, double b, double x) {
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 1000; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return h;
}

/* The regularized incomplete beta function I_x(a, b), 0 <= x <= 1. */
static double beta_inc(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return exp(lbt) * beta_cf(a, b, x) / a;
    return 1 - exp(lbt) * beta_cf(b, a, 1 - x) / b;
}

/* P(|T| >= |t|) */
static double t_two_sided(double t, double df) {
    if (isinf(t)) return 0;
    return beta_inc(df / 2, 0.5, df / (df + t * t));
}

double rb_stats_t_cdf(double t, double df) {
    if (isnan(t) || !(df > 0)) return NAN;
    double tail = t_two_sided(t, df) / 2;
    return t > 0 ? 1 - tail : tail;
}

double rb_stats_t_quantile(double q, double df) {
    if (!(q > 0 && q < 1) || !(df > 0)) return NAN;
    if (q == 0.5) return 0;
    if (q < 0.5) return -rb_stats_t_quantile(1 - q, df);
    /* upper tail: find t > 0 with P(T > t) = 1 - q, on the two-sided tail */
    double want = 2 * (1 - q), lo = 0, hi = 1;
    while (t_two_sided(hi, df) > want && hi < 1e300) hi *= 2;
    for (int i = 0; i < 400 && hi - lo > 1e-12 * hi; i++) {
        double mid = (lo + hi) / 2;
        if (t_two_sided(mid, df) > want)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

void rb_stats_paired_t(const double *d, size_t n, double confidence, rb_paired_t *out) {
    out->n = n;
    rb_stats_mean_std(d, n, &out->mean, &out->std);
    out->possible = n >= 2;
    out->t = out->p = out->lo = out->hi = NAN;
    out->df = n >= 2 ? (double)(n - 1) : NAN;
    if (!out->possible) return;
    double se = out->std / sqrt((double)n);
    if (se == 0) {
        out->t = out->mean == 0 ? NAN : out->mean > 0 ? INFINITY : -INFINITY;
        out->p = out->mean == 0 ? 1 : 0;
        out->lo = out->hi = out->mean;
        return;
    }
    out->t = out->mean / se;
    out->p = t_two_sided(out->t, out->df);
    double tq = rb_stats_t_quantile((1 + confidence) / 2, out->df);
    out->lo = out->mean - tq * se;
    out->hi = out->mean + tq * se;
}

double rb_stats_quantile_sorted(const double *sorted, size_t n, double q) {
    if (n == 0) return NAN;
    double h = q * (double)(n - 1);
    size_t i = (size_t)floor(h);
    if (i >= n - 1) return sorted[n - 1];
    double f = h - (double)i;
    return sorted[i] + f * (sorted[i + 1] - sorted[i]);
}

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

void rb_stats_sort(double *x, size_t n) { qsort(x, n, sizeof *x, cmp_double); }
