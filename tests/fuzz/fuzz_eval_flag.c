/* libFuzzer target: the eval flag value checks (eval/eval_flags.h) that
 * rotbench eval applies to its command line and the sweep to a config's
 * args.  Input: one byte choosing the flag, then the value: checked as
 * command-line text (rb_flag_parse) and, when it parses as JSON, as a
 * config value (rb_flag_check_json).  Aborts when a check accepts an
 * integer outside the flag's range or refuses without a message naming
 * the flag. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_flags.h"

static void check_refusal(const rb_flag_spec *f, const rb_error *err) {
    char want[64];
    strcpy(want, "--");
    strncat(want, f->name, sizeof want - 3);
    if (!strstr(err->msg, want)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    size_t n_flags;
    const rb_flag_spec *flags = rb_eval_flags(&n_flags);
    const rb_flag_spec *f = &flags[data[0] % n_flags];
    char *text = malloc(size);
    if (!text) abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0; /* a value stops at the first NUL, as in argv */

    rb_error err = {0};
    long long v = 0;
    if (rb_flag_parse(f, text, &v, &err) == RB_OK) {
        if ((f->type == RB_FLAG_INT && (v < f->lo || v > f->hi)) ||
            (f->type == RB_FLAG_BITS && v != 16 && (v < f->lo || v > f->hi)))
            abort();
    } else {
        check_refusal(f, &err);
    }
    if (f->type == RB_FLAG_BOOL && rb_flag_parse(f, NULL, NULL, &err) != RB_OK) abort();

    json_tokener *tok = json_tokener_new();
    if (!tok) abort();
    json_object *o = json_tokener_parse_ex(tok, text, (int)strlen(text));
    if (o && json_tokener_get_error(tok) == json_tokener_success) {
        rb_error e2 = {0};
        if (rb_flag_check_json(f, o, &e2) != RB_OK) check_refusal(f, &e2);
    }
    json_object_put(o);
    json_tokener_free(tok);
    free(text);
    return 0;
}
