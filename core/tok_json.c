/* tokenizer.json reader (see tok_json.h).  Every field is checked for its
 * JSON type before use; errors name the file and the field path. */
#include "core/tok_json.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"

enum { MAX_JSON_BYTES = 512 << 20, MAX_IDS = 1 << 24, JSON_DEPTH = 64 };

typedef struct ctx {
    const char *what;
    rb_error *err;
    rb_hf *hf;
    int prepend_seen, byte_level_seen;
    const char *template_bos; /* TemplateProcessing's leading special token */
    int post_known;
} ctx;

static json_object *get(json_object *o, const char *key) {
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object)) return NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int is_null(json_object *o) { return !o || json_object_is_type(o, json_type_null); }

static int want(ctx *c, json_object *o, json_type t, const char *field) {
    if (o && json_object_is_type(o, t)) return RB_OK;
    return rb_error_set(c->err, RB_EFORMAT, "%s: %s: expected %s, got %s", c->what, field,
                        json_type_to_name(t), o ? json_type_to_name(json_object_get_type(o)) : "nothing");
}

/* A boolean field, def when absent or null. */
static int get_bool(ctx *c, json_object *o, const char *key, int def, int *out, const char *path) {
    json_object *v = get(o, key);
    if (is_null(v)) {
        *out = def;
        return RB_OK;
    }
    if (!json_object_is_type(v, json_type_boolean))
        return rb_error_set(c->err, RB_EFORMAT, "%s: %s.%s: expected a boolean", c->what, path,
                            key);
    *out = json_object_get_boolean(v);
    return RB_OK;
}

static const char *type_of(json_object *o) {
    json_object *t = get(o, "type");
    return t && json_object_is_type(t, json_type_string) ? json_object_get_string(t) : NULL;
}

static int unsupported(ctx *c, const char *field, const char *type) {
    return rb_error_set(c->err, RB_EUNSUPPORTED, "%s: %s type \"%s\" is not supported", c->what,
                        field, type ? type : "(missing)");
}

/* ---- model ---------------------------------------------------------------- */

static int parse_vocab(ctx *c, json_object *vocab, rb_bpe **out) {
    int rc = want(c, vocab, json_type_object, "model.vocab");
    if (rc) return rc;
    int64_t max_id = -1;
    json_object_object_foreach(vocab, k1, v1) {
        if (!json_object_is_type(v1, json_type_int))
            return rb_error_set(c->err, RB_EFORMAT, "%s: model.vocab[\"%.40s\"]: expected an integer id",
                                c->what, k1);
        int64_t id = json_object_get_int64(v1);
        if (id < 0 || id >= MAX_IDS)
            return rb_error_set(c->err, RB_EFORMAT, "%s: model.vocab[\"%.40s\"]: id %lld out of range 0..%d",
                                c->what, k1, (long long)id, MAX_IDS - 1);
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) return rb_error_set(c->err, RB_EFORMAT, "%s: model.vocab is empty", c->what);
    int32_t n = (int32_t)max_id + 1;
    const char **pieces = calloc((size_t)n, sizeof *pieces);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    if (!pieces || !lens) {
        free(pieces), free(lens);
        return rb_error_set(c->err, RB_ENOMEM, "%s: out of memory for %d ids", c->what, n);
    }
    rc = RB_OK;
    json_object_object_foreach(vocab, k2, v2) {
        int32_t id = (int32_t)json_object_get_int64(v2);
        if (pieces[id]) {
            rc = rb_error_set(c->err, RB_EFORMAT,
                              "%s: model.vocab: \"%.40s\" and \"%.40s\" both have id %d", c->what,
                              pieces[id], k2, id);
            break;
        }
        pieces[id] = k2;
        lens[id] = strlen(k2);
    }
    if (!rc) rc = rb_bpe_new(c->what, n, pieces, lens, out, c->err);
    free(pieces);
    free(lens);
    return rc;
}

