/* Fixtures shared by the suites of sweeps, results files, tables, plots and
 * the sweep CLI (tests/test_sweep*.c, test_records.c, test_table.c,
 * test_plot_records.c): scratch directories, file helpers, a config, a
 * results fixture, a fake rotbench. */
#ifndef RB_TESTS_SWEEP_FIXTURES_H
#define RB_TESTS_SWEEP_FIXTURES_H

#include <stddef.h>
#include <sys/types.h>

#include "eval/aggregate.h"
#include "eval/sweep.h"
#include "eval/table.h"
#include "run/sweep.h"

#define AX1 "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\", \"args\": {\"ctx\": 64}}]}]"
#define HEAD "{\"name\": \"t\", \"results\": \"r.jsonl\", "

/* A fresh, empty directory for one test: <tmp>/rotbench-test-<pid>/<name>. */
const char *test_dir(const char *name, char *buf, size_t cap);
void cleanup_dir(const char *dir);
void write_text(const char *path, const char *text);
char *read_text(const char *path);
int parse_cfg(const char *text, rb_sweep_config *cfg, rb_error *err);
/* parse_cfg and rb_sweep_expand of text (both asserted); returns the count. */
size_t parse_and_expand(const char *text, rb_sweep_config *cfg, rb_sweep_run **runs);
/* Writes text to dir/c.json (its path into path[cap]) and loads it (asserted). */
void load_cfg_file(const char *dir, const char *text, char *path, size_t cap,
                   rb_sweep_config *cfg);
/* Writes an executable script. */
void write_script(const char *path, const char *text);
/* A config named name with one run ("ctx": 64) and the results file results. */
void one_run_cfg(char *buf, size_t cap, const char *name, const char *results);
/* A good config: 2 models x 1 row x 1 col x 2 seeds. */
extern const char *GOOD;
/* Records of a small grid by hand, and a partial last line. */
extern const char *FIXTURE;
void fixture_agg(rb_records *r, rb_agg *agg, const rb_table_spec *spec);
/* The fake rotbench: sleeps, prints a JSON object; exit 3 when --text is "bad". */
extern const char *FAKE;
void write_fake(const char *dir, char *path, size_t cap);
typedef struct events {
    size_t done, failed, warn, plan_n, plan_skipped, retry, lost;
    char last_fail[2048];
} events;
void collect(void *ctx, const rb_sweep_event *ev);
const char *rotbench_exe(void);
pid_t start_sweep(const char *exe, const char *cfg, const char *fake, const char *extra,
                  const char *errpath);
int wait_exit(pid_t pid);
size_t count_newlines(const char *path);

#endif
