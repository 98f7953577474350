/* rotbench tokenize: the token ids exactly as the evaluator feeds them to the
 * model (BOS first; for a zero-shot task, every choice's window), to debug
 * prompts and to check tokenizers against other implementations. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/cli.h"
#include "base/io.h"
#include "datasets/registry.h"
#include "datasets/tasks.h"

static void tokenize_usage(FILE *f) {
    fputs("usage: rotbench tokenize [--model M | --tokenizer T] (--text FILE | --task NAME) [--json]\n"
          "  --model NAME|DIR        a model: an HF directory (its tokenizer.json) or a\n"
          "                          registered name (its registered tokenizer)\n"
          "  --tokenizer NAME|PATH   llama2.c .bin, tokenizer.json, or a directory holding one\n"
          "  --text FILE             the whole file, as `eval --text` encodes it (BOS + text)\n"
          "  --task NAME             a corpus (wikitext2, tinystories) as `eval --task` encodes\n"
          "                          it, or a zero-shot task: one window per choice\n"
          "  --limit N               zero-shot: the first N items only\n"
          "  --requests              zero-shot: instead of ids, the strings the evaluator\n"
          "                          tokenizes for each window, one JSON string a line: the\n"
          "                          context less trailing white space, context + continuation,\n"
          "                          and that white space + continuation alone\n"
          "  --lines FILE            one JSON string a line: the ids of each (no BOS), a line each\n"
          "  --json                  one JSON value on stdout: an array of ids (text, corpus)\n"
          "                          or an array of {item, choice, n_cont, ids} (zero-shot)\n"
          "  --data-dir DIR          data directory\n",
          f);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The tokenizer path for --model / --tokenizer (see usage). */
static int tokenizer_path(const char *model, const char *tokenizer, const char *data_dir,
                          char *path, size_t cap, rb_error *err) {
    if (tokenizer) {
        if (is_dir(tokenizer)) {
            snprintf(path, cap, "%s", tokenizer);
            return RB_OK;
        }
        return rb_data_resolve(tokenizer, RB_DATA_TOKENIZER, data_dir, path, cap, err);
    }
    if (!model) model = RB_DEFAULT_MODEL;
    if (is_dir(model)) {
        snprintf(path, cap, "%s", model);
        return RB_OK;
    }
    if (ends_with(model, ".gguf")) { /* its embedded vocabulary (rb_tokenizer_open reads it) */
        snprintf(path, cap, "%s", model);
        return RB_OK;
    }
    const rb_data_entry *e = rb_data_find(model, RB_DATA_MODEL);
    if (!e)
        return rb_error_set(err, RB_EINVAL,
                            "%s: a llama2.c model file needs --tokenizer FILE (or a tokenizer "
                            "name: tok512, llama2)",
                            model);
    return rb_data_resolve(e->tokenizer, RB_DATA_TOKENIZER, data_dir, path, cap, err);
}

static void print_ids(const int32_t *ids, size_t n, int json) {
    if (json) putchar('[');
    for (size_t i = 0; i < n; i++) printf(i ? (json ? ",%d" : " %d") : "%d", ids[i]);
    if (json) putchar(']');
}

