/* Sweeps over MPI (run/sweep_mpi.h), through `mpirun --oversubscribe -np 3
 * rotbench sweep ... --mpi` on this machine:
 *  1. a small real sweep on stories260K gives the same records as the local
 *     --jobs sweep (metrics bit-identical for the same --threads);
 *  2. a worker rank killed (SIGKILL) in the middle of a run: the sweep still
 *     completes every run, each recorded exactly once, the lost rank is
 *     reported with its host, and --resume then has nothing to do;
 *  3. one rank only is refused with a clear message;
 *  4. a run that fails is retried once on the other rank, then reported with
 *     its rank and stderr and left out of the results file.
 * A plain program (not Criterion): exit 77 (meson: skipped) when MPI support
 * is not built in, mpirun is absent, or (outside CI) the data is missing. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/build_info.h"
#include "base/io.h"
#include "base/process.h"
#include "eval/records.h"
#include "eval/records_merge.h"

static int failures;
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static int in_ci(void) {
    const char *ci = getenv("CI");
    return ci && (!strcmp(ci, "true") || !strcmp(ci, "1"));
}

static void write_file(const char *path, const char *text, int exec) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    if (exec) chmod(path, 0755);
}

/* Runs argv in dir (timeout 240 s around it); its status, stderr tail in *errs. */
static int run(char **argv, const char *dir, char **errs) {
    char *out = NULL;
    rb_error err = {0};
    int status = -1;
    if (rb_run_capture(argv, dir, &out, errs, &status, &err)) {
        fprintf(stderr, "cannot run %s: %s\n", argv[0], err.msg);
        exit(1);
    }
    free(out);
    if (!*errs) *errs = strdup("");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void read_records(const char *path, rb_records *r) {
    rb_error err = {0};
    if (rb_records_read(path, 0, r, &err)) {
        fprintf(stderr, "FAIL: %s\n", err.msg);
        exit(1);
    }
}

static json_object *field(json_object *o, const char *a, const char *b) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, a, &v)) return NULL;
    if (b && !json_object_object_get_ex(v, b, &v)) return NULL;
    return v;
}

