/* find_williamson: searches for Williamson matrices of odd order m, i.e. four
 * symmetric circulant ±1 matrices A, B, C, D of order m with
 *     A² + B² + C² + D² = 4m·I,
 * and prints their first rows.  kernels/hadamard_orders.c stores the rows it
 * found for m = 39 and m = 43 (the base orders 156 and 172) and plugs them
 * into Williamson's array.  Not part of the library build; build and run by
 * hand:
 *
 *     cc -O2 -std=c11 -D_GNU_SOURCE -o find_williamson tools/find_williamson.c -lm
 *     ./find_williamson 43          # prints A, B, C, D as +/- strings (instant)
 *     ./find_williamson 39 19       # up to 19 orbits: about 5 minutes and 1 GB
 *
 * The second argument bounds the number of orbits searched (default 12);
 * (m-1)/2 orbits is the whole space of symmetric rows.
 *
 * Method.  In terms of first rows a, b, c, d the condition is that the
 * periodic autocorrelations sum to zero at every shift s ≠ 0:
 *     PAF_a(s) + PAF_b(s) + PAF_c(s) + PAF_d(s) = 0,
 *     PAF_x(s) = Σ_j x_j·x_{(j+s) mod m}.
 * Negating a matrix keeps its square, so a_0 = b_0 = c_0 = d_0 = 1.  The
 * search space is cut down in the classical way (Baumert and Hall): the rows
 * are taken constant on the orbits of a subgroup G of the units of Z_m that
 * contains -1 (so the rows are symmetric), which leaves t free signs per row,
 * t = the number of orbits on Z_m \ {0}.  Subgroups are tried from the
 * largest (fewest orbits) down.  For each, every row passing the spectral
 * test |DFT_x(k)|² ≤ 4m (each of the four squared spectra is at most 4m since
 * they sum to 4m) is listed, then every pair of rows (x, y) whose summed
 * spectra stay ≤ 4m, keyed by PAF_x + PAF_y; a pair (a, b) and a pair (c, d)
 * with opposite keys is a solution (meet in the middle).  Every solution
 * printed is verified by forming A² + B² + C² + D² explicitly. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXM 64

static int m, half;               /* order, (m-1)/2 shifts that matter */
static int orbit_of[MAXM], n_orbits; /* orbit index of each j in 1..m-1 */

typedef struct {
    signed char paf[MAXM / 2 + 1]; /* shifts 1..half */
    float spec[MAXM / 2 + 1];       /* squared DFT at k = 1..half (real: rows are symmetric) */
    int sum;                       /* row sum = DFT at 0 */
    uint32_t bits;                 /* sign of orbit o is bit o (1 = -1) */
} row_t;

typedef struct {
    uint64_t key;
    uint32_t i, j;
} pair_t;

static void expand(uint32_t bits, int *x) {
    x[0] = 1;
    for (int j = 1; j < m; j++) x[j] = (bits >> orbit_of[j]) & 1 ? -1 : 1;
}

static uint64_t hash_vec(const int *v) {
    uint64_t h = 1469598103934665603ULL;
    for (int s = 0; s < half; s++) {
        h ^= (uint64_t)(v[s] + 1024);
        h *= 1099511628211ULL;
    }
    return h;
}

static int cmp_pair(const void *a, const void *b) {
    uint64_t x = ((const pair_t *)a)->key, y = ((const pair_t *)b)->key;
    return x < y ? -1 : x > y;
}

/* A² + B² + C² + D² == 4m·I, checked on the full circulants. */
static int verify(const int rows[4][MAXM]) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            long acc = 0;
            for (int r = 0; r < 4; r++) {
                for (int l = 0; l < m; l++) acc += (long)rows[r][((l - i) % m + m) % m] * rows[r][((j - l) % m + m) % m];
                if (rows[r][i ? m - i : 0] != rows[r][i]) return 0; /* symmetric */
            }
            if (acc != (i == j ? 4L * m : 0)) return 0;
        }
    return 1;
}

static void print_row(const char *name, const int *x) {
    printf("%s ", name);
    for (int j = 0; j < m; j++) putchar(x[j] > 0 ? '+' : '-');
    putchar('\n');
}

/* Pairs (i, j) of rows with |row sums| (s, u), i < j when s == u, whose
 * summed spectra stay <= 4m; keyed by the hash of sign·(PAF_i + PAF_j). */
