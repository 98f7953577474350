/* The claims the paper test suite asserts on the fresh reduced records
 * (tests/paper/paper_claims.c): those of the full tables (results/README.md)
 * that the reduced runs also support.  Each is checked with `rotbench
 * compare FRESH --a ... --b ... --expect 'a<b'` (a paired test over the
 * evaluation windows: the claim holds only when the interval excludes zero
 * the expected way).  Where rotbench has no `compare` command, or the
 * selector has a label compare cannot express (a label with a comma), the
 * claim falls back to bare_inequality_of_means, which the output says. */
#ifndef RB_PAPER_CLAIMS_H
#define RB_PAPER_CLAIMS_H

typedef struct rb_paper_claim {
    const char *config; /* configs/<config>.json */
    const char *what;   /* the claim in words, for the log */
    /* selectors: up to 4 "axis=label" each (NULL-terminated) */
    const char *a[4], *b[4], *where[4];
    const char *metric; /* NULL: ppl */
    const char *expect; /* "a<b" or "a>b" */
} rb_paper_claim;

/* NULL-config-terminated. */
extern const rb_paper_claim rb_paper_claims[];

/* Checks every claim of config `config` on the records of `fresh` with
 * `exe compare` (or the fallback), printing each command and verdict;
 * *n_checked = the number of claims.  Returns the number that did not hold,
 * -1 when a check could not run. */
int rb_paper_check_claims(const char *exe, const char *config, const char *fresh,
                          int *n_checked);

#endif
