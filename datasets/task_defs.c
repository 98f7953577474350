/* lm-evaluation-harness 0.4's task configs, transcribed as data (see
 * datasets/task_defs.h for the template language).  Sources: the task YAML
 * files of lm-eval (piqa.yaml, arc_easy.yaml, openbookqa.yaml, boolq
 * (super_glue), winogrande/default.yaml + preprocess_winogrande.py,
 * lambada_openai.yaml, hellaswag.yaml + utils.py). */
#include "datasets/task_defs.h"

#include <stdio.h>
#include <string.h>

static const rb_task_def defs[] = {
    {.name = "hellaswag", .suite = 4, .format = RB_TASK_HELLASWAG_TXT, .kind = RB_ZS_CHOICE,
     .delimiter = " "},
    {.name = "piqa", .suite = 1, .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "Question: {goal}\nAnswer:", .choices = {"{sol1}", "{sol2}"},
     .gold = RB_GOLD_LABELS_FILE},
    /* HF ai2_arc export {question, choices {text, label}} or AI2's
     * {question {stem, choices [{text, label}]}} */
    {.name = "arc_easy", .suite = 2, .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "Question: {question|question.stem}\nAnswer:",
     .choice_texts = "choices.text|question.choices[].text",
     .choice_labels = "choices.label|question.choices[].label", .gold = RB_GOLD_KEY_IN_LABELS,
     .gold_field = "answerKey"},
    {.name = "arc_challenge", .suite = 3, .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "Question: {question|question.stem}\nAnswer:",
     .choice_texts = "choices.text|question.choices[].text",
     .choice_labels = "choices.label|question.choices[].label", .gold = RB_GOLD_KEY_IN_LABELS,
     .gold_field = "answerKey"},
    /* AI2 layout; HF openbookqa has question_stem and choices {text, label} */
    {.name = "openbookqa", .suite = 7, .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "{question.stem|question_stem}",
     .choice_texts = "question.choices[].text|choices.text",
     .choice_labels = "question.choices[].label|choices.label", .gold = RB_GOLD_KEY_IN_LABELS,
     .gold_field = "answerKey"},
    {.name = "boolq", .suite = 6, .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "{passage}\nQuestion: {question}?\nAnswer:", .choices = {"no", "yes"},
     .gold = RB_GOLD_BOOL, .gold_field = "answer", .lm_eval_acc_only = 1},
    {.name = "winogrande", .suite = 5, .format = RB_TASK_JSONL, .kind = RB_ZS_PARTIAL, .delimiter = " ",
     .context = "{sentence:after_blank}",
     .choices = {"{sentence:before_blank}{option1}", "{sentence:before_blank}{option2}"},
     .gold = RB_GOLD_ONE_BASED, .gold_field = "answer", .lm_eval_acc_only = 1},
    /* the target carries its own space; loglikelihood requests add no delimiter */
    {.name = "lambada", .suite = 8, .format = RB_TASK_JSONL, .kind = RB_ZS_GREEDY, .delimiter = "",
     .context = "{text:but_last_word}", .choices = {" {text:last_word}"},
     .gold = RB_GOLD_NONE, .lm_eval_name = "lambada_openai"},
};

enum { N_DEFS = sizeof defs / sizeof *defs };

const rb_task_def *rb_task_def_find(const char *name) {
    for (size_t i = 0; i < N_DEFS; i++)
        if (strcmp(defs[i].name, name) == 0) return &defs[i];
    return NULL;
}

const char *rb_task_lm_eval_name(const char *name) {
    const rb_task_def *d = rb_task_def_find(name);
    return d && d->lm_eval_name ? d->lm_eval_name : name;
}

const rb_task_def *rb_task_def_at(size_t i) { return i < N_DEFS ? &defs[i] : NULL; }

const char *rb_task_def_names(char *buf, size_t cap) {
    size_t used = 0;
    if (cap) *buf = 0;
    for (size_t i = 0; i < N_DEFS && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", defs[i].name);
    return buf;
}

int rb_task_suite(const char **names, int cap) {
    int n = 0;
    for (int rank = 1; n < cap; rank++) {
        const rb_task_def *d = NULL;
        for (size_t i = 0; i < N_DEFS && !d; i++)
            if (defs[i].suite == rank) d = &defs[i];
        if (!d) break;
        names[n++] = d->name;
    }
    return n;
}
