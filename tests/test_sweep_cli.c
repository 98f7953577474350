/* The sweep through the rotbench binary: --dry-run, tables, errors, the
 * calibration overlap rule. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/build_info.h"
#include "base/io.h"
#include "base/process.h"
#include "eval/aggregate.h"
#include "eval/plot.h"
#include "eval/records.h"
#include "eval/table.h"
#include "run/sweep.h"
#include "tests/sweep_fixtures.h"
#include "tests/test_util.h"

Test(sweep_cli, cli_dry_run_table_and_errors, .timeout = 60) {
    const char *exe = rotbench_exe();
    char dir[1024], cfgp[1200], cmd[4096];
    test_dir("cli", dir, sizeof dir);
    snprintf(cfgp, sizeof cfgp, "%s/bad.json", dir);
    write_text(cfgp, HEAD "\"axes\": [{\"name\": \"a\", \"values\": [{\"label\": \"x\"}]}, "
                          "{\"name\": \"b\", \"values\": [{\"args\": {}}]}]}");
    snprintf(cmd, sizeof cmd, "'%s' sweep '%s' --dry-run 2>'%s/err.txt'", exe, cfgp, dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    char path[1300];
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *msg = read_text(path);
    char want[1400];
    snprintf(want, sizeof want, "error: %s: axes[1].values[0]: missing \"label\"\n", cfgp);
    cr_assert_str_eq(msg, want);
    free(msg);

    /* --dry-run prints the command lines */
    snprintf(cfgp, sizeof cfgp, "%s/ok.json", dir);
    write_text(cfgp, HEAD "\"base\": {\"ctx\": 64}, \"axes\": [{\"name\": \"a\", \"values\": "
                          "[{\"label\": \"x\", \"args\": {\"pipeline\": \"p:q=1\"}}, "
                          "{\"label\": \"y\", \"args\": {\"a-static\": true}}]}]}");
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' sweep ok.json --dry-run --rotbench /x/rb --jobs 64 "
                              ">out.txt 2>err.txt", dir, exe);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    msg = read_text(path);
    cr_assert_str_eq(msg, "/x/rb eval --ctx 64 --pipeline p:q=1 --threads 1 --json\n"
                          "/x/rb eval --ctx 64 --a-static --threads 1 --json\n");
    free(msg);
    snprintf(path, sizeof path, "%s/r.jsonl", dir);
    cr_assert_neq(access(path, F_OK), 0, "a dry run wrote the results file");

    /* table and CSV through the command line */
    snprintf(path, sizeof path, "%s/fix.jsonl", dir);
    write_text(path, FIXTURE);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' table fix.jsonl --rows row --cols col --split model "
                              "--where model=B --out t.csv 2>err.txt", dir, exe);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    snprintf(path, sizeof path, "%s/t.csv", dir);
    msg = read_text(path);
    cr_assert_str_eq(msg, "split,row,col,mean,std,n\nB,r1,c1,100.5,0.7071067812,2\n");
    free(msg);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    msg = read_text(path);
    cr_assert(strstr(msg, "warning: fix.jsonl:11: partial last line"), "%s", msg);
    free(msg);
    cleanup_dir(dir);
}

/* eval refuses calibration windows drawn from the tokens it scores, and
 * accepts the same corpus past --calib-skip. */
Test(sweep_cli, cli_eval_calibration_never_overlaps_scored_tokens, .timeout = 60) {
    rb_test_require_data("datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt");
    rb_test_require_data("models/stories260K/stories260K.bin");
    const char *exe = rotbench_exe();
    char cmd[4096];
    const char *common = "eval --task wikitext2 --max-tokens 2048 --calib wikitext2 "
                         "--calib-windows 4 --pipeline rtn --w-bits 4 --threads 1";
    snprintf(cmd, sizeof cmd, "ROTBENCH_DATA='%s' '%s' %s >/dev/null 2>&1", rb_test_data_dir(),
             exe, common);
    int st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "overlapping calibration accepted: %d", st);
    snprintf(cmd, sizeof cmd, "ROTBENCH_DATA='%s' '%s' %s --calib-skip 2047 >/dev/null 2>&1",
             rb_test_data_dir(), exe, common);
    st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "one overlapping token accepted: %d", st);
    snprintf(cmd, sizeof cmd, "ROTBENCH_DATA='%s' '%s' %s --calib-skip 2048 >/dev/null 2>&1",
             rb_test_data_dir(), exe, common);
    st = system(cmd);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "disjoint calibration refused: %d", st);
}

