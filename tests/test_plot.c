/* rotbench plot against hostile strings: labels, axis names, titles and file
 * names that would run shell commands or gnuplot commands if gnuplot
 * interpreted them (backticks, $(...), quotes that close the string,
 * newlines that start a new command, @ macros).  Each test runs the real
 * rotbench and the real gnuplot, checks that no marker file was created
 * (no command ran) and that the plot was still rendered with the text
 * shown literally. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/io.h"
#include "base/process.h"
#include "eval/sweep.h"
#include "tests/test_util.h"

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void fresh_dir(const char *name, char *buf, size_t cap) {
    rb_test_tmp_path(name, buf, cap);
    nftw(buf, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(mkdir(buf, 0700), 0, "mkdir %s: %s", buf, strerror(errno));
}

static const char *rotbench_exe(void) {
    const char *exe = getenv("ROTBENCH_EXE");
    if (exe && *exe) return exe;
    if (rb_test_in_ci()) cr_assert_fail("ROTBENCH_EXE is not set to the built rotbench (CI=true)");
    cr_skip_test("ROTBENCH_EXE is not set to the built rotbench (meson test sets it)");
    return NULL;
}

static void require_gnuplot(void) {
    char gp[1024];
    if (rb_find_program("gnuplot", gp, sizeof gp)) return;
    if (rb_test_in_ci()) cr_assert_fail("gnuplot is not installed (CI=true)");
    cr_skip_test("gnuplot is not installed");
}

/* Runs argv (no shell) in cwd with stderr to cwd/err.txt; the exit status. */
static int run(char *const *argv, const char *cwd) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (chdir(cwd)) _exit(126);
        int fd = open("err.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *read_text(const char *path) {
    char *s;
    size_t n;
    rb_error err;
    cr_assert_eq(rb_read_file(path, 0, &s, &n, &err), RB_OK, "%s", err.msg);
    return s;
}

static void write_text(const char *path, const char *text) {
    cr_assert_eq(rb_test_write_file(path, text, strlen(text)), 0, "cannot write %s", path);
}

/* No file whose name starts with "m" (the markers) exists in dir/markers. */
static void assert_no_marker(const char *dir) {
    static const char *const names[] = {"m1", "m2", "m3", "m4", "m5", "m6", "m7",
                                        "m8", "m9", "m10", "m11", "m12"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[1300];
        snprintf(p, sizeof p, "%s/markers/%s", dir, names[i]);
        cr_assert_neq(access(p, F_OK), 0, "a command in a plot string ran: %s exists", p);
    }
}

static void assert_png_and_svg(const char *stem) {
    char p[1400];
    snprintf(p, sizeof p, "%s.png", stem);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f, "%s was not written", p);
    unsigned char magic[8] = {0};
    cr_assert_eq(fread(magic, 1, 8, f), 8);
    fclose(f);
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    cr_assert_eq(memcmp(magic, png, 8), 0, "%s is not a PNG", p);
    snprintf(p, sizeof p, "%s.svg", stem);
    char *svg = read_text(p);
    cr_assert(strstr(svg, "<svg"), "no <svg in %s", p);
    free(svg);
}

