/* A run specification: everything one evaluation (or one `rotbench stats`)
 * depends on, as plain values.  app/ fills it from flags, the sweep from a
 * config's args (both through run/flags.h); run/eval.h turns it into a
 * result record.
 *
 * Strings are borrowed (argv, a JSON config): the spec owns nothing and is
 * copied by assignment.  rb_run_spec_init sets the defaults below; every
 * field keeps its flag's meaning (README "Command line"). */
#ifndef RB_RUN_SPEC_H
#define RB_RUN_SPEC_H

typedef struct rb_run_spec {
    /* what is loaded */
    const char *model;      /* --model NAME|FILE (NULL: stories260K) */
    const char *tokenizer;  /* --tokenizer NAME|FILE (NULL: the named model's) */
    const char *data_dir;   /* --data-dir (NULL: $ROTBENCH_DATA, else ../shared) */
    int threads;            /* --threads (0: all cores) */
    /* what is evaluated */
    const char *task;       /* --task: a corpus name, or zero-shot task(s) (NULL: wikitext2) */
    const char *text;       /* --text FILE: a corpus file instead of --task */
    long ctx;               /* --ctx window in tokens (0: the model's maximum context) */
    long max_tokens;        /* --max-tokens: perplexity on the first N tokens (0: all) */
    long limit;             /* --limit: zero-shot on the first N items of each task (0: all) */
    long num_fewshot;       /* --num-fewshot: few-shot examples before each item (0; mmlu only) */
    const char *ppl_scoring; /* --ppl-scoring rotbench|llama.cpp (NULL: rotbench; eval/perplexity.h) */
    const char *save_model; /* --save-model OUT: the transformed model, before evaluating; the
                             * format from OUT (run/save.h) */
    const char *save_dtype; /* --save-dtype f32|bf16|f16|q8_0|q4_0 (NULL: f32) */
    const char *save_what;  /* --save-what trans|fake|quant (NULL: fake, or quant for q8_0/q4_0) */
    /* methods, calibration */
    const char *pipeline;   /* --pipeline STAGES ("": none) */
    long seed;              /* --seed (0) */
    const char *calib;      /* --calib NAME|FILE (NULL: the command's default corpus) */
    long calib_windows;     /* --calib-windows (32) */
    long calib_len;         /* --calib-len (256) */
    long calib_skip;        /* --calib-skip: leading tokens not drawn from (0) */
    int allow_long_ctx;     /* --allow-long-ctx: windows past the model's maximum context */
    /* quantizers: bits 2..8, 16 = off */
    int w_bits, a_bits, kv_bits;        /* 16 */
    int a_high_bits, kv_high_bits;      /* 8: the channels a stage declares high (resq) */
    int w_high_bits;                    /* 8: the weight columns under them (resq) */
    const char *w_gran, *a_gran, *kv_gran; /* "channel", "token", "head" */
    const char *w_clip, *a_clip;        /* "1" (a ratio, or "mse" for weights) */
    int w_asym, a_asym, kv_asym;        /* 0 */
    int w_scale_f16;                    /* --w-scale-f16: weight scales rounded to binary16 */
    int a_static, kv_static;            /* 0: dynamic */
    int quantize_classifier;            /* 0 */
    const char *w_override;             /* --w-override RULES (NULL: none; core/quant_override.h) */
    const char *a_override;             /* --a-override RULES (NULL: none), at linear inputs */
    const char *kv_clip;                /* "1": K and V clip ratio */
    /* K and V separately (QuaRot's --k_* / --v_*): each unset field takes
     * the --kv-* value; setting any of them quantizes K and V separately */
    int k_bits, v_bits;                 /* 0: as --kv-bits */
    const char *k_gran, *v_gran;        /* NULL: as --kv-gran */
    const char *k_clip, *v_clip;        /* NULL: as --kv-clip */
    int k_asym, v_asym;                 /* 0: as --kv-asym */
    const char *kernels;                /* --kernels fake|int (NULL: fake): how quantized
                                         * linears run (core/qlinear.h) */
} rb_run_spec;

/* The defaults listed above. */
void rb_run_spec_init(rb_run_spec *s);

#endif