static int parse_merges(ctx *c, json_object *merges, rb_bpe *bpe) {
    if (is_null(merges)) return RB_OK;
    int rc = want(c, merges, json_type_array, "model.merges");
    if (rc) return rc;
    size_t n = json_object_array_length(merges);
    if (n > (size_t)INT32_MAX) return rb_error_set(c->err, RB_EFORMAT, "%s: too many merges", c->what);
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(merges, i);
        const char *a, *b;
        size_t na, nb;
        if (json_object_is_type(m, json_type_string)) {
            a = json_object_get_string(m);
            size_t len = (size_t)json_object_get_string_len(m);
            const char *sp = memchr(a, ' ', len);
            if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - a)))
                return rb_error_set(c->err, RB_EFORMAT,
                                    "%s: model.merges[%zu]: \"%.40s\" is not two pieces "
                                    "separated by one space",
                                    c->what, i, a);
            na = (size_t)(sp - a);
            b = sp + 1;
            nb = len - na - 1;
        } else if (json_object_is_type(m, json_type_array) && json_object_array_length(m) == 2 &&
                   json_object_is_type(json_object_array_get_idx(m, 0), json_type_string) &&
                   json_object_is_type(json_object_array_get_idx(m, 1), json_type_string)) {
            json_object *x = json_object_array_get_idx(m, 0), *y = json_object_array_get_idx(m, 1);
            a = json_object_get_string(x);
            na = (size_t)json_object_get_string_len(x);
            b = json_object_get_string(y);
            nb = (size_t)json_object_get_string_len(y);
        } else {
            return rb_error_set(c->err, RB_EFORMAT,
                                "%s: model.merges[%zu]: expected \"left right\" or [left, right]",
                                c->what, i);
        }
        if ((rc = rb_bpe_add_merge(bpe, a, na, b, nb, (int32_t)i, c->err))) return rc;
    }
    return RB_OK;
}

static int parse_model(ctx *c, json_object *model) {
    int rc = want(c, model, json_type_object, "model");
    if (rc) return rc;
    const char *type = type_of(model);
    if (!type && get(model, "merges")) type = "BPE"; /* older files omit the tag */
    if (!type || strcmp(type, "BPE") != 0) return unsupported(c, "model", type);
    json_object *d = get(model, "dropout");
    if (!is_null(d) && json_object_get_double(d) != 0.0)
        return rb_error_set(c->err, RB_EUNSUPPORTED, "%s: model.dropout %g is not supported",
                            c->what, json_object_get_double(d));
    const char *affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        json_object *v = get(model, affix[i]);
        if (!is_null(v) && (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v)))
            return rb_error_set(c->err, RB_EUNSUPPORTED, "%s: model.%s \"%s\" is not supported",
                                c->what, affix[i], json_object_get_string(v));
    }
    rb_bpe *bpe = NULL;
    if ((rc = parse_vocab(c, get(model, "vocab"), &bpe))) return rc;
    rb_hf_set_model(c->hf, bpe);
    if ((rc = parse_merges(c, get(model, "merges"), bpe))) return rc;
    int byte_fallback, ignore_merges, fuse_unk;
    if ((rc = get_bool(c, model, "byte_fallback", 0, &byte_fallback, "model")) ||
        (rc = get_bool(c, model, "ignore_merges", 0, &ignore_merges, "model")) ||
        (rc = get_bool(c, model, "fuse_unk", 0, &fuse_unk, "model")))
        return rc;
    int32_t unk = -1;
    json_object *u = get(model, "unk_token");
    if (!is_null(u)) {
        if ((rc = want(c, u, json_type_string, "model.unk_token"))) return rc;
        unk = rb_bpe_lookup(bpe, json_object_get_string(u), (size_t)json_object_get_string_len(u));
        if (unk < 0)
            return rb_error_set(c->err, RB_EFORMAT, "%s: model.unk_token \"%.40s\" is not in the vocab",
                                c->what, json_object_get_string(u));
    }
    rb_bpe_set_options(bpe, byte_fallback, ignore_merges, fuse_unk, unk);
    return RB_OK;
}

/* ---- added tokens --------------------------------------------------------- */

static int parse_added(ctx *c, json_object *added) {
    if (is_null(added)) return RB_OK;
    int rc = want(c, added, json_type_array, "added_tokens");
    if (rc) return rc;
    size_t n = json_object_array_length(added);
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(added, i);
        char field[64];
        snprintf(field, sizeof field, "added_tokens[%zu]", i);
        if ((rc = want(c, a, json_type_object, field))) return rc;
        json_object *id = get(a, "id"), *content = get(a, "content");
        if (!id || !json_object_is_type(id, json_type_int) || !content ||
            !json_object_is_type(content, json_type_string))
            return rb_error_set(c->err, RB_EFORMAT, "%s: %s: needs an integer id and a string content",
                                c->what, field);
        const char *flags[] = {"single_word", "lstrip", "rstrip"};
        for (int f = 0; f < 3; f++) {
            int v;
            if ((rc = get_bool(c, a, flags[f], 0, &v, field))) return rc;
            if (v)
                return rb_error_set(c->err, RB_EUNSUPPORTED, "%s: %s (\"%.40s\"): %s true is not supported",
                                    c->what, field, json_object_get_string(content), flags[f]);
        }
        int64_t v = json_object_get_int64(id);
        if (v < 0 || v >= MAX_IDS)
            return rb_error_set(c->err, RB_EFORMAT, "%s: %s: id %lld out of range 0..%d", c->what,
                                field, (long long)v, MAX_IDS - 1);
        if ((rc = rb_hf_add_token(c->hf, (int32_t)v, json_object_get_string(content),
                                  (size_t)json_object_get_string_len(content), c->err)))
            return rc;
    }
    return RB_OK;
}

