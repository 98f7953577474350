/* Shared fixtures of the sweep, records, table, plot and sweep CLI suites. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/io.h"
#include "base/process.h"
#include "eval/aggregate.h"
#include "eval/plot.h"
#include "eval/records.h"
#include "eval/table.h"
#include "run/sweep.h"
#include "tests/sweep_fixtures.h"
#include "tests/test_util.h"

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* A fresh, empty directory for one test: <tmp>/rotbench-test-<pid>/<name>. */
const char *test_dir(const char *name, char *buf, size_t cap) {
    rb_test_tmp_path(name, buf, cap);
    nftw(buf, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(mkdir(buf, 0700), 0, "mkdir %s: %s", buf, strerror(errno));
    return buf;
}

void cleanup_dir(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

void write_text(const char *path, const char *text) {
    cr_assert_eq(rb_test_write_file(path, text, strlen(text)), 0, "cannot write %s", path);
}

char *read_text(const char *path) {
    char *s;
    size_t n;
    rb_error err;
    cr_assert_eq(rb_read_file(path, 0, &s, &n, &err), RB_OK, "%s", err.msg);
    return s;
}

void load_cfg_file(const char *dir, const char *text, char *path, size_t cap,
                   rb_sweep_config *cfg) {
    rb_error err = {0};
    snprintf(path, cap, "%s/c.json", dir);
    write_text(path, text);
    cr_assert_eq(rb_sweep_config_load(path, cfg, &err), RB_OK, "%s", err.msg);
}

void write_script(const char *path, const char *text) {
    write_text(path, text);
    cr_assert_eq(chmod(path, 0755), 0);
}

void one_run_cfg(char *buf, size_t cap, const char *name, const char *results) {
    snprintf(buf, cap,
             "{\"name\": \"%s\", \"results\": \"%s\", \"axes\": [{\"name\": \"a\", \"values\": "
             "[{\"label\": \"x\", \"args\": {\"ctx\": 64}}]}]}",
             name, results);
}

size_t parse_and_expand(const char *text, rb_sweep_config *cfg, rb_sweep_run **runs) {
    rb_error err = {0};
    size_t n = 0;
    cr_assert_eq(parse_cfg(text, cfg, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_sweep_expand(cfg, runs, &n, &err), RB_OK, "%s", err.msg);
    return n;
}

int parse_cfg(const char *text, rb_sweep_config *cfg, rb_error *err) {
    return rb_sweep_config_parse(text, strlen(text), "configs/x.json", cfg, err);
}

const char *GOOD =
    "{\n"
    "  \"name\": \"w8a8_grid\",\n"
    "  \"description\": \"a test grid\",\n"
    "  \"results\": \"results/w8a8_grid.jsonl\",\n"
    "  \"base\": {\"model\": \"stories260K\", \"task\": \"wikitext2\", \"ctx\": 512},\n"
    "  \"axes\": [\n"
    "    {\"name\": \"model\", \"values\": [ {\"label\": \"stories260K\", \"args\": {}},\n"
    "       {\"label\": \"outliers\", \"args\": {\"pipeline\": \"outliers:scale=30\"}} ]},\n"
    "    {\"name\": \"row\", \"values\": [ {\"label\": \"W/tensor A/tensor static\", \"args\":\n"
    "       {\"w-bits\": 8, \"w-gran\": \"tensor\", \"a-bits\": 8, \"a-gran\": \"tensor\", \"a-static\": true}} ]},\n"
    "    {\"name\": \"col\", \"values\": [ {\"label\": \"SmoothQuant a=0.85\", \"args\": {\"pipeline\": \"smoothquant:alpha=0.85\"}} ]},\n"
    "    {\"name\": \"seed\", \"values\": [ {\"label\": \"0\", \"args\": {\"seed\": 0}}, {\"label\": \"1\", \"args\": {\"seed\": 1}} ]}\n"
    "  ],\n"
    "  \"tables\": [ {\"name\": \"grid\", \"rows\": \"row\", \"cols\": \"col\", \"split\": \"model\", \"metric\": \"ppl\"} ],\n"
    "  \"plots\":  [ {\"name\": \"alpha\", \"x\": \"col\", \"series\": \"model\", \"logy\": true} ]\n"
    "}\n";


const char *FIXTURE =
    "{\"ppl\": 10, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 12, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"1\"}}\n"
    "{\"ppl\": 14, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"2\"}}\n"
    "{\"ppl\": 5.5, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c2\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 5.75, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c2\", \"seed\": \"1\"}}\n"
    "{\"ppl\": 7.25, \"labels\": {\"model\": \"A\", \"row\": \"r2, big\", \"col\": \"c1\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 100, \"labels\": {\"model\": \"B\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 101, \"labels\": {\"model\": \"B\", \"row\": \"r1\", \"col\": \"c1\", \"seed\": \"1\"}}\n"
    "{\"nll\": 1, \"labels\": {\"model\": \"B\", \"row\": \"r1\", \"col\": \"c2\", \"seed\": \"0\"}}\n"
    "{\"ppl\": 3, \"labels\": {\"model\": \"A\", \"row\": \"r1\"}}\n"
    "{\"ppl\": 99, \"labels\": {\"model\": \"A\", \"row\": \"r1\", \"col\": \"c1\", \"seed\"";

void fixture_agg(rb_records *r, rb_agg *agg, const rb_table_spec *spec) {
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(FIXTURE, strlen(FIXTURE), "fix.jsonl", r, &err), RB_OK);
    cr_assert_eq(r->n_issues, 1); /* the partial last line */
    cr_assert_eq(rb_table_aggregate(r->items, spec, NULL, agg, &err), RB_OK, "%s", err.msg);
}

/* Sleeps, then prints a JSON object; fails with exit 3 when --text is "bad". */
const char *FAKE =
    "#!/bin/sh\n"
    "# fake rotbench for the sweep tests: eval [--text X] ... --json\n"
    "sleep ${FAKE_SLEEP:-0.05}\n"
    "x=none; prev=\n"
    "for a in \"$@\"; do [ \"$prev\" = --text ] && x=$a; prev=$a; done\n"
    "if [ \"$x\" = bad ]; then echo \"progress...\" >&2; echo \"boom: bad x\" >&2; exit 3; fi\n"
    "echo \"eval: fake\" >&2\n"
    "echo \"{\\\"ppl\\\": $x.5, \\\"argc\\\": $#, \\\"args_seen\\\": \\\"$*\\\"}\"\n";

void write_fake(const char *dir, char *path, size_t cap) {
    snprintf(path, cap, "%s/fake-rotbench", dir);
    write_script(path, FAKE);
}

void collect(void *ctx, const rb_sweep_event *ev) {
    events *e = ctx;
    switch (ev->kind) {
    case RB_SWEEP_WARN: e->warn++; break;
    case RB_SWEEP_PLAN:
        e->plan_n = ev->n;
        e->plan_skipped = ev->skipped;
        break;
    case RB_SWEEP_DONE: e->done++; break;
    case RB_SWEEP_FAIL:
        e->failed++;
        snprintf(e->last_fail, sizeof e->last_fail, "%s | %s | %s", ev->message, ev->command,
                 ev->stderr_tail);
        break;
    case RB_SWEEP_RETRY: e->retry++; break;
    case RB_SWEEP_LOST: e->lost++; break;
    }
}

const char *rotbench_exe(void) {
    const char *exe = getenv("ROTBENCH_EXE");
    if (exe && *exe && access(exe, X_OK) == 0) return exe;
    if (rb_test_in_ci()) cr_assert_fail("ROTBENCH_EXE is not set to the built rotbench (CI=true)");
    cr_skip_test("ROTBENCH_EXE is not set to the built rotbench (meson test sets it)");
    return NULL;
}

/* Starts `exe sweep cfg --rotbench fake --jobs 2 [extra]` with stderr to errpath. */
pid_t start_sweep(const char *exe, const char *cfg, const char *fake, const char *extra,
                         const char *errpath) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) dup2(nul, 1);
        setenv("FAKE_SLEEP", "0.15", 1);
        if (extra)
            execl(exe, exe, "sweep", cfg, "--rotbench", fake, "--jobs", "2", extra, (char *)NULL);
        else
            execl(exe, exe, "sweep", cfg, "--rotbench", fake, "--jobs", "2", (char *)NULL);
        _exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

size_t count_newlines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}
