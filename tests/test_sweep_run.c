/* Running sweeps against a fake rotbench: records and failures, and a real
 * SIGKILL of the rotbench binary then --resume. */
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

/* ---- running sweeps against a fake rotbench -------------------------------------- */



Test(sweep_run, execute_records_and_failures) {
    char dir[1024], fake[1200], cfgp[1200], res[1200];
    test_dir("exec", dir, sizeof dir);
    write_fake(dir, fake, sizeof fake);
    snprintf(res, sizeof res, "%s/out/res.jsonl", dir);
    char text[4096];
    snprintf(text, sizeof text,
             "{\"name\": \"ex\", \"results\": \"%s\", \"base\": {\"model\": \"m\", \"a-static\": true},"
             " \"axes\": [{\"name\": \"x\", \"values\": [{\"label\": \"1\", \"args\": {\"text\": 1}},"
             " {\"label\": \"bad\", \"args\": {\"text\": \"bad\"}}, {\"label\": \"3\", \"args\": {\"text\": 3}}]},"
             " {\"name\": \"seed\", \"values\": [{\"label\": \"0\", \"args\": {\"seed\": 0}},"
             " {\"label\": \"1\", \"args\": {\"seed\": 1}}]}]}",
             res);
    rb_sweep_config cfg;
    rb_error err = {0};
    load_cfg_file(dir, text, cfgp, sizeof cfgp, &cfg);
    events ev = {0};
    rb_sweep_opts o = {.rotbench = fake, .jobs = 3, .threads = 2, .progress = collect,
                       .progress_ctx = &ev};
    rb_sweep_summary sum;
    cr_assert_eq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(sum.n_runs, 6);
    cr_assert_eq(sum.n_done, 4);
    cr_assert_eq(sum.n_failed, 2);
    cr_assert_eq(ev.done, 4);
    cr_assert_eq(ev.failed, 2);
    cr_assert_eq(ev.plan_n, 6);
    cr_assert(strstr(ev.last_fail, "exit status 3 | "), "%s", ev.last_fail);
    cr_assert(strstr(ev.last_fail, "eval --model m --text bad "), "%s", ev.last_fail);
    cr_assert(strstr(ev.last_fail, " --a-static --threads 2 --json | "), "%s", ev.last_fail);
    cr_assert(strstr(ev.last_fail, "progress...\nboom: bad x"), "%s", ev.last_fail);

    rb_records r;
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_records_count(&r), 4);
    cr_assert_eq(r.n_issues, 0);
    for (size_t i = 0; i < 4; i++) {
        json_object *rec = rb_records_get(&r, i), *v;
        const char *x = rb_record_label(rec, "x");
        cr_assert(x && strcmp(x, "bad"), "label x");
        double ppl;
        cr_assert_eq(rb_record_number(rec, "ppl", &ppl), 0);
        cr_assert_float_eq(ppl, atof(x) + 0.5, 1e-12);
        cr_assert(json_object_object_get_ex(rec, "sweep", &v));
        cr_assert_str_eq(json_object_get_string(v), "ex");
        cr_assert(json_object_object_get_ex(rec, "args", &v));
        char *k = rb_json_canonical(v);
        cr_assert(json_object_object_get_ex(rec, "run_key", &v));
        cr_assert_str_eq(json_object_get_string(v), k);
        free(k);
        cr_assert(json_object_object_get_ex(rec, "args_seen", &v));
        cr_assert(strstr(json_object_get_string(v), "--threads 2 --json"), "%s",
                  json_object_get_string(v));
    }
    rb_records_free(&r);

    /* without --resume the existing file is an error; with it only the failed runs go again */
    cr_assert_neq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK);
    cr_assert(strstr(err.msg, "results file exists, use --resume"), "%s", err.msg);
    o.resume = 1;
    memset(&ev, 0, sizeof ev);
    cr_assert_eq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(sum.n_skipped, 4);
    cr_assert_eq(sum.n_failed, 2);
    cr_assert_eq(ev.plan_skipped, 4);
    rb_sweep_config_free(&cfg);
    cleanup_dir(dir);
}

/* ---- a real SIGKILL, then --resume, through the rotbench binary ------------------- */


