/* rotbench eval: perplexity of a model on a corpus, or zero-shot accuracy on
 * multiple-choice tasks (--task hellaswag,piqa / --task zeroshot); one JSON
 * object with --json.  The flags become a run spec (run/flags.h), run/eval.h
 * runs it and returns the record; this file prints it. */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "eval/lmeval.h"
#include "eval/records.h" /* rb_json_null_nonfinite */
#include "datasets/task_defs.h"
#include "datasets/tasks.h"
#include "run/eval.h"
#include "run/zeroshot.h"

static void eval_usage(FILE *f) {
    char names[256], suite[256] = "";
    const char *tasks[RB_ZS_MAX_TASKS];
    int n = rb_task_suite(tasks, RB_ZS_MAX_TASKS);
    for (int i = 0; i < n; i++)
        snprintf(suite + strlen(suite), sizeof suite - strlen(suite), "%s%s", i ? "," : "", tasks[i]);
    fprintf(f, "usage: rotbench eval [options]\n"
          "  --model NAME|FILE|DIR   model (default stories260K): llama2.c v0 .bin, GGUF\n"
          "                          file, or Hugging Face directory (config.json +\n"
          "                          safetensors)\n"
          "  --tokenizer NAME|FILE   tokenizer (default: the named model's)\n"
          "  --task wikitext2|tinystories   corpus from the data directory (default wikitext2)\n"
          "  --task T[,T...]         zero-shot accuracy (acc, acc_norm, stderr; their average\n"
          "                          over several tasks), T one of\n"
          "                          %s;\n"
          "                          --task zeroshot runs the suite\n"
          "                          %s\n"
          "  --task mmlu|mmlu_stem|mmlu_humanities|mmlu_social_sciences|mmlu_other|mmlu_SUBJECT\n"
          "                          MMLU (acc per subject, group and overall, weighted by size)\n"
          "  --num-fewshot K         few-shot examples before each item (default 0; only mmlu\n"
          "                          has a few-shot split: the first K dev rows)\n"
          "  --limit N               zero-shot: score only the first N items of each task\n"
          "                          (of each subject for mmlu)\n"
          "  --text FILE             any UTF-8 text file as the corpus instead of --task\n"
          "  --ctx N                 window length in tokens (default: the model's seq_len,\n"
          "                          its maximum context; longer needs --allow-long-ctx)\n"
          "  --max-tokens N          evaluate only the first N tokens of the corpus\n"
          "  --ppl-scoring S         rotbench (default: every token of each window but its\n"
          "                          first) | llama.cpp (llama-perplexity's: whole windows,\n"
          "                          BOS first in each, only the second half scored)\n"
          "  --threads N             threads for OpenMP and OpenBLAS (default: all cores)\n"
          "  --data-dir DIR          data directory (default $ROTBENCH_DATA or ../shared)\n"
          "  --json                  print one JSON object with the result on stdout\n"
          "  --output-format lm-eval --output-path DIR\n"
          "                          also write lm-evaluation-harness 0.4's results file,\n"
          "                          DIR/results_<UTC date>.json (results.<task>.\"acc,none\",\n"
          "                          configs, versions, n-shot, config; perplexity tasks:\n"
          "                          word_perplexity, byte_perplexity, bits_per_byte)\n"
          "  --log-samples           with --output-format lm-eval: also lm-eval's per-sample\n"
          "                          DIR/samples_<task>_<date>.jsonl of each zero-shot task\n"
          "                          (not MMLU, not perplexity corpora)\n"
          "methods and quantization:\n"
          RB_CLI_HELP_PIPELINE RB_CLI_HELP_WEIGHTS RB_CLI_HELP_ACT RB_CLI_HELP_SEED
          "  --calib NAME|FILE       calibration corpus (default: tinystories, or wikitext2\n"
          "                          when evaluating tinystories/--text)\n"
          RB_CLI_HELP_CALIB_SIZE
          "  --a-high-bits N         bits of the high-precision activation channels a stage\n"
          "                          declares (resq), 2..8 or 16 = full precision (default 8)\n"
          "  --kv-high-bits N        the same for the K/V cache (default 8)\n"
          "  --w-high-bits N         bits of the weight columns that multiply those channels\n"
          "                          (resq:weights=mixed, the default; 16 = full precision;\n"
          "                          default 8, as ResQ's paper)\n"
          "  --kernels fake|int      quantized linears by fake quantization (fp32 GEMM on\n"
          "                          dequantized values, the default) or on integer codes\n"
          "                          (int32 dot products, one rescale per group; needs\n"
          "                          --w-bits and --a-bits, an rtn or gptq stage, no resq)\n"
          "  --save-model OUT        save the model before eval: OUT.gguf (GGUF), OUT.bin\n"
          "                          (llama2.c), OUT/ or a name without extension (HF dir)\n"
          "  --save-dtype T          f32 (default) | bf16 | f16 | q8_0 | q4_0 (GGUF blocks of\n"
          "                          rotbench's quantized weights: --w-gran group:32\n"
          "                          --w-scale-f16, symmetric, --w-bits 8 / 4 or fewer)\n"
          "  --save-what W           trans (before the weight quantizer stage) | fake\n"
          "                          (default: dequantized weights) | quant (q8_0/q4_0)\n",
          rb_zs_task_names(names, sizeof names), suite);
}