/* ---- normalizers ---------------------------------------------------------- */

static int parse_normalizer(ctx *c, json_object *n, const char *field, int depth) {
    if (is_null(n)) return RB_OK;
    int rc = want(c, n, json_type_object, field);
    if (rc) return rc;
    const char *type = type_of(n);
    if (type && !strcmp(type, "Sequence") && depth < 4) {
        json_object *list = get(n, "normalizers");
        if ((rc = want(c, list, json_type_array, "normalizer.normalizers"))) return rc;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            char sub[64];
            snprintf(sub, sizeof sub, "normalizer.normalizers[%zu]", i);
            if ((rc = parse_normalizer(c, json_object_array_get_idx(list, i), sub, depth + 1)))
                return rc;
        }
        return RB_OK;
    }
    if (type && !strcmp(type, "Prepend")) {
        json_object *p = get(n, "prepend");
        if ((rc = want(c, p, json_type_string, "Prepend.prepend"))) return rc;
        c->prepend_seen = 1;
        return rb_hf_add_prepend(c->hf, json_object_get_string(p),
                                 (size_t)json_object_get_string_len(p), c->err);
    }
    if (type && !strcmp(type, "Replace")) {
        json_object *pat = get(n, "pattern"), *s = get(pat, "String"), *to = get(n, "content");
        if (get(pat, "Regex"))
            return rb_error_set(c->err, RB_EUNSUPPORTED,
                                "%s: %s: Replace with a Regex pattern is not supported", c->what,
                                field);
        if ((rc = want(c, s, json_type_string, "Replace.pattern.String")) ||
            (rc = want(c, to, json_type_string, "Replace.content")))
            return rc;
        return rb_hf_add_replace(c->hf, json_object_get_string(s),
                                 (size_t)json_object_get_string_len(s), json_object_get_string(to),
                                 (size_t)json_object_get_string_len(to), c->err);
    }
    return unsupported(c, field, type);
}

/* ---- pre-tokenizers ------------------------------------------------------- */

static int parse_behavior(ctx *c, json_object *b, rb_split_behavior *out, const char *field) {
    static const struct {
        const char *name;
        rb_split_behavior b;
    } names[] = {{"Isolated", RB_SPLIT_ISOLATED},
                 {"Removed", RB_SPLIT_REMOVED},
                 {"MergedWithPrevious", RB_SPLIT_MERGED_WITH_PREVIOUS},
                 {"MergedWithNext", RB_SPLIT_MERGED_WITH_NEXT},
                 {"Contiguous", RB_SPLIT_CONTIGUOUS}};
    const char *s = b && json_object_is_type(b, json_type_string) ? json_object_get_string(b) : NULL;
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].b;
            return RB_OK;
        }
    return rb_error_set(c->err, RB_EUNSUPPORTED, "%s: %s.behavior \"%s\" is not supported",
                        c->what, field, s ? s : "(missing)");
}

/* A literal string as a regex: every non-alphanumeric ASCII byte escaped. */
static char *escape_literal(const char *s, size_t n, size_t *out_n) {
    char *r = malloc(2 * n + 1);
    if (!r) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80 && !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
            r[k++] = '\\';
        r[k++] = (char)ch;
    }
    *out_n = k;
    return r;
}

