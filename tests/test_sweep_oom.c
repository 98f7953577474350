/* eval/sweep.c's out-of-memory path when the JSON tokener cannot be
 * allocated: an error, and nothing allocated before it is leaked.  This
 * executable is linked with -Wl,--wrap=json_tokener_new (tests/meson.build),
 * so the library's calls come here and can be made to fail; meson runs it
 * without tcache (GLIBC_TUNABLES), so mallinfo2 counts freed chunks as free. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <malloc.h>
#include <string.h>

#include "eval/sweep.h"

static int fail_tokener;

json_tokener *__real_json_tokener_new(void);
json_tokener *__wrap_json_tokener_new(void);
json_tokener *__wrap_json_tokener_new(void) {
    return fail_tokener ? NULL : __real_json_tokener_new();
}

Test(sweep_oom, config_parse_without_a_tokener_frees_what_it_allocated) {
    const char *text = "{\"name\": \"t\", \"results\": \"r.jsonl\", \"axes\": [{\"name\": \"a\", "
                       "\"values\": [{\"label\": \"x\"}]}]}";
    rb_sweep_config cfg;
    rb_error err = {0};
    /* warm up (stdio, json-c's first allocations), then measure */
    cr_assert_eq(rb_sweep_config_parse(text, strlen(text), "configs/x.json", &cfg, &err), RB_OK,
                 "%s", err.msg);
    rb_sweep_config_free(&cfg);
    fail_tokener = 1;
    size_t before = mallinfo2().uordblks;
    int rc = rb_sweep_config_parse(text, strlen(text), "configs/a-long-config-path.json", &cfg, &err);
    size_t after = mallinfo2().uordblks;
    fail_tokener = 0;
    cr_expect_eq(rc, RB_ENOMEM);
    cr_expect(strstr(err.msg, "out of memory"), "%s", err.msg);
    cr_expect_eq(after, before, "%zu bytes still allocated after the failed parse",
                 after - before);
}