Test(sweep_run, resume_after_sigkill, .timeout = 120) {
    const char *exe = rotbench_exe();
    char dir[1024], fake[1200], cfgp[1200], res[1200], errp[1200];
    test_dir("kill", dir, sizeof dir);
    write_fake(dir, fake, sizeof fake);
    snprintf(res, sizeof res, "%s/results/kill.jsonl", dir);
    snprintf(errp, sizeof errp, "%s/stderr.txt", dir);
    rb_buf t = {0};
    rb_buf_printf(&t, "{\"name\": \"kill\", \"results\": \"%s\", \"base\": {\"task\": \"t\"}, \"axes\": [", res);
    rb_buf_puts(&t, "{\"name\": \"x\", \"values\": [");
    for (int i = 0; i < 8; i++)
        rb_buf_printf(&t, "%s{\"label\": \"%d\", \"args\": {\"text\": %d}}", i ? ", " : "", i, i);
    rb_buf_puts(&t, "]}, {\"name\": \"seed\", \"values\": [{\"label\": \"0\", \"args\": {\"seed\": 0}},"
                    " {\"label\": \"1\", \"args\": {\"seed\": 1}}]}]}\n");
    snprintf(cfgp, sizeof cfgp, "%s/kill.json", dir);
    write_text(cfgp, t.s);
    rb_buf_free(&t);

    /* the runs the config expands to */
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(rb_sweep_config_load(cfgp, &cfg, &err), RB_OK, "%s", err.msg);
    rb_sweep_run *runs;
    size_t n_runs;
    cr_assert_eq(rb_sweep_expand(&cfg, &runs, &n_runs, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(n_runs, 16);

    /* start, wait for 4 finished records (16 runs x 0.15 s / 2 jobs ~ 1.2 s), SIGKILL */
    pid_t pid = start_sweep(exe, cfgp, fake, NULL, errp);
    double t0 = rb_now();
    while (count_newlines(res) < 4 && rb_now() - t0 < 60) usleep(5000);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status = wait_exit(pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the sweep ended by itself");

    rb_records r;
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK, "%s", err.msg);
    size_t n_first = rb_records_count(&r);
    cr_assert_eq(r.n_issues, 0, "%s", r.n_issues ? r.issues[0].msg : "");
    cr_assert_eq(r.tail, RB_TAIL_CLEAN);
    cr_assert(n_first >= 4 && n_first < 16, "%zu records after the kill", n_first);
    for (size_t i = 0; i < n_first; i++) {
        json_object *rec = rb_records_get(&r, i), *v;
        cr_assert(json_object_object_get_ex(rec, "run_key", &v));
        cr_assert(json_object_object_get_ex(rec, "ppl", &v));
        cr_assert(json_object_object_get_ex(rec, "args", &v));
        cr_assert_not_null(rb_record_label(rec, "seed"));
    }
    rb_records_free(&r);
    char *before = read_text(res);

    /* a torn write on top (what a crash inside write(2) could leave) */
    FILE *f = fopen(res, "ab");
    cr_assert_not_null(f);
    fputs("{\"ppl\": 7.5, \"run_key\": \"{\\\"seed\\\":0,\\\"task", f);
    fclose(f);
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK);
    cr_assert_eq(rb_records_count(&r), n_first);
    cr_assert_eq(r.n_issues, 1);
    cr_assert_eq(r.tail, RB_TAIL_PARTIAL);
    rb_records_free(&r);

    /* without --resume: refused */
    pid = start_sweep(exe, cfgp, fake, NULL, errp);
    status = wait_exit(pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d", status);
    char *msg = read_text(errp);
    cr_assert(strstr(msg, "results file exists, use --resume"), "%s", msg);
    free(msg);

    /* --resume: the partial line goes, the missing runs run, nothing twice */
    pid = start_sweep(exe, cfgp, fake, "--resume", errp);
    status = wait_exit(pid);
    msg = read_text(errp);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d:\n%s", status, msg);
    cr_assert(strstr(msg, "kill.jsonl:"), "%s", msg);
    cr_assert(strstr(msg, "partial last line"), "%s", msg);
    char plan[128];
    snprintf(plan, sizeof plan, "sweep: %zu runs to do, %zu already in the results file",
             16 - n_first, n_first);
    cr_assert(strstr(msg, plan), "expected \"%s\" in:\n%s", plan, msg);
    snprintf(plan, sizeof plan, "[1/%zu] ", 16 - n_first);
    cr_assert(strstr(msg, plan), "expected \"%s\" in:\n%s", plan, msg);
    cr_assert(strstr(msg, ".5000 ("), "%s", msg);
    free(msg);

    char *after = read_text(res);
    cr_assert(strncmp(after, before, strlen(before)) == 0, "the records before the kill changed");
    free(before);
    free(after);
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK);
    cr_assert_eq(r.n_issues, 0, "%s", r.n_issues ? r.issues[0].msg : "");
    cr_assert_eq(r.tail, RB_TAIL_CLEAN);
    cr_assert_eq(rb_records_count(&r), 16);
    for (size_t i = 0; i < n_runs; i++) {
        size_t seen = 0;
        for (size_t j = 0; j < 16; j++) {
            json_object *v;
            json_object_object_get_ex(rb_records_get(&r, j), "run_key", &v);
            seen += !strcmp(json_object_get_string(v), runs[i].key);
        }
        cr_assert_eq(seen, 1, "run %s appears %zu times", runs[i].label_text, seen);
    }
    rb_records_free(&r);

    /* the table of the finished sweep: 8 x values, mean over 2 seeds = x + 0.5, std 0 */
    rb_agg agg;
    cr_assert_eq(rb_records_read(res, 0, &r, &err), RB_OK);
    rb_table_spec spec = {.rows = "x", .cols = "x", .metric = "ppl"};
    cr_assert_neq(rb_table_aggregate(r.items, &spec, NULL, &agg, &err), RB_OK); /* same axis */
    const char *axes[1] = {"x"};
    cr_assert_eq(rb_agg_init(&agg, axes, 1, &err), RB_OK);
    cr_assert_eq(rb_agg_add(&agg, r.items, "ppl", NULL, 0, &err), RB_OK);
    cr_assert_eq(agg.n_cells, 8);
    for (size_t i = 0; i < 8; i++) {
        cr_assert_eq(agg.cells[i].n, 2);
        cr_assert_float_eq(agg.cells[i].mean, atof(agg.dims[0].labels[agg.cells[i].idx[0]]) + 0.5,
                           1e-12);
        cr_assert_float_eq(agg.cells[i].std, 0, 1e-12);
    }
    rb_agg_free(&agg);
    rb_records_free(&r);
    rb_sweep_runs_free(runs, n_runs);
    rb_sweep_config_free(&cfg);
    cleanup_dir(dir);
}