/* 1. the same records as the local sweep */
static void same_as_local(const char *dir, const char *exe, const char *mpirun) {
    const char *cfg_fmt =
        "{\"name\": \"mpi_eq\", \"results\": \"%s\", \"base\": {\"task\": \"tinystories\","
        " \"ctx\": 64, \"max-tokens\": 1024, \"w-bits\": 4, \"a-bits\": 8},"
        " \"axes\": [{\"name\": \"method\", \"values\": [{\"label\": \"rtn\", \"args\": {}},"
        " {\"label\": \"quarot\", \"args\": {\"pipeline\": \"quarot\"}}]},"
        " {\"name\": \"seed\", \"values\": [{\"label\": \"0\", \"args\": {\"seed\": 0}},"
        " {\"label\": \"1\", \"args\": {\"seed\": 1}}]}]}\n";
    char text[1024], path[1200];
    snprintf(text, sizeof text, cfg_fmt, "local.jsonl");
    snprintf(path, sizeof path, "%s/local.json", dir);
    write_file(path, text, 0);
    snprintf(text, sizeof text, cfg_fmt, "mpi.jsonl");
    snprintf(path, sizeof path, "%s/mpi.json", dir);
    write_file(path, text, 0);
    char *errs;
    char *local[] = {(char *)exe, "sweep", "local.json", "--jobs", "2", "--threads", "1", NULL};
    int rc = run(local, dir, &errs);
    CHECK(rc == 0, "local sweep: exit %d\n%s", rc, errs);
    free(errs);
    char *mpi[] = {"timeout", "240", (char *)mpirun, "--oversubscribe", "-np", "3", (char *)exe,
                   "sweep", "mpi.json", "--mpi", "--threads", "1", NULL};
    rc = run(mpi, dir, &errs);
    CHECK(rc == 0, "mpi sweep: exit %d\n%s", rc, errs);
    CHECK(strstr(errs, "[4/4] "), "no progress on rank 0's stderr:\n%s", errs);
    CHECK(strstr(errs, ", rank "), "progress does not say the rank:\n%s", errs);
    free(errs);

    rb_records f[2];
    snprintf(path, sizeof path, "%s/local.jsonl", dir);
    read_records(path, &f[0]);
    snprintf(path, sizeof path, "%s/mpi.jsonl", dir);
    read_records(path, &f[1]);
    CHECK(rb_records_count(&f[0]) == 4, "local: %zu records", rb_records_count(&f[0]));
    CHECK(rb_records_count(&f[1]) == 4, "mpi: %zu records", rb_records_count(&f[1]));
    /* merging refuses records of a run that differ in anything but provenance and timings */
    const char *names[] = {"local.jsonl", "mpi.jsonl"};
    rb_records m;
    rb_merge_info info;
    rb_error err = {0};
    rc = rb_records_merge_parsed(f, names, 2, &m, &info, &err);
    CHECK(rc == RB_OK, "local and MPI records differ: %s", err.msg);
    if (!rc) {
        CHECK(info.n_duplicates == 4, "%zu of 4 runs in both", info.n_duplicates);
        rb_records_free(&m);
    }
    /* the metrics bit for bit, and where each ran */
    size_t ranks_seen = 0;
    for (size_t i = 0; i < rb_records_count(&f[1]); i++) {
        json_object *r = rb_records_get(&f[1], i);
        const char *key = json_object_get_string(field(r, "run_key", NULL));
        for (size_t j = 0; j < rb_records_count(&f[0]); j++) {
            json_object *l = rb_records_get(&f[0], j);
            if (strcmp(key, json_object_get_string(field(l, "run_key", NULL)))) continue;
            double a = json_object_get_double(field(l, "ppl", NULL));
            double b = json_object_get_double(field(r, "ppl", NULL));
            CHECK(memcmp(&a, &b, sizeof a) == 0, "ppl %.17g (local) vs %.17g (MPI)", a, b);
            a = json_object_get_double(field(l, "nll", NULL));
            b = json_object_get_double(field(r, "nll", NULL));
            CHECK(memcmp(&a, &b, sizeof a) == 0, "nll %.17g (local) vs %.17g (MPI)", a, b);
        }
        json_object *rank = field(r, "provenance", "rank");
        CHECK(rank && json_object_get_int(rank) >= 1 && json_object_get_int(rank) <= 2,
              "record %zu: provenance.rank", i);
        ranks_seen |= rank ? 1u << json_object_get_int(rank) : 0;
        CHECK(field(r, "provenance", "host"), "record %zu: no provenance.host", i);
        CHECK(field(r, "provenance", "build"), "record %zu: no provenance.build", i);
        CHECK(!field(f[0].items ? rb_records_get(&f[0], 0) : NULL, "provenance", "rank"),
              "a local record has a rank");
    }
    rb_records_free(&f[0]);
    rb_records_free(&f[1]);
    printf("ok 1 - MPI records equal the local --jobs records (4 runs, ranks seen 0x%zx)\n",
           ranks_seen);
}

/* A fake rotbench: sleeps, prints a record; the first time it runs --text 3
 * it kills its parent (the worker rank) with SIGKILL. */
static const char *KILLER =
    "#!/bin/sh\n"
    "sleep ${FAKE_SLEEP:-0.3}\n"
    "x=none; prev=\n"
    "for a in \"$@\"; do [ \"$prev\" = --text ] && x=$a; prev=$a; done\n"
    "if [ \"$x\" = 3 ] && mkdir \"$KILL_MARK\" 2>/dev/null; then\n"
    "  echo $PPID > \"$KILL_MARK/pid\"; kill -9 $PPID; sleep 3; fi\n"
    "echo \"{\\\"ppl\\\": $x.5}\"\n";

