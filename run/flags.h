/* Where each flag of a run lands in rb_run_spec.  The flags' names, types
 * and ranges are declared once in eval/eval_flags.c (which the sweep config
 * loader checks configs against); this table binds each of them to its
 * field, and tests/test_run.c checks that the two list the same flags.
 * `rotbench eval` and `rotbench stats` build their getopt tables from it,
 * and the sweep turns a config's args into a spec and the spec back into
 * the child's command line with it.  A new eval flag: a line in
 * eval/eval_flags.c, a field in run/spec.h, a line here.
 *
 *   switch   --a-static            sets its int field to `value` (--a-dynamic: 0)
 *   int      --ctx N               an int or long field (eval_flags: INT, BITS)
 *   text     --task NAME           a string field, borrowed (TEXT, FLOAT, ENUM:
 *                                  the text as given, checked by eval_flags)
 *
 * Groups say which command takes a flag (eval takes all, stats the load,
 * pipeline and weight groups). */
#ifndef RB_RUN_FLAGS_H
#define RB_RUN_FLAGS_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "eval/eval_flags.h"
#include "run/spec.h"

typedef enum rb_run_field_kind { RB_FIELD_SWITCH, RB_FIELD_INT, RB_FIELD_TEXT } rb_run_field_kind;

enum {
    RB_FLAGS_LOAD = 1,      /* --model, --tokenizer, --data-dir, --threads */
    RB_FLAGS_EVAL = 2,      /* --task, --text, --ctx, --max-tokens, --limit, --save-model,
                               --a-high-bits, --kv-high-bits, --w-high-bits */
    RB_FLAGS_PIPELINE = 4,  /* --pipeline, --seed, --calib*, --allow-long-ctx */
    RB_FLAGS_WEIGHTS = 8,   /* --w-* */
    RB_FLAGS_ACT = 16,      /* --a-*, --kv-*, --quantize-classifier */
    RB_FLAGS_ALL = 31
};

typedef struct rb_run_flag {
    const char *name;      /* without the leading "--" */
    rb_run_field_kind kind;
    unsigned group;
    size_t offset;         /* of the field in rb_run_spec */
    int is_long;           /* int kinds: the field is a long (else an int) */
    int value;             /* switch: the value it stores */
} rb_run_flag;

/* The table, terminated by an entry with name NULL. */
const rb_run_flag *rb_run_flags(void);
/* The flag named name (without "--") in groups, or NULL. */
const rb_run_flag *rb_run_flag_find(const char *name, unsigned groups);

/* f's declaration in eval/eval_flags.h (type, range), NULL if it has none. */
const rb_flag_spec *rb_run_flag_type(const rb_run_flag *f);

/* Sets f's field of s from the flag's text value (NULL for a switch),
 * checked with rb_flag_parse.  On a bad value: RB_EINVAL, "--ctx expects an
 * integer in 2..1048576, got 'x'". */
int rb_run_flag_set(rb_run_spec *s, const rb_run_flag *f, const char *value, rb_error *err);

/* Sets s from args, an object {flag: value} as a sweep config writes them
 * (true: a switch; a number or string: the value; false: absent).  Unknown
 * flags, values of the wrong type and bad values are RB_EINVAL naming the
 * flag.  String values stay borrowed from args; a number given to a text
 * flag ("w-clip": 0.9) becomes its text ("0.9"), a string appended to the
 * array strings (owned by the caller; NULL: such a number is an error). */
int rb_run_spec_from_args(rb_run_spec *s, json_object *args, unsigned groups, json_object *strings,
                          rb_error *err);

/* The command-line flags that reproduce s (every field that differs from
 * rb_run_spec_init's defaults, in table order): malloc'd strings into
 * argv[0..*n) (room for 2 per flag: rb_run_flags_max_argc()).  RB_ENOMEM. */
int rb_run_spec_argv(const rb_run_spec *s, char **argv, size_t *n, rb_error *err);
size_t rb_run_flags_max_argc(void);

#endif
