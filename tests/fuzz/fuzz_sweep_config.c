/* libFuzzer target: the sweep config parser (rb_sweep_config_parse), then
 * the expansion and the child argv of each run for configs of at most
 * MAX_RUNS runs (larger ones are valid but only slow to expand); the same for
 * the config reduced by its profile "ci" when it has one
 * (eval/sweep_profile.h). */
#include <stdlib.h>

#include "base/process.h" /* rb_shell_join */
#include "eval/sweep.h"
#include "run/sweep.h"     /* rb_sweep_argv */

enum { MAX_RUNS = 256 };

static void one(const uint8_t *data, size_t size, const char *profile) {
    rb_sweep_config cfg;
    rb_error err = {0};
    if (rb_sweep_config_parse_profile((const char *)data, size, "fuzz.json", profile, &cfg,
                                      &err) != RB_OK) {
        if (!err.msg[0]) abort();
        return;
    }
    double runs = 1;
    for (size_t a = 0; a < cfg.n_axes; a++) runs *= (double)cfg.axes[a].n_values;
    if (runs <= MAX_RUNS) {
        rb_sweep_run *r = NULL;
        size_t n = 0;
        if (rb_sweep_expand(&cfg, &r, &n, &err) == RB_OK) {
            for (size_t i = 0; i < n; i++) {
                char **argv = NULL;
                if (rb_sweep_argv(&r[i], "rotbench", 2, &argv, &err) == RB_OK) {
                    free(rb_shell_join(argv));
                    rb_sweep_argv_free(argv);
                }
            }
            rb_sweep_runs_free(r, n);
        } else if (!err.msg[0]) {
            abort();
        }
    }
    rb_sweep_config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    one(data, size, NULL);
    one(data, size, "ci");
    return 0;
}
