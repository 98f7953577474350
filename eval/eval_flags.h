/* The flags of `rotbench eval`, each declared once with its type and range.
 *
 * One table serves both readers of eval flags: rotbench eval parses its
 * values with it (app/cli.c: rb_cli_flag_int; the program checks at start
 * that its getopt table and this one list the same flags), and a sweep
 * config is checked against it when it is loaded (eval/sweep.c), so
 * `rotbench sweep --dry-run` rejects "ctx": 512.7 or an unknown key before
 * any run starts.  A flag added to eval is added here.
 *
 * Types and the values they accept (as command-line text; in a sweep config
 * also as JSON, see rb_flag_check_json):
 *   BOOL   a switch without a value (config: true; false drops the key)
 *   INT    a decimal integer in [lo, hi]
 *   BITS   a bit width: lo..hi (2..8) or 16 = off
 *   FLOAT  a number in (lo, hi], or one of words ("mse")
 *   TEXT   any text (names, paths, pipelines)
 *   ENUM   one of words, '|'-separated; a word "group:N" stands for
 *          "group:" followed by an integer in [lo, hi]
 */
#ifndef RB_EVAL_FLAGS_H
#define RB_EVAL_FLAGS_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"

typedef enum rb_flag_type {
    RB_FLAG_BOOL,
    RB_FLAG_INT,
    RB_FLAG_BITS,
    RB_FLAG_FLOAT,
    RB_FLAG_TEXT,
    RB_FLAG_ENUM,
} rb_flag_type;

typedef struct rb_flag_spec {
    const char *name;  /* without the leading "--" */
    rb_flag_type type;
    double lo, hi;     /* INT, BITS, ENUM's group:N: [lo, hi]; FLOAT: (lo, hi] */
    const char *words; /* ENUM: the values; FLOAT: other words accepted; else NULL */
} rb_flag_spec;

/* The table (static storage): *n entries. */
const rb_flag_spec *rb_eval_flags(size_t *n);

/* The entry named name (without "--"), or NULL. */
const rb_flag_spec *rb_eval_flag_find(const char *name);

/* Checks a command-line value of f (NULL for a BOOL flag) and, for INT and
 * BITS, stores it in *out (may be NULL).  RB_EINVAL with a message such as
 * "--ctx expects an integer in 2..1048576, got '512.7'". */
int rb_flag_parse(const rb_flag_spec *f, const char *value, long long *out, rb_error *err);

/* Checks a sweep config's JSON value of f: false (the key is dropped) for
 * any flag, true for a BOOL; else a string or a number that rb_flag_parse
 * accepts as written (a number for an ENUM is refused, 512.7 is no INT).
 * RB_EINVAL with the message of rb_flag_parse. */
int rb_flag_check_json(const rb_flag_spec *f, json_object *v, rb_error *err);

#endif