Test(plot, hostile_labels_title_and_file_name_run_nothing, .timeout = 60) {
    const char *exe = rotbench_exe();
    require_gnuplot();
    char dir[1024], mk[1200], path[1300];
    fresh_dir("plot_hostile", dir, sizeof dir);
    snprintf(mk, sizeof mk, "%s/markers", dir);
    cr_assert_eq(mkdir(mk, 0700), 0);
    /* labels (series, x) and the x axis's name, as a shared results file could have them */
    char rec[8192];
    const char *D = dir;
    char series[1500], xa[1500], xb[1500], axis[1500];
    snprintf(series, sizeof series,
             "A `touch %s/markers/m1` \\\" ' \\\"); system(\\\"touch %s/markers/m2\\\"); "
             "print(\\\"\\n system('touch %s/markers/m3')\\n@x",
             D, D, D);
    snprintf(xa, sizeof xa, "c1 $(touch %s/markers/m4)", D);
    snprintf(xb, sizeof xb, "c2 ') ; system('touch %s/markers/m5') ; set title ('", D);
    snprintf(axis, sizeof axis, "ax`touch %s/markers/m6`'", D);
    snprintf(rec, sizeof rec,
             "{\"ppl\": 10, \"labels\": {\"%s\": \"%s\", \"s\": \"%s\"}}\n"
             "{\"ppl\": 12, \"labels\": {\"%s\": \"%s\", \"s\": \"%s\"}}\n"
             "{\"ppl\": 11, \"labels\": {\"%s\": \"%s\", \"s\": \"plain\"}}\n",
             axis, xa, series, axis, xb, series, axis, xa);
    snprintf(path, sizeof path, "%s/r.jsonl", dir);
    write_text(path, rec);
    char title[1500], out[1500], axis_raw[1500];
    snprintf(title, sizeof title,
             "T `touch %s/markers/m7` $(touch %s/markers/m8) '\n system('touch %s/markers/m9')\n"
             "\" \\ @GPVAL_PWD",
             D, D, D);
    snprintf(out, sizeof out, "%s/o'`touch %s/markers/m10`.png", dir, D);
    snprintf(axis_raw, sizeof axis_raw, "ax`touch %s/markers/m6`'", D);
    char *argv[] = {(char *)exe, "plot", "r.jsonl", "--x", axis_raw, "--series", "s",
                    "--title", title, "--out", out, NULL};
    int st = run(argv, dir);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *msg = read_text(path);
    cr_assert_eq(st, 0, "rotbench plot failed (%d): %s", st, msg);
    free(msg);
    assert_no_marker(dir);
    char stem[1500];
    snprintf(stem, sizeof stem, "%s/o'`touch %s/markers/m10`", dir, D);
    assert_png_and_svg(stem);
    /* the text is shown as written (control characters become spaces) */
    snprintf(path, sizeof path, "%s.svg", stem);
    char *svg = read_text(path);
    char want[1600];
    snprintf(want, sizeof want, "c1 $(touch %s/markers/m4)", D);
    cr_assert(strstr(svg, want), "x label not shown literally (%s) in %s", want, path);
    snprintf(want, sizeof want, "T `touch %s/markers/m7` $(touch %s/markers/m8)", D, D);
    cr_assert(strstr(svg, want), "title not shown literally (%s) in %s", want, path);
    free(svg);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

Test(plot, hostile_config_title_runs_nothing, .timeout = 60) {
    const char *exe = rotbench_exe();
    require_gnuplot();
    char dir[1024], mk[1200], path[1300];
    fresh_dir("plot_hostile_cfg", dir, sizeof dir);
    snprintf(mk, sizeof mk, "%s/markers", dir);
    cr_assert_eq(mkdir(mk, 0700), 0);
    const char *D = dir;
    char cfg[8192];
    snprintf(cfg, sizeof cfg,
             "{\"name\": \"c\", \"results\": \"r.jsonl\", \"axes\": [{\"name\": \"x\", "
             "\"values\": [{\"label\": \"1\", \"args\": {}}, {\"label\": \"2\", \"args\": "
             "{\"seed\": 1}}]}],\n \"plots\": [{\"name\": \"p\", \"x\": \"x\", \"title\": "
             "\"C `touch %s/markers/m11` \\\"; system(\\\"touch %s/markers/m12\\\") #\\n"
             "system('touch %s/markers/m1') ' @x\"}]}\n",
             D, D, D);
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_text(path, cfg);
    snprintf(path, sizeof path, "%s/r.jsonl", dir);
    write_text(path, "{\"ppl\": 3, \"labels\": {\"x\": \"1\"}}\n"
                     "{\"ppl\": 4, \"labels\": {\"x\": \"2\"}}\n");
    char *argv[] = {(char *)exe, "plot", "--config", "c.json", "--out-dir", "out", NULL};
    int st = run(argv, dir);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *msg = read_text(path);
    cr_assert_eq(st, 0, "rotbench plot --config failed (%d): %s", st, msg);
    free(msg);
    assert_no_marker(dir);
    char stem[1300];
    snprintf(stem, sizeof stem, "%s/out/c_p", dir);
    assert_png_and_svg(stem);
    snprintf(path, sizeof path, "%s/out/c_p.svg", dir);
    char *svg = read_text(path);
    char want[1600];
    snprintf(want, sizeof want, "C `touch %s/markers/m11`", D);
    cr_assert(strstr(svg, want), "title not shown literally (%s) in %s", want, path);
    free(svg);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
