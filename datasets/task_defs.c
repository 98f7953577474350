/* lm-evaluation-harness 0.4's task configs, transcribed as data (see
 * datasets/task_defs.h for the template language).  Sources: the task YAML
 * files of lm-eval (piqa.yaml, arc_easy.yaml, openbookqa.yaml, boolq
 * (super_glue), winogrande/default.yaml + preprocess_winogrande.py,
 * lambada_openai.yaml, hellaswag.yaml + utils.py). */
#include "datasets/task_defs.h"

#include <string.h>

static const rb_task_def defs[] = {
    {.name = "hellaswag", .format = RB_TASK_HELLASWAG_TXT, .kind = RB_ZS_CHOICE,
     .delimiter = " "},
    {.name = "piqa", .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "Question: {goal}\nAnswer:", .choices = {"{sol1}", "{sol2}"},
     .gold = RB_GOLD_LABELS_FILE},
    /* HF ai2_arc export {question, choices {text, label}} or AI2's
     * {question {stem, choices [{text, label}]}} */
    {.name = "arc_easy", .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "Question: {question|question.stem}\nAnswer:",
     .choice_texts = "choices.text|question.choices[].text",
     .choice_labels = "choices.label|question.choices[].label", .gold = RB_GOLD_KEY_IN_LABELS,
     .gold_field = "answerKey"},
    {.name = "arc_challenge", .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "Question: {question|question.stem}\nAnswer:",
     .choice_texts = "choices.text|question.choices[].text",
     .choice_labels = "choices.label|question.choices[].label", .gold = RB_GOLD_KEY_IN_LABELS,
     .gold_field = "answerKey"},
    /* AI2 layout; HF openbookqa has question_stem and choices {text, label} */
    {.name = "openbookqa", .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "{question.stem|question_stem}",
     .choice_texts = "question.choices[].text|choices.text",
     .choice_labels = "question.choices[].label|choices.label", .gold = RB_GOLD_KEY_IN_LABELS,
     .gold_field = "answerKey"},
    {.name = "boolq", .format = RB_TASK_JSONL, .kind = RB_ZS_CHOICE, .delimiter = " ",
     .context = "{passage}\nQuestion: {question}?\nAnswer:", .choices = {"no", "yes"},
     .gold = RB_GOLD_BOOL, .gold_field = "answer"},
    {.name = "winogrande", .format = RB_TASK_JSONL, .kind = RB_ZS_PARTIAL, .delimiter = " ",
     .context = "{sentence:after_blank}",
     .choices = {"{sentence:before_blank}{option1}", "{sentence:before_blank}{option2}"},
     .gold = RB_GOLD_ONE_BASED, .gold_field = "answer"},
    /* the target carries its own space; loglikelihood requests add no delimiter */
    {.name = "lambada", .format = RB_TASK_JSONL, .kind = RB_ZS_GREEDY, .delimiter = "",
     .context = "{text:but_last_word}", .choices = {" {text:last_word}"},
     .gold = RB_GOLD_NONE},
};

const rb_task_def *rb_task_def_find(const char *name) {
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)
        if (strcmp(defs[i].name, name) == 0) return &defs[i];
    return NULL;
}