static int parse_pretok(ctx *c, json_object *p, const char *field, int depth) {
    if (is_null(p)) return RB_OK;
    int rc = want(c, p, json_type_object, field);
    if (rc) return rc;
    const char *type = type_of(p);
    char what[160];
    snprintf(what, sizeof what, "%s: %s", c->what, field);
    if (type && !strcmp(type, "Sequence") && depth < 4) {
        json_object *list = get(p, "pretokenizers");
        if ((rc = want(c, list, json_type_array, "pre_tokenizer.pretokenizers"))) return rc;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            char sub[64];
            snprintf(sub, sizeof sub, "pre_tokenizer.pretokenizers[%zu]", i);
            if ((rc = parse_pretok(c, json_object_array_get_idx(list, i), sub, depth + 1))) return rc;
        }
        return RB_OK;
    }
    if (type && !strcmp(type, "Split")) {
        json_object *pat = get(p, "pattern"), *re = get(pat, "Regex"), *str = get(pat, "String");
        int invert;
        rb_split_behavior b = RB_SPLIT_ISOLATED;
        if ((rc = get_bool(c, p, "invert", 0, &invert, field)) ||
            (rc = parse_behavior(c, get(p, "behavior"), &b, field)))
            return rc;
        if (invert)
            return rb_error_set(c->err, RB_EUNSUPPORTED, "%s: Split with invert true is not supported",
                                what);
        if (re && json_object_is_type(re, json_type_string))
            return rb_pretok_add_split(rb_hf_pretok(c->hf), json_object_get_string(re),
                                       (size_t)json_object_get_string_len(re), b, what, c->err);
        if (!str || !json_object_is_type(str, json_type_string) || !json_object_get_string_len(str))
            return rb_error_set(c->err, RB_EFORMAT, "%s: Split needs pattern.Regex or a non-empty pattern.String",
                                what);
        size_t n;
        char *lit = escape_literal(json_object_get_string(str), (size_t)json_object_get_string_len(str), &n);
        if (!lit) return rb_error_set(c->err, RB_ENOMEM, "out of memory");
        rc = rb_pretok_add_split(rb_hf_pretok(c->hf), lit, n, b, what, c->err);
        free(lit);
        return rc;
    }
    if (type && !strcmp(type, "ByteLevel")) {
        int aps, use_regex;
        if ((rc = get_bool(c, p, "add_prefix_space", 1, &aps, field)) ||
            (rc = get_bool(c, p, "use_regex", 1, &use_regex, field)))
            return rc;
        c->byte_level_seen = 1;
        return rb_pretok_add_bytelevel(rb_hf_pretok(c->hf), aps, use_regex, what, c->err);
    }
    return unsupported(c, field, type);
}

/* ---- post-processor ------------------------------------------------------- */

static int parse_post(ctx *c, json_object *p, const char *field, int depth) {
    if (is_null(p)) return RB_OK;
    int rc = want(c, p, json_type_object, field);
    if (rc) return rc;
    const char *type = type_of(p);
    if (type && !strcmp(type, "Sequence") && depth < 4) {
        json_object *list = get(p, "processors");
        if ((rc = want(c, list, json_type_array, "post_processor.processors"))) return rc;
        for (size_t i = 0; i < json_object_array_length(list); i++)
            if ((rc = parse_post(c, json_object_array_get_idx(list, i), "post_processor.processors[]",
                                 depth + 1)))
                return rc;
        return RB_OK;
    }
    if (type && !strcmp(type, "ByteLevel")) {
        c->post_known = 1;
        return RB_OK;
    }
    if (type && !strcmp(type, "TemplateProcessing")) {
        json_object *single = get(p, "single");
        if ((rc = want(c, single, json_type_array, "post_processor.single"))) return rc;
        c->post_known = 1;
        json_object *first = json_object_array_length(single) ? json_object_array_get_idx(single, 0) : NULL;
        json_object *id = get(get(first, "SpecialToken"), "id");
        if (id && json_object_is_type(id, json_type_string)) c->template_bos = json_object_get_string(id);
        return RB_OK;
    }
    return unsupported(c, field, type);
}

/* ---- tokenizer_config.json ------------------------------------------------ */

