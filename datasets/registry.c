#include "datasets/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef RB_SOURCE_ROOT
#define RB_SOURCE_ROOT "."
#endif

static const rb_data_entry entries[] = {
    {"wikitext2", RB_DATA_CORPUS, "datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt",
     "696cca6b65a171b0a358a4be6732cdfdf2dd6164a32e20fd70e3c13fc4dfae83", NULL},
    {"tinystories", RB_DATA_CORPUS, "datasets/tinystories/TinyStories-valid-head.txt",
     "9d644560315ac4facf8132c5df05db1e1e8ecc887873b7bd46217994cd1d1001", NULL},
    {"stories260K", RB_DATA_MODEL, "models/stories260K/stories260K.bin",
     "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696", "tok512"},
    {"tok512", RB_DATA_TOKENIZER, "models/stories260K/tok512.bin",
     "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312", NULL},
    {"llama2", RB_DATA_TOKENIZER, "models/llama2-tokenizer/tokenizer.bin",
     "50a52ef822ee9e83de5ce9d0be0a025a773d019437f58b5ff9dcafb063ece361", NULL},
    {"hellaswag", RB_DATA_ZEROSHOT, "datasets/hellaswag/hellaswag_val_full.txt",
     "d572539320eb2050e858ca34b495bbe2103e3b3f1391a9c3bcdf215b0bb93bd1", NULL},
    {"piqa", RB_DATA_ZEROSHOT, "datasets/piqa/valid.jsonl",
     "93503cc97c679e459b065c3d13e848282e44b2a25213985bed3e5d458abef72d", NULL},
    {"arc_easy", RB_DATA_ZEROSHOT, "datasets/arc_easy/ARC-Easy-test.jsonl",
     "c9757629cb775832c3c67b4aa1425e3eda01708a2b02fa229b0c3ed1bcb70fe1", NULL},
    {"arc_challenge", RB_DATA_ZEROSHOT, "datasets/arc_challenge/ARC-Challenge-test.jsonl",
     "c0e7635ee91b9ca47bf388f1f6cd5140fda083a71dccda44de72c364645df3f3", NULL},
    {"openbookqa", RB_DATA_ZEROSHOT, "datasets/openbookqa/test.jsonl",
     "feb2bd9bfa6161dca4c44ce90e51e8cdada83eb5061407fcdc5005e44aaf2313", NULL},
    {"boolq", RB_DATA_ZEROSHOT, "datasets/boolq/dev.jsonl",
     "ebc29ea3808c5c611672384b3de56e83349fe38fc1fe876fd29b674d81d0a80a", NULL},
    {"winogrande", RB_DATA_ZEROSHOT, "datasets/winogrande/dev.jsonl",
     "1aeac79cf46a3dcbe59a71ca7e5372a1490cde2b4ae2387dc56f00378104d2e8", NULL},
    {"lambada", RB_DATA_ZEROSHOT, "datasets/lambada/lambada_test.jsonl",
     "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226", NULL},
};

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int rb_data_dir(const char *explicit_dir, char *buf, size_t cap, rb_error *err) {
    if (explicit_dir) {
        if (!is_dir(explicit_dir))
            return rb_error_set(err, RB_EIO, "data directory %s (from --data-dir) does not exist",
                                explicit_dir);
        snprintf(buf, cap, "%s", explicit_dir);
        return RB_OK;
    }
    const char *env = getenv("ROTBENCH_DATA");
    if (env && *env) {
        if (!is_dir(env))
            return rb_error_set(err, RB_EIO, "data directory %s (from ROTBENCH_DATA) does not exist",
                                env);
        snprintf(buf, cap, "%s", env);
        return RB_OK;
    }
    if (is_dir("../shared")) {
        snprintf(buf, cap, "../shared");
        return RB_OK;
    }
    snprintf(buf, cap, "%s/../shared", RB_SOURCE_ROOT);
    if (is_dir(buf)) return RB_OK;
    return rb_error_set(err, RB_EIO,
                        "no data directory: pass --data-dir DIR or set ROTBENCH_DATA (tried "
                        "../shared and %s/../shared); see README \"Data\" for how to fetch it",
                        RB_SOURCE_ROOT);
}

const rb_data_entry *rb_data_find(const char *name, rb_data_kind kind) {
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
        if (entries[i].kind == kind && strcmp(entries[i].name, name) == 0) return &entries[i];
    return NULL;
}

void rb_data_names(rb_data_kind kind, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
        if (entries[i].kind == kind && used < cap)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                                     entries[i].name);
}

int rb_data_resolve(const char *name_or_path, rb_data_kind kind, const char *explicit_dir,
                    char *buf, size_t cap, rb_error *err) {
    if (is_file(name_or_path)) {
        snprintf(buf, cap, "%s", name_or_path);
        return RB_OK;
    }
    const rb_data_entry *e = rb_data_find(name_or_path, kind);
    if (!e) {
        char names[256];
        rb_data_names(kind, names, sizeof names);
        return rb_error_set(err, RB_EINVAL, "%s: no such file, and not a known %s name (%s)",
                            name_or_path,
                            kind == RB_DATA_CORPUS     ? "corpus"
                            : kind == RB_DATA_MODEL    ? "model"
                            : kind == RB_DATA_ZEROSHOT ? "zero-shot task"
                                                       : "tokenizer",
                            names);
    }
    char dir[1024];
    int rc = rb_data_dir(explicit_dir, dir, sizeof dir, err);
    if (rc) return rb_error_prefix(err, "%s: ", name_or_path);
    snprintf(buf, cap, "%s/%s", dir, e->rel_path);
    if (!is_file(buf))
        return rb_error_set(err, RB_EIO, "%s: expected at %s, which does not exist (see README \"Data\")",
                            name_or_path, buf);
    return RB_OK;
}