static pair_t *make_pairs(const row_t *rows, size_t nr, int s, int u, int sign, size_t *n_out) {
    size_t cap = 1 << 16, np = 0;
    pair_t *pairs = malloc(sizeof(pair_t) * cap);
    for (size_t i = 0; i < nr; i++) {
        if (abs(rows[i].sum) != s) continue;
        for (size_t j = s == u ? i : 0; j < nr; j++) {
            const row_t *a = &rows[i], *b = &rows[j];
            if (abs(b->sum) != u) continue;
            int ok = 1;
            for (int k = 1; k <= half && ok; k++) ok = a->spec[k] + b->spec[k] <= 4 * m + 1e-9;
            if (!ok) continue;
            int v[MAXM];
            for (int q = 0; q < half; q++) v[q] = sign * (a->paf[q] + b->paf[q]);
            if (np == cap) pairs = realloc(pairs, sizeof(pair_t) * (cap *= 2));
            pairs[np++] = (pair_t){hash_vec(v), (uint32_t)i, (uint32_t)j};
        }
    }
    qsort(pairs, np, sizeof(pair_t), cmp_pair);
    *n_out = np;
    return pairs;
}

/* Searches with the orbit structure in orbit_of; returns 1 when a solution
 * was printed. */
static int search(void) {
    uint32_t n_rows_all = 1u << n_orbits;
    row_t *rows = malloc(sizeof(row_t) * n_rows_all);
    size_t nr = 0;
    int x[MAXM];
    for (uint32_t bits = 0; bits < n_rows_all; bits++) {
        expand(bits, x);
        row_t *r = &rows[nr];
        int ok = 1;
        r->sum = 0;
        for (int j = 0; j < m; j++) r->sum += x[j];
        if (r->sum * r->sum > 4 * m) continue;
        for (int k = 1; k <= half && ok; k++) {
            double f = 0;
            for (int j = 0; j < m; j++) f += x[j] * cos(2 * M_PI * j * k / m);
            r->spec[k] = f * f;
            ok = r->spec[k] <= 4 * m + 1e-9;
        }
        if (!ok) continue;
        for (int s = 1; s <= half; s++) {
            int p = 0;
            for (int j = 0; j < m; j++) p += x[j] * x[(j + s) % m];
            r->paf[s - 1] = (signed char)p;
        }
        r->bits = bits;
        nr++;
    }
    fprintf(stderr, "  %d orbits: %zu rows pass the spectral test\n", n_orbits, nr);
    int found = 0;
    /* row sums: odd s1 <= s2 <= s3 <= s4 with s1²+s2²+s3²+s4² = 4m; the pair
     * (s1, s2) meets the pair (s3, s4) */
    for (int s1 = 1; s1 * s1 <= 4 * m && !found; s1 += 2)
        for (int s2 = s1; s1 * s1 + s2 * s2 <= 4 * m && !found; s2 += 2)
            for (int s3 = s2; s1 * s1 + s2 * s2 + s3 * s3 <= 4 * m && !found; s3 += 2) {
                int r4 = 4 * m - s1 * s1 - s2 * s2 - s3 * s3, s4 = (int)lround(sqrt(r4));
                if (s4 < s3 || s4 * s4 != r4) continue;
                size_t n1, n2;
                pair_t *p1 = make_pairs(rows, nr, s1, s2, -1, &n1);
                pair_t *p2 = make_pairs(rows, nr, s3, s4, 1, &n2);
                fprintf(stderr, "  row sums %d %d %d %d: %zu + %zu pairs\n", s1, s2, s3, s4, n1, n2);
                for (size_t p = 0, q = 0; p < n1 && q < n2 && !found;) {
                    if (p1[p].key < p2[q].key) { p++; continue; }
                    if (p1[p].key > p2[q].key) { q++; continue; }
                    for (size_t qq = q; qq < n2 && p2[qq].key == p1[p].key && !found; qq++) {
                        const row_t *a = &rows[p1[p].i], *b = &rows[p1[p].j];
                        const row_t *c = &rows[p2[qq].i], *d = &rows[p2[qq].j];
                        int ok = 1;
                        for (int s = 0; s < half && ok; s++)
                            ok = a->paf[s] + b->paf[s] + c->paf[s] + d->paf[s] == 0;
                        if (!ok) continue;
                        int full[4][MAXM];
                        expand(a->bits, full[0]);
                        expand(b->bits, full[1]);
                        expand(c->bits, full[2]);
                        expand(d->bits, full[3]);
                        if (!verify((const int(*)[MAXM])full)) {
                            fprintf(stderr, "  candidate failed verification\n");
                            continue;
                        }
                        printf("m = %d, row sums %d %d %d %d (verified: A²+B²+C²+D² = %d·I)\n", m,
                               a->sum, b->sum, c->sum, d->sum, 4 * m);
                        print_row("A", full[0]);
                        print_row("B", full[1]);
                        print_row("C", full[2]);
                        print_row("D", full[3]);
                        found = 1;
                    }
                    p++;
                }
                free(p1);
                free(p2);
            }
    free(rows);
    return found;
}

