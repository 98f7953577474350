/* Plots from results files: the gnuplot script, PNG/SVG or a clear error. */
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

/* ---- plots ---------------------------------------------------------------------- */

Test(plot_records, plot_png_or_clear_error) {
    char dir[1024], out[1200], path[1300];
    test_dir("plot", dir, sizeof dir);
    rb_records r;
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(FIXTURE, strlen(FIXTURE), "fix.jsonl", &r, &err), RB_OK);
    rb_plot_spec spec = {.x = "col", .series = "model", .metric = "ppl", .logy = 1,
                         .source = "fix.jsonl"};
    rb_agg agg;
    cr_assert_eq(rb_plot_aggregate(r.items, &spec, NULL, &agg, &err), RB_OK);
    char *script;
    cr_assert_eq(rb_plot_script(&agg, &spec, "p", &script, &err), RB_OK, "%s", err.msg);
    /* series A at c1: 10, 12, 14 (r1) and 7.25 (r2), averaged over row and seed */
    cr_assert(strstr(script, "$d1 << EOD\n# A\n0 10.8125 2.882"), "%s", script);
    cr_assert(strstr(script, "set xtics ('c1' 0, 'c2' 1)"), "%s", script);
    cr_assert(strstr(script, "set logscale y"), "%s", script);
    cr_assert(strstr(script, "with yerrorlines"), "%s", script);
    cr_assert(strstr(script, "set output 'p.png'"), "%s", script);
    cr_assert(strstr(script, "set output 'p.svg'"), "%s", script);
    free(script);

    /* a gnuplot that is not there: a clear error, the script is still written */
    snprintf(out, sizeof out, "%s/missing.png", dir);
    spec.gnuplot = "/nonexistent/gnuplot";
    cr_assert_eq(rb_plot_write(&agg, &spec, out, &err), RB_EUNSUPPORTED);
    cr_assert(strstr(err.msg, "gnuplot not found: /nonexistent/gnuplot is not an executable file"),
              "%s", err.msg);
    snprintf(path, sizeof path, "%s/missing.gp", dir);
    cr_assert_eq(access(path, R_OK), 0);

    char gp[1024];
    if (!rb_find_program("gnuplot", gp, sizeof gp)) {
        if (rb_test_in_ci()) cr_assert_fail("gnuplot is not installed (CI=true)");
        rb_agg_free(&agg);
        rb_records_free(&r);
        cleanup_dir(dir);
        cr_skip_test("gnuplot is not installed: only the missing-gnuplot error was checked");
    }
    spec.gnuplot = NULL;
    snprintf(out, sizeof out, "%s/sub dir/ppl.png", dir); /* directories are created */
    cr_assert_eq(rb_plot_write(&agg, &spec, out, &err), RB_OK, "%s", err.msg);
    FILE *f = fopen(out, "rb");
    cr_assert_not_null(f, "%s was not written", out);
    unsigned char magic[8] = {0};
    cr_assert_eq(fread(magic, 1, 8, f), 8);
    fclose(f);
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    cr_assert_eq(memcmp(magic, png, 8), 0, "%s is not a PNG", out);
    snprintf(path, sizeof path, "%s/sub dir/ppl.svg", dir);
    char *svg = read_text(path);
    cr_assert(strstr(svg, "<svg"), "no <svg in %s", path);
    free(svg);
    snprintf(path, sizeof path, "%s/sub dir/ppl.gp", dir);
    cr_assert_eq(access(path, R_OK), 0);

    /* numeric x: sorted by value, no error bars without repeats */
    const char *num = "{\"ppl\": 3, \"labels\": {\"ctx\": \"256\"}}\n"
                      "{\"ppl\": 5, \"labels\": {\"ctx\": \"64\"}}\n"
                      "{\"ppl\": 4, \"labels\": {\"ctx\": \"128\"}}\n";
    rb_records r2;
    rb_agg a2;
    cr_assert_eq(rb_records_parse(num, strlen(num), "num", &r2, &err), RB_OK);
    rb_plot_spec s2 = {.x = "ctx", .logx = 1};
    cr_assert_eq(rb_plot_aggregate(r2.items, &s2, NULL, &a2, &err), RB_OK);
    cr_assert_eq(rb_plot_script(&a2, &s2, "n", &script, &err), RB_OK, "%s", err.msg);
    cr_assert(strstr(script, "$d1 << EOD\n64 5 0 1\n128 4 0 1\n256 3 0 1\nEOD"), "%s", script);
    cr_assert(strstr(script, "with linespoints"), "%s", script);
    cr_assert(strstr(script, "set logscale x"), "%s", script);
    free(script);
    snprintf(out, sizeof out, "%s/num.png", dir);
    cr_assert_eq(rb_plot_write(&a2, &s2, out, &err), RB_OK, "%s", err.msg);
    rb_agg_free(&a2);
    rb_records_free(&r2);

    rb_agg_free(&agg);
    rb_records_free(&r);
    cleanup_dir(dir);
}