/* 2. a worker rank killed mid-run */
static void worker_killed(const char *dir, const char *exe, const char *mpirun) {
    char path[1200], mark[1200], text[2048];
    snprintf(path, sizeof path, "%s/killer", dir);
    write_file(path, KILLER, 1);
    snprintf(mark, sizeof mark, "%s/killed", dir);
    setenv("KILL_MARK", mark, 1);
    int n = snprintf(text, sizeof text,
                     "{\"name\": \"mpi_kill\", \"results\": \"kill.jsonl\", \"base\": {\"model\": \"m\"},"
                     " \"axes\": [{\"name\": \"x\", \"values\": [");
    for (int i = 0; i < 6; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s{\"label\": \"%d\", \"args\": {\"text\": %d}}",
                      i ? ", " : "", i, i);
    snprintf(text + n, sizeof text - (size_t)n,
             "]}, {\"name\": \"seed\", \"values\": [{\"label\": \"0\", \"args\": {\"seed\": 0}},"
             " {\"label\": \"1\", \"args\": {\"seed\": 1}}]}]}\n");
    snprintf(path, sizeof path, "%s/kill.json", dir);
    write_file(path, text, 0);
    char *argv[] = {"timeout", "240", (char *)mpirun, "--oversubscribe", "--enable-recovery",
                    "--mca", "orte_abort_on_non_zero_status", "0", "-np", "3", (char *)exe,
                    "sweep", "kill.json", "--mpi", "--rotbench", "./killer", "--lost-after", "6",
                    NULL};
    char *errs;
    int rc = run(argv, dir, &errs);
    CHECK(rc == 0, "exit %d\n%s", rc, errs);
    CHECK(access(mark, F_OK) == 0, "the fake never killed its worker");
    CHECK(strstr(errs, "LOST: no message for"), "no LOST report:\n%s", errs);
    CHECK(strstr(errs, "12 done, 0 skipped"), "not every run done:\n%s", errs);
    CHECK(strstr(errs, "1 rank lost"), "summary:\n%s", errs);
    free(errs);
    rb_records r;
    snprintf(path, sizeof path, "%s/kill.jsonl", dir);
    read_records(path, &r);
    CHECK(rb_records_count(&r) == 12 && r.n_issues == 0, "%zu records, %zu bad lines",
          rb_records_count(&r), r.n_issues);
    for (size_t i = 0; i < rb_records_count(&r); i++) {
        const char *ki = json_object_get_string(field(rb_records_get(&r, i), "run_key", NULL));
        for (size_t j = i + 1; j < rb_records_count(&r); j++)
            CHECK(strcmp(ki, json_object_get_string(field(rb_records_get(&r, j), "run_key", NULL))),
                  "run %s recorded twice", ki);
    }
    rb_records_free(&r);
    /* --resume afterwards: nothing to do */
    char *again[] = {"timeout", "240", (char *)mpirun, "--oversubscribe", "-np", "2", (char *)exe,
                     "sweep", "kill.json", "--mpi", "--rotbench", "./killer", "--resume", NULL};
    rc = run(again, dir, &errs);
    CHECK(rc == 0, "resume: exit %d\n%s", rc, errs);
    CHECK(strstr(errs, "0 runs to do, 12 already in the results file"), "%s", errs);
    free(errs);
    printf("ok 2 - a killed worker rank: 12 of 12 runs recorded once, the rank reported lost\n");
}

/* A fake rotbench that always fails for --text bad. */
static const char *FAILER =
    "#!/bin/sh\n"
    "sleep 0.2\n"
    "x=none; prev=\n"
    "for a in \"$@\"; do [ \"$prev\" = --text ] && x=$a; prev=$a; done\n"
    "if [ \"$x\" = bad ]; then echo \"boom on $(hostname)\" >&2; exit 3; fi\n"
    "echo \"{\\\"ppl\\\": $x.5}\"\n";

/* 4. a run that fails: once more on the other rank, then reported */
static void run_fails(const char *dir, const char *exe, const char *mpirun) {
    char path[1200];
    snprintf(path, sizeof path, "%s/failer", dir);
    write_file(path, FAILER, 1);
    snprintf(path, sizeof path, "%s/fail.json", dir);
    write_file(path,
               "{\"name\": \"mpi_fail\", \"results\": \"fail.jsonl\", \"base\": {\"model\": \"m\"},"
               " \"axes\": [{\"name\": \"x\", \"values\": [{\"label\": \"1\", \"args\": {\"text\": 1}},"
               " {\"label\": \"bad\", \"args\": {\"text\": \"bad\"}},"
               " {\"label\": \"2\", \"args\": {\"text\": 2}}]}]}\n",
               0);
    char *argv[] = {"timeout", "240", (char *)mpirun, "--oversubscribe", "-np", "3", (char *)exe,
                    "sweep", "fail.json", "--mpi", "--rotbench", "./failer", NULL};
    char *errs;
    int rc = run(argv, dir, &errs);
    CHECK(rc != 0, "a failed run and exit status 0:\n%s", errs);
    const char *retry = strstr(errs, "[retry] bad failed on rank ");
    const char *fail = strstr(errs, "bad FAILED on rank ");
    CHECK(retry && fail, "no retry, then failure:\n%s", errs);
    if (retry && fail) {
        int r1 = atoi(retry + strlen("[retry] bad failed on rank "));
        int r2 = atoi(fail + strlen("bad FAILED on rank "));
        CHECK(r1 != r2 && r1 >= 1 && r2 >= 1, "retried on the same rank (%d, %d)", r1, r2);
    }
    CHECK(strstr(errs, "boom on "), "the child's stderr is not reported:\n%s", errs);
    CHECK(strstr(errs, "2 done, 0 skipped (already in fail.jsonl), 1 failed, 1 retried"),
          "summary:\n%s", errs);
    free(errs);
    rb_records r;
    snprintf(path, sizeof path, "%s/fail.jsonl", dir);
    read_records(path, &r);
    CHECK(rb_records_count(&r) == 2, "%zu records", rb_records_count(&r));
    rb_records_free(&r);
    printf("ok 4 - a failing run is retried once on the other rank, then reported\n");
}

/* 3. one rank */
static void one_rank(const char *dir, const char *exe, const char *mpirun) {
    char *argv[] = {"timeout", "120", (char *)mpirun, "-np", "1", (char *)exe, "sweep",
                    "kill.json", "--mpi", NULL};
    char *errs;
    int rc = run(argv, dir, &errs);
    CHECK(rc != 0, "one rank accepted");
    CHECK(strstr(errs, "start at least 2"), "%s", errs);
    free(errs);
    printf("ok 3 - one rank is refused\n");
}

#if defined(__SANITIZE_ADDRESS__)
#define RB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RB_ASAN 1
#endif
#endif

int main(void) {
#ifdef RB_ASAN
    /* scripts/sanitize.sh: Open MPI's own allocations at exit (libopen-pal,
     * PMIx, hwloc) would be reported as leaks of every rank; the MPI runner
     * is covered by the plain build's run of this test. */
    printf("skip: not run under AddressSanitizer (Open MPI's leaks are not the project's)\n");
    return 77;
#endif
    const char *require = getenv("ROTBENCH_REQUIRE_MPI");
    int must = require && *require && strcmp(require, "0");
    if (must && (!rb_build_has_mpi() || !rb_find_program("mpirun", (char[4096]){0}, 4096))) {
        printf("FAIL: ROTBENCH_REQUIRE_MPI is set but MPI support is %s and mpirun is %s\n",
               rb_build_has_mpi() ? "built in" : "not built in",
               rb_find_program("mpirun", (char[4096]){0}, 4096) ? "there" : "missing");
        return 1;
    }
    if (!rb_build_has_mpi()) {
        printf("skip: this rotbench is built without MPI support\n");
        return 77;
    }
    char mpirun[4096];
    if (!rb_find_program("mpirun", mpirun, sizeof mpirun)) {
        printf("skip: no mpirun in PATH (apt-get install openmpi-bin)\n");
        return 77;
    }
    const char *exe = getenv("ROTBENCH_EXE");
    if (!exe || access(exe, X_OK)) {
        printf("skip: ROTBENCH_EXE is not set to the built rotbench (meson test sets it)\n");
        return in_ci() ? 1 : 77;
    }
    const char *data = getenv("ROTBENCH_DATA");
    char model[4096];
    snprintf(model, sizeof model, "%s/models/stories260K/stories260K.bin",
             data && *data ? data : RB_SOURCE_ROOT "/../shared");
    if (access(model, R_OK)) {
        printf("%s: %s is missing\n", in_ci() ? "FAIL" : "skip", model);
        return in_ci() ? 1 : 77;
    }
    if (geteuid() == 0) { /* CI runs as root; Open MPI refuses that unless told */
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }
    char dir[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rotbench-test-mpi-%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    if (mkdir(dir, 0700)) {
        fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    same_as_local(dir, exe, mpirun);
    worker_killed(dir, exe, mpirun);
    one_rank(dir, exe, mpirun);
    run_fails(dir, exe, mpirun);
    if (!failures) {
        char *rm[] = {"rm", "-rf", dir, NULL};
        char *errs;
        run(rm, "/", &errs);
        free(errs);
    } else {
        fprintf(stderr, "%d check(s) failed; files kept in %s\n", failures, dir);
    }
    return failures ? 1 : 0;
}
