/* The flags of a run, declared once: name, type, range and the field of
 * rb_run_spec each one sets.  `rotbench eval` and `rotbench stats` parse
 * their command lines with this table, and the sweep turns a config's args
 * into a spec and the spec back into the child's command line with it, so a
 * flag added here is known to all three.
 *
 *   switch   --a-static            sets its field to `value` (--a-dynamic: 0)
 *   int      --ctx N               a decimal integer in [lo, hi]
 *   bits     --w-bits N            2..8, or 16 (off)
 *   text     --task NAME           any string (borrowed)
 *
 * Groups say which command takes a flag (eval takes all, stats the load,
 * pipeline and weight groups). */
#ifndef RB_RUN_FLAGS_H
#define RB_RUN_FLAGS_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "run/spec.h"

typedef enum rb_run_flag_kind { RB_FLAG_SWITCH, RB_FLAG_INT, RB_FLAG_BITS, RB_FLAG_TEXT } rb_run_flag_kind;

enum {
    RB_FLAGS_LOAD = 1,      /* --model, --tokenizer, --data-dir, --threads */
    RB_FLAGS_EVAL = 2,      /* --task, --text, --ctx, --max-tokens, --limit, --save-model,
                               --a-high-bits, --kv-high-bits */
    RB_FLAGS_PIPELINE = 4,  /* --pipeline, --seed, --calib*, --allow-long-ctx */
    RB_FLAGS_WEIGHTS = 8,   /* --w-* */
    RB_FLAGS_ACT = 16,      /* --a-*, --kv-*, --quantize-classifier */
    RB_FLAGS_ALL = 31
};

typedef struct rb_run_flag {
    const char *name;      /* without the leading "--" */
    rb_run_flag_kind kind;
    unsigned group;
    size_t offset;         /* of the field in rb_run_spec */
    int is_long;           /* int kinds: the field is a long (else an int) */
    long lo, hi;           /* int: the inclusive range */
    int value;             /* switch: the value it stores */
} rb_run_flag;

/* The table, terminated by an entry with name NULL. */
const rb_run_flag *rb_run_flags(void);
/* The flag named name (without "--") in groups, or NULL. */
const rb_run_flag *rb_run_flag_find(const char *name, unsigned groups);

/* Sets f's field of s from the flag's text value (NULL for a switch).  On a
 * bad value: RB_EINVAL, "--ctx expects an integer in 2..1048576, got 'x'". */
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