/* bos_token / eos_token: a string or {"content": string}; NULL if absent. */
static const char *config_token(json_object *cfg, const char *key) {
    json_object *v = get(cfg, key);
    if (v && json_object_is_type(v, json_type_object)) v = get(v, "content");
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int token_id(ctx *c, const char *name, const char *source, int32_t *out) {
    *out = rb_hf_token_id(c->hf, name, strlen(name));
    if (*out < 0)
        return rb_error_set(c->err, RB_EFORMAT, "%s: %s \"%.40s\" is not a token", c->what,
                            source, name);
    return RB_OK;
}

static int apply_config(ctx *c, json_object *cfg, rb_hf_specials *sp) {
    int rc;
    sp->bos = sp->eos = -1;
    sp->adds_bos = c->post_known ? (c->template_bos != NULL) : -1;
    if (c->template_bos && (rc = token_id(c, c->template_bos, "post_processor special token", &sp->bos)))
        return rc;
    if (!cfg) return RB_OK;
    const char *bos = config_token(cfg, "bos_token"), *eos = config_token(cfg, "eos_token");
    if (bos && (rc = token_id(c, bos, "tokenizer_config.json bos_token", &sp->bos))) return rc;
    if (eos && (rc = token_id(c, eos, "tokenizer_config.json eos_token", &sp->eos))) return rc;
    json_object *add = get(cfg, "add_bos_token");
    if (add && json_object_is_type(add, json_type_boolean)) sp->adds_bos = json_object_get_boolean(add);
    return RB_OK;
}

/* ---- entry points --------------------------------------------------------- */

static json_object *parse_json(const char *what, const char *text, size_t len, rb_error *err) {
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (!tok) {
        rb_error_set(err, RB_ENOMEM, "%s: out of memory", what);
        return NULL;
    }
    json_object *o = len <= INT32_MAX ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (!o || e != json_tokener_success) {
        rb_error_set(err, RB_EFORMAT, "%s: not valid JSON near byte %zu: %s", what,
                     (size_t)json_tokener_get_parse_end(tok),
                     e == json_tokener_continue ? "unexpected end of file"
                                                : json_tokener_error_desc(e));
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

int rb_tok_json_parse(const char *what, const char *json, size_t len, const char *config,
                      size_t config_len, rb_hf **out, rb_hf_specials *sp, rb_error *err) {
    *out = NULL;
    json_object *root = parse_json(what, json, len, err), *cfg = NULL;
    if (!root) return err ? err->status : RB_EFORMAT;
    ctx c = {what, err, rb_hf_new(what), 0, 0, NULL, 0};
    int rc = c.hf ? RB_OK : rb_error_set(err, RB_ENOMEM, "%s: out of memory", what);
    if (!rc) rc = want(&c, root, json_type_object, "top level");
    if (!rc && config) {
        char cwhat[600];
        snprintf(cwhat, sizeof cwhat, "%s (its tokenizer_config.json)", what);
        cfg = parse_json(cwhat, config, config_len, err);
        if (!cfg) rc = err ? err->status : RB_EFORMAT;
        else if (!json_object_is_type(cfg, json_type_object))
            rc = rb_error_set(err, RB_EFORMAT, "%s: top level is not an object", cwhat);
    }
    if (!rc) rc = parse_model(&c, get(root, "model"));
    if (!rc) rc = parse_added(&c, get(root, "added_tokens"));
    if (!rc) rc = parse_normalizer(&c, get(root, "normalizer"), "normalizer", 0);
    if (!rc) rc = parse_pretok(&c, get(root, "pre_tokenizer"), "pre_tokenizer", 0);
    if (!rc) rc = parse_post(&c, get(root, "post_processor"), "post_processor", 0);
    if (!rc) {
        rb_hf_set_decode(c.hf, c.byte_level_seen, c.prepend_seen);
        rc = rb_hf_finish(c.hf, err);
    }
    if (!rc) rc = apply_config(&c, cfg, sp);
    json_object_put(root);
    json_object_put(cfg);
    if (rc) {
        rb_hf_free(c.hf);
        return rc;
    }
    *out = c.hf;
    return RB_OK;
}

int rb_tok_json_load(const char *path, rb_hf **out, rb_hf_specials *sp, rb_error *err) {
    *out = NULL;
    char *json = NULL, *cfg = NULL;
    size_t len = 0, cfg_len = 0;
    int rc = rb_read_file(path, MAX_JSON_BYTES, &json, &len, err);
    if (rc) return rc;
    size_t plen = strlen(path);
    char *cfg_path = malloc(plen + 32);
    if (!cfg_path) {
        free(json);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
    memcpy(cfg_path, path, dir);
    strcpy(cfg_path + dir, "tokenizer_config.json");
    FILE *f = fopen(cfg_path, "rb");
    if (f) {
        fclose(f);
        rc = rb_read_file(cfg_path, MAX_JSON_BYTES, &cfg, &cfg_len, err);
    }
    free(cfg_path);
    if (!rc) rc = rb_tok_json_parse(path, json, len, cfg, cfg_len, out, sp, err);
    free(json);
    free(cfg);
    return rc;
}
