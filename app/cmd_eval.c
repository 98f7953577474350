/* rotbench eval: perplexity of a model on a corpus, or zero-shot accuracy on
 * multiple-choice tasks (--task hellaswag,piqa / --task zeroshot: see
 * app/eval_zeroshot.h); one JSON object with --json. */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/cli.h"
#include "app/eval_zeroshot.h"
#include "base/io.h"
#include "base/sha256.h"
#include "datasets/registry.h"
#include "datasets/tasks.h"
#include "core/calib.h"
#include "core/context_limit.h"
#include "core/quant.h"
#include "eval/perplexity.h"
#include "eval/zeroshot.h"
#include "kernels/linear.h"
#include "methods/prepare.h"

static void eval_usage(FILE *f) {
    fputs("usage: rotbench eval [options]\n"
          "  --model NAME|FILE       model (default stories260K; llama2.c v0 .bin)\n"
          "  --tokenizer NAME|FILE   tokenizer (default: the named model's)\n"
          "  --task wikitext2|tinystories   corpus from the data directory (default wikitext2)\n"
          "  --task T[,T...]         zero-shot accuracy (acc, acc_norm, stderr; their average\n"
          "                          over several tasks): hellaswag, piqa, arc_easy,\n"
          "                          arc_challenge, openbookqa, boolq, winogrande, lambada;\n"
          "                          --task zeroshot runs all eight\n"
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
          "  --threads N             threads for OpenMP and OpenBLAS (default: all cores)\n"
          "  --data-dir DIR          data directory (default $ROTBENCH_DATA or ../shared)\n"
          "  --json                  print one JSON object with the result on stdout\n"
          "methods and quantization:\n"
          RB_CLI_HELP_PIPELINE RB_CLI_HELP_WEIGHTS RB_CLI_HELP_ACT RB_CLI_HELP_SEED
          "  --calib NAME|FILE       calibration corpus (default: tinystories, or wikitext2\n"
          "                          when evaluating tinystories/--text)\n"
          RB_CLI_HELP_CALIB_SIZE
          "  --a-high-bits N         bits of the high-precision activation channels a stage\n"
          "                          declares (resq), 2..8 or 16 = full precision (default 8)\n"
          "  --kv-high-bits N        the same for the K/V cache (default 8)\n"
          "  --save-model FILE       save the transformed model (llama2.c v0) before eval\n",
          f);
}

/* Whether two paths name the same existing file. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static json_object *config_json(const rb_config *c) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "dim", json_object_new_int(c->dim));
    json_object_object_add(o, "hidden_dim", json_object_new_int(c->hidden_dim));
    json_object_object_add(o, "n_layers", json_object_new_int(c->n_layers));
    json_object_object_add(o, "n_heads", json_object_new_int(c->n_heads));
    json_object_object_add(o, "n_kv_heads", json_object_new_int(c->n_kv_heads));
    json_object_object_add(o, "vocab_size", json_object_new_int(c->vocab_size));
    json_object_object_add(o, "seq_len", json_object_new_int(c->seq_len));
    return o;
}

/* The mixed-precision channels the pipeline declared: point → {block, high}. */
static json_object *high_channels_json(const rb_quant_config *q) {
    json_object *o = json_object_new_object();
    const char *names[RB_ACT_POINT_COUNT + 2];
    const rb_quant_split *splits[RB_ACT_POINT_COUNT + 2];
    for (int p = 0; p < RB_ACT_POINT_COUNT; p++) {
        names[p] = rb_act_point_name((rb_act_point)p);
        splits[p] = &q->a_split[p];
    }
    names[RB_ACT_POINT_COUNT] = "k";
    splits[RB_ACT_POINT_COUNT] = &q->k_split;
    names[RB_ACT_POINT_COUNT + 1] = "v";
    splits[RB_ACT_POINT_COUNT + 1] = &q->v_split;
    for (int i = 0; i < RB_ACT_POINT_COUNT + 2; i++) {
        json_object *s = json_object_new_object();
        json_object_object_add(s, "block", json_object_new_int(splits[i]->block));
        json_object_object_add(s, "high", json_object_new_int(splits[i]->high));
        json_object_object_add(o, names[i], s);
    }
    return o;
}