/* Runs `cd dir && exe ARGS` (ARGS with its redirections) through the shell,
 * asserts its exit status and returns the text of dir/file. */
static char *run_in(const char *dir, const char *exe, const char *args, int want,
                    const char *file) {
    char cmd[4096], path[1300];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s", dir, exe, args);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == want, "%s: status %d", args, st);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return read_text(path);
}

/* --shard and several RESULTS through the binary: a bad --shard is a usage
 * error naming the text; a dry run of each shard lists disjoint runs that
 * together are the whole sweep; table merges the shards' files (a glob) and
 * refuses conflicting records of one run. */
Test(sweep_cli, shards_and_merged_tables, .timeout = 60) {
    const char *exe = rotbench_exe();
    char dir[1024], cfgp[1200], path[1300];
    test_dir("cli_shard", dir, sizeof dir);
    snprintf(cfgp, sizeof cfgp, "%s/s.json", dir);
    write_text(cfgp, HEAD "\"axes\": [{\"name\": \"seed\", \"values\": ["
                          "{\"label\": \"0\", \"args\": {\"seed\": 0}}, {\"label\": \"1\", \"args\": {\"seed\": 1}},"
                          "{\"label\": \"2\", \"args\": {\"seed\": 2}}, {\"label\": \"3\", \"args\": {\"seed\": 3}},"
                          "{\"label\": \"4\", \"args\": {\"seed\": 4}}, {\"label\": \"5\", \"args\": {\"seed\": 5}}]}]}");
    char *msg = run_in(dir, exe, "sweep s.json --shard 3/3 2>err.txt", 2, "err.txt");
    cr_assert(strstr(msg, "--shard '3/3': K must be below N"), "%s", msg);
    free(msg);
    for (int k = 0; k < 2; k++) {
        char args[200];
        snprintf(args, sizeof args, "sweep s.json --shard %d/2 --dry-run --rotbench rb "
                                    ">>out.txt 2>err.txt", k);
        msg = run_in(dir, exe, args, 0, "err.txt");
        cr_assert(strstr(msg, ".shard-"), "the shard's results file: %s", msg);
        free(msg);
    }
    snprintf(path, sizeof path, "%s/out.txt", dir);
    size_t lines = count_newlines(path);
    cr_assert_eq(lines, 6, "the two shards list %zu runs", lines);
    msg = read_text(path);
    for (int s = 1; s < 6; s++) {
        char want[32];
        snprintf(want, sizeof want, "--seed %d ", s);
        const char *a = strstr(msg, want);
        cr_assert(a && !strstr(a + 1, want), "seed %d not listed exactly once:\n%s", s, msg);
    }
    free(msg);

    /* two shard files, a glob; then a conflicting copy */
    snprintf(path, sizeof path, "%s/r.shard-0-of-2.jsonl", dir);
    write_text(path, "{\"run_key\": \"a\", \"labels\": {\"r\": \"x\", \"c\": \"1\"}, \"ppl\": 2}\n");
    snprintf(path, sizeof path, "%s/r.shard-1-of-2.jsonl", dir);
    write_text(path, "{\"run_key\": \"b\", \"labels\": {\"r\": \"x\", \"c\": \"2\"}, \"ppl\": 3}\n");
    msg = run_in(dir, exe, "table 'r.shard-*.jsonl' --rows r --cols c --format csv >t.csv 2>err.txt",
                 0, "t.csv");
    cr_assert(strstr(msg, "x,1,2") && strstr(msg, "x,2,3"), "%s", msg);
    free(msg);
    snprintf(path, sizeof path, "%s/copy.jsonl", dir);
    write_text(path, "{\"run_key\": \"b\", \"labels\": {\"r\": \"x\", \"c\": \"2\"}, \"ppl\": 4}\n");
    msg = run_in(dir, exe, "table 'r.shard-*.jsonl' copy.jsonl --rows r --cols c >/dev/null 2>err.txt",
                 1, "err.txt");
    cr_assert(strstr(msg, "conflicting records for run b: r.shard-1-of-2.jsonl (record 1) and "
                          "copy.jsonl (record 1) differ in \"ppl\" (3 vs 4)"),
              "%s", msg);
    free(msg);
    cleanup_dir(dir);
}