static int gcd(int a, int b) { return b ? gcd(b, a % b) : a; }

int main(int argc, char **argv) {
    m = argc > 1 ? atoi(argv[1]) : 0;
    int max_orbits = argc > 2 ? atoi(argv[2]) : 12;
    if (m < 3 || m >= MAXM || m % 2 == 0) {
        fprintf(stderr, "usage: find_williamson M [MAX_ORBITS]   (M odd, 3..%d)\n", MAXM - 1);
        return 2;
    }
    half = (m - 1) / 2;
    /* subgroups <-1, g, h> of the units, as sorted membership masks */
    uint64_t seen[4096];
    int n_seen = 0;
    typedef struct { uint64_t mask; int orbits; } sub_t;
    sub_t subs[4096];
    int n_subs = 0;
    for (int g = 1; g < m; g++)
        for (int h = 1; h < m; h++) {
            if (gcd(g, m) != 1 || gcd(h, m) != 1) continue;
            uint64_t mask = 1ULL << 1 | 1ULL << (m - 1);
            int grown = 1;
            while (grown) { /* close under multiplication by g, h, -1 */
                grown = 0;
                for (int e = 1; e < m; e++)
                    if (mask >> e & 1) {
                        int gen[3] = {g, h, m - 1};
                        for (int q = 0; q < 3; q++) {
                            int f = e * gen[q] % m;
                            if (!(mask >> f & 1)) mask |= 1ULL << f, grown = 1;
                        }
                    }
            }
            int dup = 0;
            for (int i = 0; i < n_seen && !dup; i++) dup = seen[i] == mask;
            if (dup) continue;
            seen[n_seen++] = mask;
            /* orbits on 1..m-1 */
            int orb[MAXM], t = 0;
            for (int j = 0; j < m; j++) orb[j] = -1;
            for (int j = 1; j < m; j++) {
                if (orb[j] >= 0) continue;
                for (int e = 1; e < m; e++)
                    if (mask >> e & 1) orb[j * e % m] = t;
                t++;
            }
            subs[n_subs++] = (sub_t){mask, t};
        }
    /* fewest orbits first */
    for (int i = 0; i < n_subs; i++)
        for (int j = i + 1; j < n_subs; j++)
            if (subs[j].orbits < subs[i].orbits) {
                sub_t tmp = subs[i];
                subs[i] = subs[j];
                subs[j] = tmp;
            }
    for (int i = 0; i < n_subs; i++) {
        if (subs[i].orbits > max_orbits) break;
        uint64_t mask = subs[i].mask;
        fprintf(stderr, "subgroup {");
        for (int e = 1; e < m; e++)
            if (mask >> e & 1) fprintf(stderr, " %d", e);
        fprintf(stderr, " }\n");
        for (int j = 0; j < m; j++) orbit_of[j] = -1;
        n_orbits = 0;
        for (int j = 1; j < m; j++) {
            if (orbit_of[j] >= 0) continue;
            for (int e = 1; e < m; e++)
                if (mask >> e & 1) orbit_of[j * e % m] = n_orbits;
            n_orbits++;
        }
        if (search()) {
            printf("subgroup of multipliers:");
            for (int e = 1; e < m; e++)
                if (mask >> e & 1) printf(" %d", e);
            printf("\n");
            return 0;
        }
    }
    fprintf(stderr, "no solution with at most %d orbits\n", max_orbits);
    return 1;
}