typedef struct eval_out {
    int as_json;
    const char *format, *path; /* --output-format, --output-path */
    int log_samples;           /* --log-samples */
} eval_out;

/* --json, --output-format, --output-path (ctx: eval_out). */
static int out_flag(void *ctx, int ch, const char *arg) {
    eval_out *o = ctx;
    switch (ch) {
    case 'J': o->as_json = 1; return 1;
    case 'F': o->format = arg; return 1;
    case 'P': o->path = arg; return 1;
    case 'S': o->log_samples = 1; return 1;
    default: return 0;
    }
}

int rb_cmd_eval(int argc, char **argv) {
    rb_run_spec spec;
    rb_run_spec_init(&spec);
    eval_out out = {0};
    static const struct option extra[] = {{"json", no_argument, 0, 'J'},
                                          {"output-format", required_argument, 0, 'F'},
                                          {"output-path", required_argument, 0, 'P'},
                                          {"log-samples", no_argument, 0, 'S'},
                                          {0, 0, 0, 0}};
    int status = rb_cli_parse(argc, argv, RB_FLAGS_ALL, extra, &spec, out_flag, &out,
                              eval_usage);
    if (status >= 0) return status;
    int as_json = out.as_json;
    if (rb_cli_check_output_format(out.format, out.path, out.log_samples)) return 2;
    rb_error err = {0};
    if (rb_run_eval_check(&spec, &err) ||
        (out.log_samples && rb_run_eval_samples_check(&spec, &err))) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 2;
    }
    rb_cli_reporter reporter;
    rb_cli_reporter_init(&reporter);
    json_object *o = NULL;
    rb_lmeval_samples samples = {0};
    if (rb_run_eval_samples(&spec, &reporter.report, out.log_samples ? &samples : NULL, &o,
                            &err)) {
        rb_lmeval_samples_free(&samples);
        return rb_cli_fail(&err);
    }
    if (out.path) {
        char path[4096];
        int rc = rb_lmeval_write(o, out.log_samples ? &samples : NULL, out.path, path,
                                 sizeof path, &err);
        rb_lmeval_samples_free(&samples);
        if (rc) {
            json_object_put(o);
            return rb_cli_fail(&err);
        }
        fprintf(stderr, "wrote %s", path);
        if (out.log_samples) fprintf(stderr, " and its samples_*.jsonl");
        fputc('\n', stderr);
    }
    if (as_json) {
        rb_json_null_nonfinite(o); /* standard JSON: "ppl": null, "ppl_nonfinite": "inf" */
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        const char *task = json_object_get_string(json_object_object_get(o, "task"));
        const char *model = json_object_get_string(json_object_object_get(o, "model"));
        json_object *tasks = json_object_object_get(o, "tasks");
        if (!tasks)
            printf("%s %s ctx=%" PRId64 " tokens=%" PRId64 " ppl=%.4f nll=%.6f\n", task, model,
                   json_object_get_int64(json_object_object_get(o, "ctx")),
                   json_object_get_int64(json_object_object_get(o, "n_tokens")),
                   json_object_get_double(json_object_object_get(o, "ppl")),
                   json_object_get_double(json_object_object_get(o, "nll")));
        else
            printf("%s %s %s\n", task, model,
                   json_object_to_json_string_ext(
                       tasks, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    json_object_put(o);
    return 0;
}