/* Runs that together ask for more threads than the cores get
 * OMP_WAIT_POLICY=passive (libgomp's spinning idle threads otherwise hold up
 * each other's barriers), a user's own setting is kept, and runs that fit
 * the cores are left alone: a fake rotbench records the variable it sees. */
Test(sweep_cli, oversubscribed_runs_wait_passively, .timeout = 60) {
    const char *exe = rotbench_exe();
    char dir[1024], cfgp[1200], fake[1200], cmd[4096], path[1300];
    test_dir("cli_wait", dir, sizeof dir);
    snprintf(cfgp, sizeof cfgp, "%s/s.json", dir);
    write_text(cfgp, HEAD "\"axes\": [{\"name\": \"seed\", \"values\": ["
                          "{\"label\": \"0\", \"args\": {\"seed\": 0}},"
                          "{\"label\": \"1\", \"args\": {\"seed\": 1}}]}]}");
    snprintf(fake, sizeof fake, "%s/fake-wait", dir);
    write_script(fake, "#!/bin/sh\n"
                       "echo \"{\\\"ppl\\\": 1.5, \\\"wait\\\": \\\"${OMP_WAIT_POLICY-unset}\\\"}\"\n");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) cores = CPU_COUNT(&set);
    struct {
        const char *env;
        int jobs;
        long threads;
        const char *want;
    } cases[] = {{"env -u OMP_WAIT_POLICY", 2, cores, "passive"},
                 {"env -u OMP_WAIT_POLICY", 1, 1, "unset"},
                 {"env OMP_WAIT_POLICY=active", 2, cores, "active"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(path, sizeof path, "%s/r.jsonl", dir);
        unlink(path);
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && %s '%s' sweep s.json --rotbench '%s' --jobs %d --threads %ld "
                 ">/dev/null 2>err.txt",
                 dir, cases[i].env, exe, fake, cases[i].jobs, cases[i].threads);
        int st = system(cmd);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d", cmd, st);
        char *res = read_text(path), want[64];
        snprintf(want, sizeof want, "\"wait\":\"%s\"", cases[i].want);
        const char *a = strstr(res, want);
        cr_assert(a && strstr(a + 1, want), "case %zu: both runs should see %s:\n%s", i,
                  cases[i].want, res);
        free(res);
    }
    cleanup_dir(dir);
}

/* rotbench --version: the build id and whether MPI sweeps are built in. */
Test(sweep_cli, version_says_build_and_mpi) {
    const char *exe = rotbench_exe();
    char dir[1024];
    test_dir("cli_version", dir, sizeof dir);
    char *msg = run_in(dir, exe, "--version >v.txt", 0, "v.txt");
    char want[256];
    snprintf(want, sizeof want, "rotbench %s\n", rb_build_id());
    cr_assert(!strncmp(msg, want, strlen(want)), "%s", msg);
    cr_assert(strstr(msg, "(git "), "%s", msg);
    cr_assert(strstr(msg, rb_build_has_mpi() ? "MPI sweeps (sweep --mpi): Open MPI "
                                             : "MPI sweeps (sweep --mpi): not built in"),
              "%s", msg);
    free(msg);
    cleanup_dir(dir);
}
