/* MMLU (Hendrycks et al., 2021) as lm-evaluation-harness 0.4 defines it
 * (lm_eval/tasks/mmlu/default/ at EleutherAI/lm-evaluation-harness commit
 * 4e7e0d47f33bc71070c1d38394bafbb52b117163): one task per subject, four
 * groups, the test split scored and the dev split as few-shot examples.
 *
 * Task names: "mmlu_<subject>" (57 subjects, e.g. mmlu_abstract_algebra),
 * the groups "mmlu_stem", "mmlu_humanities", "mmlu_social_sciences",
 * "mmlu_other" and "mmlu" (all 57).  The subject → group map is the `tag` of
 * each subject's task file.
 *
 * Requests for an item (a test row) with K few-shot examples (the first K
 * dev rows, lm-eval's first_n sampler):
 *
 *   context  = description + shot_1 + ... + shot_K + doc(item)
 *   description = "The following are multiple choice questions (with
 *                  answers) about " + subject with '_' → ' ' + ".\n\n"
 *   doc(row) = strip(question) + "\nA. " + A + "\nB. " + B + "\nC. " + C
 *              + "\nD. " + D + "\nAnswer:"
 *   shot_k   = doc(dev row k) + " " + its answer letter + "\n\n"
 *              (target delimiter " ", few-shot delimiter "\n\n")
 *   choices  = "A", "B", "C", "D", scored as " A" ... " D"; gold = the
 *              answer letter; metric acc (acc_norm equals acc: every
 *              choice is one character).
 *
 * strip() is Python's str.strip(): the Unicode whitespace of str.isspace()
 * (ASCII \t\n\v\f\r, \x1c-\x1f, space, and U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 in UTF-8).
 *
 * Files: DIR/test/<subject>_test.csv and DIR/dev/<subject>_dev.csv
 * (datasets/mmlu_csv.h), DIR = <data directory>/datasets/mmlu.
 */
#ifndef RB_DATASETS_MMLU_H
#define RB_DATASETS_MMLU_H

#include <stddef.h>

#include "base/error.h"
#include "datasets/mmlu_csv.h"
#include "eval/zeroshot.h"

enum { RB_MMLU_SUBJECTS = 57 };

typedef enum rb_mmlu_group {
    RB_MMLU_STEM = 0, RB_MMLU_HUMANITIES, RB_MMLU_SOCIAL_SCIENCES, RB_MMLU_OTHER,
    RB_MMLU_GROUPS
} rb_mmlu_group;

/* Where the files live inside the data directory. */
#define RB_MMLU_DIR "datasets/mmlu"

/* Subject i (0..56, sorted by name, = sorted file order): its name
 * ("abstract_algebra") and group. */
const char *rb_mmlu_subject(int i);
rb_mmlu_group rb_mmlu_subject_group(int i);

/* "stem", "humanities", "social_sciences", "other". */
const char *rb_mmlu_group_name(rb_mmlu_group g);

/* Marks in sel[RB_MMLU_SUBJECTS] the subjects task `name` covers (see
 * above); returns how many, or 0 when name is not an MMLU task. */
int rb_mmlu_select(const char *name, unsigned char *sel);

/* The description of subject i into buf[cap] (truncated to fit). */
void rb_mmlu_description(int i, char *buf, size_t cap);

/* doc(row) as above (malloc'd; NULL when out of memory). */
char *rb_mmlu_doc_text(const rb_mmlu_row *row);

/* The few-shot prefix, description + the first k rows of dev rendered as
 * shots (malloc'd into *out).  RB_EINVAL when dev has fewer than k rows. */
int rb_mmlu_prefix(int subject, const rb_mmlu_rows *dev, int k, const char *dev_name,
                   char **out, rb_error *err);

/* Loads subject i from dir (DIR above) with k few-shot examples into *out
 * (name "mmlu_<subject>", kind RB_ZS_CHOICE, delimiter " ", shared_prefix =
 * the length of the prefix; free with rb_zs_task_free).  k > 0 needs the
 * dev file: RB_EIO naming it when it is missing. */
int rb_mmlu_load(const char *dir, int subject, int k, rb_zs_task *out, rb_error *err);

#endif
