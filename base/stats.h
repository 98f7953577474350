/* Small float64 statistics for comparing runs (eval/compare.h): the sample
 * mean and standard deviation, Student's t distribution, the paired t-test
 * and sample quantiles.  Pure functions; checked against scipy/numpy in
 * tests/test_compare.c. */
#ifndef RB_STATS_H
#define RB_STATS_H

#include <stddef.h>

/* Mean and sample standard deviation (n-1) of x[0..n); std is NaN when
 * n < 2, mean NaN when n == 0. */
void rb_stats_mean_std(const double *x, size_t n, double *mean, double *std);

/* P(T <= t) for Student's t with df > 0 degrees of freedom (through the
 * regularized incomplete beta function; |error| < 1e-12).  NaN for bad
 * arguments; t = ±inf gives 1 / 0. */
double rb_stats_t_cdf(double t, double df);

/* The q-quantile (0 < q < 1) of Student's t with df > 0: t with
 * rb_stats_t_cdf(t, df) = q (bisection to 1e-12 relative). */
double rb_stats_t_quantile(double q, double df);

/* The paired t-test of d[i] = a[i] - b[i] over n pairs (scipy's
 * ttest_rel): mean and sample std of d, t = mean / (std / sqrt(n)),
 * df = n - 1, p two-sided, and the confidence-level interval of the mean
 * difference mean ± t_{(1+c)/2, df} · std / sqrt(n).  possible = 0 when
 * n < 2 (no test: t, p, lo, hi NaN).  A zero std gives t = ±inf and p = 0
 * (or t NaN, p 1 when the mean is 0 too), lo = hi = mean. */
typedef struct rb_paired_t {
    int possible;
    size_t n;
    double mean, std, t, df, p, lo, hi;
} rb_paired_t;

void rb_stats_paired_t(const double *d, size_t n, double confidence, rb_paired_t *out);

/* The q-quantile (0 <= q <= 1) of sorted[0..n) (ascending, n >= 1) with
 * linear interpolation between order statistics: numpy.quantile's default
 * ("linear", Hyndman & Fan type 7). */
double rb_stats_quantile_sorted(const double *sorted, size_t n, double q);

/* Sorts x[0..n) ascending (NaNs last). */
void rb_stats_sort(double *x, size_t n);

#endif
