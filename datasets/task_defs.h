/* The zero-shot task definitions: lm-evaluation-harness's prompts and targets
 * for each task, as data (datasets/task_defs.c) that one generic loader
 * (datasets/tasks.c) reads.
 *
 * Templates: literal text with placeholders {PATH} or {PATH:FILTER}.  PATH is
 * a dotted path to a string field of the item's JSON object ("question.stem");
 * "A|B" tries A, then B (one definition reads both layouts of a task).
 * Filters (Jinja expressions of the lm-eval configs):
 *   before_blank   text before the first "_"      (winogrande partial_context)
 *   after_blank    text after the first "_", stripped      (partial_target)
 *   but_last_word  text.split(' ')[:-1]|join(' ')        (lambada doc_to_text)
 *   last_word      text.split(' ')[-1]                  (lambada doc_to_target)
 */
#ifndef RB_DATASETS_TASK_DEFS_H
#define RB_DATASETS_TASK_DEFS_H

#include <json-c/json.h>

#include "eval/zeroshot.h"

typedef enum rb_task_format {
    RB_TASK_JSONL,         /* one JSON object a line */
    RB_TASK_HELLASWAG_TXT  /* llama.cpp's 6-lines-per-item layout, already preprocessed */
} rb_task_format;

typedef enum rb_task_gold {
    RB_GOLD_NONE,          /* greedy tasks: the single choice is the target */
    RB_GOLD_LABELS_FILE,   /* X.jsonl → X-labels.lst, one 0-based index a line (PIQA) */
    RB_GOLD_KEY_IN_LABELS, /* gold_field's string among the choice labels (ARC, OBQA) */
    RB_GOLD_BOOL,          /* gold_field true → choice 1, false → 0 (BoolQ) */
    RB_GOLD_ONE_BASED      /* gold_field "1".."n" → choice 0..n-1 (WinoGrande) */
} rb_task_gold;

typedef struct rb_task_def {
    const char *name;          /* "piqa" */
    int suite;                 /* position in the suite "zeroshot" (1, 2, ...: the order
                                  of its record and average); 0: not in it */
    rb_task_format format;
    rb_zs_kind kind;           /* RB_ZS_PARTIAL: the choices are contexts and
                                  `context` renders the shared continuation */
    const char *delimiter;     /* target delimiter put before each continuation */
    const char *context;       /* template */
    const char *choices[RB_ZS_MAX_CHOICES]; /* fixed choice templates (NULL-ended), or */
    const char *choice_texts;  /* a list: "choices.text" (array of strings) or
                                  "question.choices[].text" (field of each object);
                                  alternatives with '|' */
    const char *choice_labels; /* the matching labels list (same alternative) */
    rb_task_gold gold;
    const char *gold_field;
    /* lm-evaluation-harness's view, for its output files (eval/lmeval.h) */
    const char *lm_eval_name;  /* its task name when it differs (lambada_openai); NULL: name */
    int lm_eval_acc_only;      /* its metric_list has acc but no acc_norm (boolq, winogrande) */
} rb_task_def;

/* lm-eval's name of the rotbench task `name` (name itself when it is no
 * task of the table, or the same). */
const char *rb_task_lm_eval_name(const char *name);

/* The definition of task `name`, or NULL. */
const rb_task_def *rb_task_def_find(const char *name);
/* The i-th definition (table order), NULL past the last. */
const rb_task_def *rb_task_def_at(size_t i);
/* The names of all tasks, ", "-separated in table order, into buf[cap]
 * (returned), for messages and --help. */
const char *rb_task_def_names(char *buf, size_t cap);
/* The tasks of the suite "zeroshot" (the ones the rotation papers average),
 * in suite order: up to cap names into names; returns the count. */
int rb_task_suite(const char **names, int cap);

enum { RB_TASK_WHY = 160 };

/* Renders template t against item o into a malloc'd string (*out).  Returns
 * 0, or -1 with why[RB_TASK_WHY] set (a missing or non-string field, a bad
 * filter). */
int rb_task_render(const char *t, json_object *o, char **out, char *why);

/* Resolves a list spec (see choice_texts) on o: up to cap strings (borrowed
 * from o) into items; *which = the index of the alternative that matched.
 * Returns the count, or -1 when no alternative is an array of strings. */
int rb_task_list(const char *spec, json_object *o, const char **items, int cap, int *which);

#endif
