/* MMLU subjects, prompts and the task loader (datasets/mmlu.h). */
#include "datasets/mmlu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"

typedef struct subject_def {
    const char *name;
    rb_mmlu_group group;
} subject_def;

/* lm_eval/tasks/mmlu/default/mmlu_<name>.yaml: dataset_name and tag */
static const subject_def subjects[RB_MMLU_SUBJECTS] = {
    {"abstract_algebra", RB_MMLU_STEM},
    {"anatomy", RB_MMLU_STEM},
    {"astronomy", RB_MMLU_STEM},
    {"business_ethics", RB_MMLU_OTHER},
    {"clinical_knowledge", RB_MMLU_OTHER},
    {"college_biology", RB_MMLU_STEM},
    {"college_chemistry", RB_MMLU_STEM},
    {"college_computer_science", RB_MMLU_STEM},
    {"college_mathematics", RB_MMLU_STEM},
    {"college_medicine", RB_MMLU_OTHER},
    {"college_physics", RB_MMLU_STEM},
    {"computer_security", RB_MMLU_STEM},
    {"conceptual_physics", RB_MMLU_STEM},
    {"econometrics", RB_MMLU_SOCIAL_SCIENCES},
    {"electrical_engineering", RB_MMLU_STEM},
    {"elementary_mathematics", RB_MMLU_STEM},
    {"formal_logic", RB_MMLU_HUMANITIES},
    {"global_facts", RB_MMLU_OTHER},
    {"high_school_biology", RB_MMLU_STEM},
    {"high_school_chemistry", RB_MMLU_STEM},
    {"high_school_computer_science", RB_MMLU_STEM},
    {"high_school_european_history", RB_MMLU_HUMANITIES},
    {"high_school_geography", RB_MMLU_SOCIAL_SCIENCES},
    {"high_school_government_and_politics", RB_MMLU_SOCIAL_SCIENCES},
    {"high_school_macroeconomics", RB_MMLU_SOCIAL_SCIENCES},
    {"high_school_mathematics", RB_MMLU_STEM},
    {"high_school_microeconomics", RB_MMLU_SOCIAL_SCIENCES},
    {"high_school_physics", RB_MMLU_STEM},
    {"high_school_psychology", RB_MMLU_SOCIAL_SCIENCES},
    {"high_school_statistics", RB_MMLU_STEM},
    {"high_school_us_history", RB_MMLU_HUMANITIES},
    {"high_school_world_history", RB_MMLU_HUMANITIES},
    {"human_aging", RB_MMLU_OTHER},
    {"human_sexuality", RB_MMLU_SOCIAL_SCIENCES},
    {"international_law", RB_MMLU_HUMANITIES},
    {"jurisprudence", RB_MMLU_HUMANITIES},
    {"logical_fallacies", RB_MMLU_HUMANITIES},
    {"machine_learning", RB_MMLU_STEM},
    {"management", RB_MMLU_OTHER},
    {"marketing", RB_MMLU_OTHER},
    {"medical_genetics", RB_MMLU_OTHER},
    {"miscellaneous", RB_MMLU_OTHER},
    {"moral_disputes", RB_MMLU_HUMANITIES},
    {"moral_scenarios", RB_MMLU_HUMANITIES},
    {"nutrition", RB_MMLU_OTHER},
    {"philosophy", RB_MMLU_HUMANITIES},
    {"prehistory", RB_MMLU_HUMANITIES},
    {"professional_accounting", RB_MMLU_OTHER},
    {"professional_law", RB_MMLU_HUMANITIES},
    {"professional_medicine", RB_MMLU_OTHER},
    {"professional_psychology", RB_MMLU_SOCIAL_SCIENCES},
    {"public_relations", RB_MMLU_SOCIAL_SCIENCES},
    {"security_studies", RB_MMLU_SOCIAL_SCIENCES},
    {"sociology", RB_MMLU_SOCIAL_SCIENCES},
    {"us_foreign_policy", RB_MMLU_SOCIAL_SCIENCES},
    {"virology", RB_MMLU_OTHER},
    {"world_religions", RB_MMLU_HUMANITIES},
};

static const char *const group_names[RB_MMLU_GROUPS] = {"stem", "humanities", "social_sciences",
                                                        "other"};

const char *rb_mmlu_subject(int i) { return subjects[i].name; }
rb_mmlu_group rb_mmlu_subject_group(int i) { return subjects[i].group; }
const char *rb_mmlu_group_name(rb_mmlu_group g) { return group_names[g]; }

int rb_mmlu_select(const char *name, unsigned char *sel) {
    memset(sel, 0, RB_MMLU_SUBJECTS);
    if (strncmp(name, "mmlu", 4) != 0) return 0;
    const char *rest = name + 4;
    int n = 0;
    for (int i = 0; i < RB_MMLU_SUBJECTS; i++) {
        int all = *rest == 0;
        int in_group = *rest == '_' && strcmp(rest + 1, group_names[subjects[i].group]) == 0;
        int one = *rest == '_' && strcmp(rest + 1, subjects[i].name) == 0;
        if (all || in_group || one) {
            sel[i] = 1;
            n++;
        }
    }
    return n;
}