int rb_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *tokenizer = NULL, *task = NULL, *text = NULL, *data_dir = NULL;
    long ctx = 0, max_tokens = 0, threads = 0, limit = 0, num_fewshot = 0;
    int as_json = 0;
    const char *save_path = NULL;
    rb_cli_prep prep;
    rb_cli_prep_init(&prep);
    rb_quant_config *quant = &prep.quant;
    enum { O_SAVE = RB_CLI_O_END, O_AHB, O_KHB, O_FEWSHOT };
    static const struct option opts[] = {
        RB_CLI_PIPELINE_OPTIONS, RB_CLI_WEIGHT_OPTIONS, RB_CLI_ACT_OPTIONS,
        {"save-model", required_argument, 0, O_SAVE},
        {"a-high-bits", required_argument, 0, O_AHB},
        {"kv-high-bits", required_argument, 0, O_KHB},
        {"model", required_argument, 0, 'm'},  {"tokenizer", required_argument, 0, 'k'},
        {"task", required_argument, 0, 't'},   {"text", required_argument, 0, 'x'},
        {"ctx", required_argument, 0, 'c'},    {"max-tokens", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 'j'}, {"data-dir", required_argument, 0, 'd'},
        {"json", no_argument, 0, 'J'},         {"help", no_argument, 0, 'h'},
        {"limit", required_argument, 0, 'L'},
        {"num-fewshot", required_argument, 0, O_FEWSHOT},
        {0, 0, 0, 0}};
    int ch = rb_cli_check_flag_table(opts); /* the flags' types: eval/eval_flags.c */
    if (ch) return ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'k': tokenizer = optarg; break;
        case 't': task = optarg; break;
        case 'x': text = optarg; break;
        case 'c': ctx = (long)rb_cli_flag("ctx", optarg); break;
        case 'n': max_tokens = (long)rb_cli_flag("max-tokens", optarg); break;
        case 'j': threads = (long)rb_cli_flag("threads", optarg); break;
        case 'd': data_dir = optarg; break;
        case 'J': as_json = 1; break;
        case 'L': limit = (long)rb_cli_flag("limit", optarg); break;
        case O_SAVE: save_path = optarg; break;
        case O_FEWSHOT: num_fewshot = (long)rb_cli_flag("num-fewshot", optarg); break;
        case O_AHB: quant->a_high_bits = (int)rb_cli_flag("a-high-bits", optarg); break;
        case O_KHB: quant->kv_high_bits = (int)rb_cli_flag("kv-high-bits", optarg); break;
        case 'h': eval_usage(stdout); return 0;
        default:
            if (rb_cli_prep_flag(&prep, ch, optarg)) break;
            eval_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (task && text) {
        fprintf(stderr, "error: give --task or --text, not both\n");
        return 2;
    }
    rb_error err = {0};
    rb_zs_list zs = {0};
    if (task && rb_cli_zs_parse(task, &zs, &err)) return rb_cli_fail(&err);
    int zeroshot = zs.n > 0;
    if (limit && !zeroshot) {
        fprintf(stderr, "error: --limit applies to the zero-shot tasks (%s, or zeroshot for all)\n",
                rb_zs_task_names());
        return 2;
    }
    if (num_fewshot && !zeroshot) {
        fprintf(stderr, "error: --num-fewshot applies to the zero-shot tasks (mmlu)\n");
        return 2;
    }
    if (max_tokens && zeroshot) {
        fprintf(stderr, "error: --max-tokens applies to perplexity; use --limit for %s\n", task);
        return 2;
    }
    int nthreads = rb_cli_set_threads((int)threads);
    rb_cli_model cm;
    char corpus_path[1024] = "";
    const char *task_name = text ? "text" : task ? task : "wikitext2";
    int rc = rb_cli_load(model, tokenizer, data_dir, 1, 1, &cm, &err);
    if (!rc && !zeroshot)
        rc = rb_data_resolve(text ? text : task_name, RB_DATA_CORPUS, data_dir, corpus_path,
                             sizeof corpus_path, &err);
    char *corpus = NULL;
    size_t corpus_len = 0;
    char data_sha[65] = "";
    if (!rc && !zeroshot) rc = rb_read_file(corpus_path, 0, &corpus, &corpus_len, &err);
    if (!rc && !zeroshot) rb_sha256_hex(corpus, corpus_len, data_sha);
    int32_t *tokens = NULL;
    size_t n_tokens = 0;
    double t_tok = rb_now();
    if (!rc && !zeroshot)
        rc = rb_tokenizer_encode(cm.tokenizer, corpus, corpus_len, 1, 0, &tokens, &n_tokens, &err);
    t_tok = rb_now() - t_tok;
    free(corpus);
    if (rc) {
        rb_cli_unload(&cm);
        return rb_cli_fail(&err);
    }
    if (max_tokens && (size_t)max_tokens < n_tokens) n_tokens = (size_t)max_tokens;
    if (!ctx) ctx = rb_model_max_ctx(&cm.model->cfg);
    if ((rc = rb_ctx_check(&cm.model->cfg, ctx, prep.allow_long_ctx, "--ctx", cm.model_path,
                           &err))) {
        free(tokens);
        rb_cli_unload(&cm);
        return rb_cli_fail(&err);
    }
    /* methods and quantizers */
    rb_pipeline pipeline = {0};
    rb_calib calib = {0};
    char calib_path[1024] = "", pipeline_canon[2048] = "";
    rc = rb_cli_prep_finish(&prep, &cm.model->cfg, &pipeline, &err);
    int need_calib = pipeline.n > 0 || quant->a_static || quant->kv_static;
    /* never calibrate on the scored corpus */
    if (!rc && need_calib)
        rc = rb_cli_build_calib(&prep, &cm, strcmp(task_name, "wikitext2") ? "wikitext2"
                                                                           : "tinystories",
                                data_dir, &calib, calib_path, sizeof calib_path, &err);
    if (!rc && need_calib && !zeroshot && same_file(calib_path, corpus_path) &&
        (size_t)prep.calib_skip < n_tokens)
        rc = rb_error_set(&err, RB_EINVAL,
                          "calibration on %s would draw from the %zu scored tokens: give "
                          "--calib-skip %zu or more (or another --calib)",
                          calib_path, n_tokens, n_tokens);
    double t_prep = rb_now();
    if (!rc)
        rc = rb_prepare_model(cm.model, &pipeline, quant, need_calib ? &calib : NULL,
                              (uint64_t)prep.seed, 1, &err);
    t_prep = rb_now() - t_prep;
    if (!rc && save_path) rc = rb_model_save(cm.model, save_path, &err);
    rb_pipeline_format(&pipeline, pipeline_canon, sizeof pipeline_canon);
    rb_calib_free(&calib);
    rb_hooks hooks;
    rb_quant_hooks(quant, &hooks);
    const rb_hooks *use_hooks = rb_quant_config_active(quant) ? &hooks : NULL;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "model", json_object_new_string(cm.model_path));
    json_object_object_add(o, "model_sha256", json_object_new_string(cm.model_sha256));
    json_object_object_add(o, "model_config", config_json(&cm.model->cfg));
    json_object_object_add(o, "tokenizer", json_object_new_string(cm.tokenizer_path));
    json_object_object_add(o, "tokenizer_sha256", json_object_new_string(cm.tokenizer_sha256));
    json_object_object_add(o, "task", json_object_new_string(task_name));
    json_object_object_add(o, "ctx", json_object_new_int64(ctx));
    json_object_object_add(o, "model_max_ctx", json_object_new_int(rb_model_max_ctx(&cm.model->cfg)));
    json_object_object_add(o, "allow_long_ctx", json_object_new_boolean(prep.allow_long_ctx));
    if (!rc && zeroshot) {
        fprintf(stderr, "eval: %s, %d zero-shot task%s, ctx %ld, %d threads\n", cm.model_path,
                zs.n, zs.n > 1 ? "s" : "", ctx, nthreads);
        rc = rb_cli_zs_run(&cm, use_hooks, &zs, data_dir, (size_t)limit, (int)ctx, (int)num_fewshot,
                           o, &err);
    } else if (!rc) {
        fprintf(stderr, "eval: %s on %s: %zu tokens (tokenized in %.2f s), ctx %ld, %d threads\n",
                cm.model_path, corpus_path, n_tokens, t_tok, ctx, nthreads);
        rb_workspace ws;
        rb_ppl_result res = {0};
        rb_cli_progress_state progress = {"eval", -10, NULL};
        rc = rb_workspace_init(&ws, &cm.model->cfg, (int)ctx, &err);
        if (!rc)
            rc = rb_perplexity(cm.model, &ws, use_hooks, tokens, n_tokens, (int)ctx, 0,
                               rb_cli_progress, &progress, &res, &err);
        rb_workspace_free(&ws);
        if (!rc) {
            double tps = (double)(res.n_scored + res.n_windows) / res.seconds;
            fprintf(stderr,
                    "eval: ppl %.4f (nll %.6f) over %zu scored tokens in %.2f s, %.0f tokens/s\n",
                    res.ppl, res.nll, res.n_scored, res.seconds, tps);
            json_object_object_add(o, "data", json_object_new_string(corpus_path));
            json_object_object_add(o, "data_sha256", json_object_new_string(data_sha));
            json_object_object_add(o, "n_tokens", json_object_new_int64((int64_t)res.n_scored));
            json_object_object_add(o, "n_windows", json_object_new_int64((int64_t)res.n_windows));
            json_object_object_add(o, "nll", json_object_new_double(res.nll));
            json_object_object_add(o, "ppl", json_object_new_double(res.ppl));
            json_object_object_add(o, "seconds", json_object_new_double(res.seconds));
            json_object_object_add(o, "tokens_per_second", json_object_new_double(tps));
        }
    }
    free(tokens);
    if (rc) {
        json_object_put(o);
        rb_cli_prep_free(&prep);
        rb_cli_unload(&cm);
        return rb_cli_fail(&err);
    }
    if (as_json) {
        json_object_object_add(o, "threads", json_object_new_int(nthreads));
        json_object_object_add(o, "blas_threads", json_object_new_int(rb_blas_threads()));
        json_object_object_add(o, "blas_kernels", json_object_new_string(rb_blas_kernels()));
        json_object *method = json_object_new_object();
        json_object_object_add(method, "pipeline", json_object_new_string(pipeline_canon));
        json_object *qj = json_object_new_object();
        json_object_object_add(qj, "w", rb_cli_quant_spec_json(&quant->w, 0, 0));
        json_object_object_add(qj, "a", rb_cli_quant_spec_json(&quant->a, quant->a_static, 1));
        json_object_object_add(qj, "kv", rb_cli_quant_spec_json(&quant->kv, quant->kv_static, 1));
        json_object_object_add(qj, "quantize_classifier",
                               json_object_new_boolean(quant->quantize_classifier));
        json_object_object_add(qj, "a_high_bits", json_object_new_int(quant->a_high_bits));
        json_object_object_add(qj, "kv_high_bits", json_object_new_int(quant->kv_high_bits));
        if (rb_quant_config_mixed(quant))
            json_object_object_add(qj, "high_channels", high_channels_json(quant));
        json_object_object_add(method, "quant", qj);
        json_object_object_add(method, "seed", json_object_new_int64(prep.seed));
        if (need_calib) {
            json_object *cj = json_object_new_object();
            json_object_object_add(cj, "data", json_object_new_string(calib_path));
            json_object_object_add(cj, "windows", json_object_new_int64(prep.calib_windows));
            json_object_object_add(cj, "len", json_object_new_int64(prep.calib_len));
            json_object_object_add(cj, "skip", json_object_new_int64(prep.calib_skip));
            json_object_object_add(method, "calib", cj);
        }
        json_object_object_add(method, "prepare_seconds", json_object_new_double(t_prep));
        json_object_object_add(o, "method", method);
        json_object_object_add(o, "rotbench_version", json_object_new_string(RB_VERSION));
        rb_json_null_nonfinite(o); /* standard JSON: "ppl": null, "ppl_nonfinite": "inf" */
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        if (!zeroshot)
            printf("%s %s ctx=%ld tokens=%" PRId64 " ppl=%.4f nll=%.6f\n", task_name,
                   cm.model_path, ctx, json_object_get_int64(json_object_object_get(o, "n_tokens")),
                   json_object_get_double(json_object_object_get(o, "ppl")),
                   json_object_get_double(json_object_object_get(o, "nll")));
        else
            printf("%s %s %s\n", task_name, cm.model_path,
                   json_object_to_json_string_ext(
                       json_object_object_get(o, "tasks"),
                       JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    json_object_put(o);
    rb_cli_prep_free(&prep);
    rb_cli_unload(&cm);
    return 0;
}