static void print_json_string(const char *s, size_t n) {
    json_object *o = json_object_new_string_len(s, (int)n);
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* The three strings rb_zs_encode may tokenize for (ctx, cont). */
static int print_requests(const char *ctx, const char *cont, rb_error *err) {
    size_t lc = strlen(ctx), lk = strlen(cont), end = rb_zs_context_end(ctx, lc);
    char *s = malloc(lc + lk + 1);
    if (!s) return rb_error_set(err, RB_ENOMEM, "out of memory");
    memcpy(s, ctx, lc);
    memcpy(s + lc, cont, lk + 1);
    print_json_string(s, end);
    print_json_string(s, lc + lk);
    print_json_string(s + end, lc + lk - end);
    free(s);
    return RB_OK;
}

/* --lines FILE: one JSON string per line -> its ids (no BOS). */
static int tokenize_lines(const rb_tokenizer *t, const char *path, rb_error *err) {
    char *buf = NULL;
    size_t len = 0, line_no = 0;
    int rc = rb_read_file(path, 0, &buf, &len, err);
    for (char *line = buf, *next; !rc && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        line_no++;
        json_object *o = json_tokener_parse(line);
        if (!o || !json_object_is_type(o, json_type_string)) {
            rc = rb_error_set(err, RB_EFORMAT, "%s:%zu: expected one JSON string", path, line_no);
        } else {
            int32_t *ids = NULL;
            size_t n = 0;
            rc = rb_tokenizer_encode(t, json_object_get_string(o),
                                     (size_t)json_object_get_string_len(o), 0, 0, &ids, &n, err);
            if (!rc) print_ids(ids, n, 0), putchar('\n');
            free(ids);
        }
        json_object_put(o);
    }
    free(buf);
    return rc;
}

static int tokenize_zeroshot(const rb_tokenizer *t, const char *name, const char *data_dir,
                             size_t limit, int json, int requests, rb_error *err) {
    char path[1024];
    rb_zs_task task = {0};
    int rc = rb_data_resolve(name, RB_DATA_ZEROSHOT, data_dir, path, sizeof path, err);
    if (!rc) rc = rb_zs_task_load(name, path, &task, err);
    if (rc) return rc;
    size_t n_items = limit && limit < task.n_items ? limit : task.n_items, windows = 0;
    json = json && !requests;
    if (json) putchar('[');
    for (size_t i = 0; !rc && i < n_items; i++) {
        const rb_zs_item *it = &task.items[i];
        for (int c = 0; !rc && c < it->n_choices; c++) {
            const char *ctx;
            char *cont = NULL;
            int32_t *ids = NULL;
            size_t n = 0, n_cont = 0;
            rc = rb_zs_request(&task, it, c, &ctx, &cont, err);
            if (!rc && requests) {
                rc = print_requests(ctx, cont, err);
                windows++;
                free(cont);
                continue;
            }
            if (!rc) rc = rb_zs_encode(t, ctx, cont, &ids, &n, &n_cont, err);
            if (!rc) {
                if (json) printf("%s{\"item\":%zu,\"choice\":%d,\"n_cont\":%zu,\"ids\":",
                                 windows ? "," : "", i, c, n_cont);
                else printf("%zu %d %zu:", i, c, n_cont), putchar(' ');
                print_ids(ids, n, json);
                fputs(json ? "}" : "\n", stdout);
                windows++;
            }
            free(cont);
            free(ids);
        }
    }
    if (json) puts("]");
    if (rc) rb_error_prefix(err, "%s: ", name);
    else fprintf(stderr, "tokenize: %s: %zu items, %zu windows\n", name, n_items, windows);
    rb_zs_task_free(&task);
    return rc;
}

int rb_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *tokenizer = NULL, *text = NULL, *task = NULL, *data_dir = NULL,
               *lines = NULL;
    int json = 0, requests = 0;
    long limit = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"tokenizer", required_argument, 0, 'k'},
        {"text", required_argument, 0, 't'},  {"task", required_argument, 0, 'T'},
        {"limit", required_argument, 0, 'l'}, {"json", no_argument, 0, 'J'},
        {"data-dir", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'},
        {"requests", no_argument, 0, 'R'},    {"lines", required_argument, 0, 'L'},
        {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'k': tokenizer = optarg; break;
        case 't': text = optarg; break;
        case 'T': task = optarg; break;
        case 'l': limit = rb_cli_int("--limit", optarg, 0, 1L << 40); break;
        case 'J': json = 1; break;
        case 'R': requests = 1; break;
        case 'L': lines = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'h': tokenize_usage(stdout); return 0;
        default: tokenize_usage(stderr); return 2;
        }
    }
    if (optind < argc || !!text + !!task + !!lines != 1 || (model && tokenizer)) {
        fprintf(stderr, "error: give one of --text FILE / --task NAME / --lines FILE, and at most one of "
                        "--model / --tokenizer\n");
        tokenize_usage(stderr);
        return 2;
    }
    rb_error err = {0};
    char path[1024];
    rb_tokenizer *t = NULL;
    int rc = tokenizer_path(model, tokenizer, data_dir, path, sizeof path, &err);
    if (!rc) rc = rb_tokenizer_open(path, &t, &err);
    if (rc) return rb_cli_fail(&err);
    int zeroshot = task && !rb_data_find(task, RB_DATA_CORPUS) && rb_data_find(task, RB_DATA_ZEROSHOT);
    if (requests && !zeroshot) {
        char names[256];
        fprintf(stderr, "error: --requests needs a zero-shot --task (%s)\n",
                rb_zs_task_names(names, sizeof names));
        rb_tokenizer_free(t);
        return 2;
    }
    if (lines) {
        rc = tokenize_lines(t, lines, &err);
    } else if (zeroshot) {
        rc = tokenize_zeroshot(t, task, data_dir, (size_t)limit, json, requests, &err);
    } else {
        char corpus[1024];
        char *buf = NULL;
        size_t len = 0, n = 0;
        int32_t *ids = NULL;
        rc = rb_data_resolve(text ? text : task, RB_DATA_CORPUS, data_dir, corpus, sizeof corpus,
                             &err);
        if (!rc) rc = rb_read_file(corpus, 0, &buf, &len, &err);
        double t0 = rb_now();
        if (!rc) rc = rb_tokenizer_encode(t, buf, len, 1, 0, &ids, &n, &err);
        double dt = rb_now() - t0;
        if (!rc) {
            print_ids(ids, n, json);
            putchar('\n');
            fprintf(stderr, "tokenize: %s: %zu bytes -> %zu ids (BOS %d) in %.3f s\n", corpus, len,
                    n, rb_tokenizer_bos(t), dt);
        }
        free(buf);
        free(ids);
    }
    rb_tokenizer_free(t);
    return rc ? rb_cli_fail(&err) : 0;
}