void rb_mmlu_description(int i, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "The following are multiple choice questions (with answers) about "
                               "%s.\n\n", subjects[i].name);
    /* "abstract_algebra" → "abstract algebra" */
    const size_t at = strlen("The following are multiple choice questions (with answers) about ");
    for (size_t j = at; j < cap && (int)j < n && buf[j]; j++)
        if (buf[j] == '_') buf[j] = ' ';
}

/* Length in bytes of the Python-whitespace character at s (0 if none). */
static size_t space_at(const unsigned char *s, size_t n) {
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))) return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3; /* U+1680 */
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
        ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3; /* U+2000-200A, 2028, 2029, 202F */
    if (n >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
    if (n >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

/* The last character of s[0..n) when it is whitespace: its length, else 0. */
static size_t space_before(const unsigned char *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++)
        if (space_at(s + n - k, k) == k) return k;
    return 0;
}

char *rb_mmlu_doc_text(const rb_mmlu_row *row) {
    const unsigned char *q = (const unsigned char *)row->field[0];
    size_t n = strlen(row->field[0]), k;
    while (n && (k = space_at(q, n))) q += k, n -= k;
    while (n && (k = space_before(q, n))) n -= k;
    rb_buf b = {0};
    rb_buf_append(&b, (const char *)q, n);
    for (int c = 0; c < 4; c++) rb_buf_printf(&b, "\n%c. %s", 'A' + c, row->field[1 + c]);
    rb_buf_puts(&b, "\nAnswer:");
    char *s = b.oom ? NULL : rb_buf_take(&b);
    rb_buf_free(&b);
    return s;
}

int rb_mmlu_prefix(int subject, const rb_mmlu_rows *dev, int k, const char *dev_name, char **out,
                   rb_error *err) {
    *out = NULL;
    if (k < 0 || (size_t)k > (dev ? dev->n : 0))
        return rb_error_set(err, RB_EINVAL, "%s: %d few-shot examples asked, the file has %zu",
                            dev_name, k, dev ? dev->n : 0);
    char desc[160];
    rb_mmlu_description(subject, desc, sizeof desc);
    rb_buf b = {0};
    rb_buf_puts(&b, desc);
    for (int i = 0; i < k; i++) {
        char *doc = rb_mmlu_doc_text(&dev->rows[i]);
        if (!doc) {
            rb_buf_free(&b);
            return rb_error_set(err, RB_ENOMEM, "out of memory");
        }
        rb_buf_printf(&b, "%s %c\n\n", doc, 'A' + dev->rows[i].answer);
        free(doc);
    }
    if (!b.oom) *out = rb_buf_take(&b);
    rb_buf_free(&b);
    return *out ? RB_OK : rb_error_set(err, RB_ENOMEM, "out of memory");
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int rb_mmlu_load(const char *dir, int subject, int k, rb_zs_task *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    if (subject < 0 || subject >= RB_MMLU_SUBJECTS)
        return rb_error_set(err, RB_EINVAL, "MMLU subject index %d is not 0..%d", subject,
                            RB_MMLU_SUBJECTS - 1);
    const char *name = subjects[subject].name;
    char test_path[1024], dev_path[1024];
    snprintf(test_path, sizeof test_path, "%s/test/%s_test.csv", dir, name);
    snprintf(dev_path, sizeof dev_path, "%s/dev/%s_dev.csv", dir, name);
    rb_mmlu_rows test = {0}, dev = {0};
    int rc = RB_OK;
    if (k > 0 && !is_file(dev_path))
        return rb_error_set(err, RB_EIO,
                            "mmlu_%s: --num-fewshot %d needs the few-shot (dev) split, and %s "
                            "does not exist",
                            name, k, dev_path);
    if (k > 0) rc = rb_mmlu_csv_read(dev_path, &dev, err);
    if (!rc) rc = rb_mmlu_csv_read(test_path, &test, err);
    char *prefix = NULL;
    if (!rc) rc = rb_mmlu_prefix(subject, &dev, k, dev_path, &prefix, err);
    rb_mmlu_rows_free(&dev);
    if (rc) {
        rb_mmlu_rows_free(&test);
        return rc;
    }
    rb_zs_task t = {.kind = RB_ZS_CHOICE, .delimiter = " "};
    snprintf(t.name, sizeof t.name, "mmlu_%s", name);
    t.shared_prefix = strlen(prefix);
    t.items = calloc(test.n, sizeof *t.items);
    if (!t.items) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    for (size_t i = 0; i < test.n && !rc; i++) {
        rb_zs_item *it = &t.items[t.n_items++];
        char *doc = rb_mmlu_doc_text(&test.rows[i]);
        it->n_choices = 4;
        it->gold = test.rows[i].answer;
        if (doc) {
            size_t pl = t.shared_prefix, dl = strlen(doc);
            it->context = malloc(pl + dl + 1);
            if (it->context) {
                memcpy(it->context, prefix, pl);
                memcpy(it->context + pl, doc, dl + 1);
            }
        }
        free(doc);
        for (int c = 0; c < 4; c++) {
            it->choices[c] = malloc(2);
            if (it->choices[c]) it->choices[c][0] = (char)('A' + c), it->choices[c][1] = 0;
        }
        if (!it->context || !it->choices[0] || !it->choices[1] || !it->choices[2] ||
            !it->choices[3])
            rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    free(prefix);
    rb_mmlu_rows_free(&test);
    if (rc) {
        rb_zs_task_free(&t);
        return rc;
    }
    *out = t;
    return RB_OK;
}
