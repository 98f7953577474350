/* Tests of the tokenizer seam's tokenizer.json and in-memory kinds:
 *   - ids of ~400 varied strings for the Llama-3, Mistral and stories260K-hf
 *     tokenizer.json against fixtures made by an independent implementation
 *     (@lenml/tokenizers, tools/tokenizer_oracle.mjs);
 *   - stories260K-hf/tokenizer.json encodes WikiText-2 test and the
 *     TinyStories head exactly like tok512.bin (the llama2.c encoder);
 *   - rb_tokenizer_from_vocab: tok512's pieces and scores give the file's
 *     encoding; Llama-3's vocabulary and merges as a GGUF "gpt2" vocabulary
 *     ("llama-bpe") reproduce the oracle's fixtures; a small byte-level BPE
 *     against a quadratic reference written here;
*   - kind recognition, and malformed or unsupported files named in errors;
 *   - Split behaviours as HF documents them, the byte-level alphabet; the
 *     tokenize command. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/io.h"
#include "base/rng.h"
#include "core/tokenizer.h"
#include "tests/test_util.h"

#define LLAMA3 "models/tokenizers/llama3/tokenizer.json"
#define MISTRAL "models/tokenizers/mistral/tokenizer.json"
#define STORIES_HF "models/stories260K-hf/tokenizer.json"
#define TOK512 "models/stories260K/tok512.bin"
#define WIKITEXT "datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt"
#define TINYSTORIES "datasets/tinystories/TinyStories-valid-head.txt"
#define FIXTURES RB_SOURCE_ROOT "/tests/fixtures/tokenizer/"

TestSuite(tokenizer_hf, .timeout = 240);

static rb_tokenizer *open_or_die(const char *path) {
    rb_error err = {0};
    rb_tokenizer *t = NULL;
    cr_assert_eq(rb_tokenizer_open(path, &t, &err), RB_OK, "opening %s: %s", path, err.msg);
    return t;
}

static int32_t *encode_or_die(const rb_tokenizer *t, const char *s, size_t n, int bos,
                              size_t *out_n) {
    rb_error err = {0};
    int32_t *ids = NULL;
    cr_assert_eq(rb_tokenizer_encode(t, s, n, bos, 0, &ids, out_n, &err), RB_OK, "encode: %s",
                 err.msg);
    return ids;
}

/* ---- fixtures from the independent implementation ------------------------- */

/* Compares every line of fixture `name` (text, ids without specials). */
static void check_fixtures(const rb_tokenizer *t, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, FIXTURES "%s.jsonl", name);
    char *data;
    size_t len;
    rb_error err = {0};
    cr_assert_eq(rb_read_file(path, 0, &data, &len, &err), RB_OK, "%s", err.msg);
    size_t lines = 0, bad = 0, ids_total = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        json_object *o = json_tokener_parse(line), *text, *want;
        cr_assert(o && json_object_object_get_ex(o, "text", &text) &&
                      json_object_object_get_ex(o, "ids", &want),
                  "%s: line %zu is not {text, ids}", path, lines + 1);
        size_t n;
        int32_t *got = encode_or_die(t, json_object_get_string(text),
                                     (size_t)json_object_get_string_len(text), 0, &n);
        size_t nw = json_object_array_length(want);
        int same = n == nw;
        for (size_t i = 0; same && i < n; i++)
            same = got[i] == json_object_get_int(json_object_array_get_idx(want, i));
        if (!same && bad++ < 5) {
            char g[256] = "";
            for (size_t i = 0; i < n && strlen(g) < 200; i++)
                snprintf(g + strlen(g), sizeof g - strlen(g), " %d", got[i]);
            cr_log_error("%s line %zu %s: got%s, oracle %s", name, lines + 1,
                         json_object_to_json_string(text), g, json_object_to_json_string(want));
        }
        ids_total += nw;
        lines++;
        free(got);
        json_object_put(o);
    }
    free(data);
    cr_assert_gt(lines, 300, "%s: only %zu fixture lines", name, lines);
    cr_assert_eq(bad, 0, "%s: %zu of %zu strings differ from the oracle", name, bad, lines);
    cr_log_info("%s: %zu strings, %zu ids, all equal", name, lines, ids_total);
}

Test(tokenizer_hf, llama3_matches_oracle) {
    rb_tokenizer *t = open_or_die(rb_test_require_data(LLAMA3));
    cr_assert_eq(rb_tokenizer_kind_of(t), RB_TOK_HF);
    cr_assert_eq(rb_tokenizer_vocab_size(t), 128256);
    /* tokenizer_config.json names <|begin_of_text|>; the post_processor adds none */
    cr_assert_eq(rb_tokenizer_bos(t), 128000);
    cr_assert_eq(rb_tokenizer_eos(t), 128001);
    cr_assert_eq(rb_tokenizer_file_adds_bos(t), 0);
    check_fixtures(t, "llama3");
    rb_tokenizer_free(t);
}

Test(tokenizer_hf, mistral_matches_oracle) {
    rb_tokenizer *t = open_or_die(rb_test_require_data(MISTRAL));
    cr_assert_eq(rb_tokenizer_vocab_size(t), 32000);
    cr_assert_eq(rb_tokenizer_bos(t), 1);
    cr_assert_eq(rb_tokenizer_file_adds_bos(t), 1);
    check_fixtures(t, "mistral");
    /* the MANIFEST's known ids, with BOS */
    size_t n;
    int32_t *ids = encode_or_die(t, "Hello world", 11, 1, &n);
    cr_assert(n == 3 && ids[0] == 1 && ids[1] == 22557 && ids[2] == 1526);
    free(ids);
    rb_tokenizer_free(t);
}

Test(tokenizer_hf, stories260K_hf_matches_oracle) {
    rb_tokenizer *t = open_or_die(rb_test_require_data(STORIES_HF));
    check_fixtures(t, "stories260K-hf");
    rb_tokenizer_free(t);
}

/* ---- stories260K-hf/tokenizer.json against tok512.bin ---------------------- */

static void expect_same_ids(const rb_tokenizer *a, const rb_tokenizer *b, const char *rel,
                            size_t expect_n) {
    char *text;
    size_t len, na, nb;
    rb_error err = {0};
    cr_assert_eq(rb_read_file(rb_test_require_data(rel), 0, &text, &len, &err), RB_OK, "%s",
                 err.msg);
    int32_t *x = encode_or_die(a, text, len, 1, &na), *y = encode_or_die(b, text, len, 1, &nb);
    cr_assert_eq(na, nb, "%s: %zu ids vs %zu", rel, na, nb);
    if (expect_n) cr_assert_eq(na, expect_n, "%s: %zu ids (MANIFEST: %zu)", rel, na, expect_n);
    for (size_t i = 0; i < na; i++) cr_assert_eq(x[i], y[i], "%s: id %zu: %d vs %d", rel, i, x[i], y[i]);
    free(x);
    free(y);
    free(text);
}

Test(tokenizer_hf, stories260K_hf_equals_tok512_on_corpora) {
    rb_tokenizer *hf = open_or_die(rb_test_require_data("models/stories260K-hf"));
    rb_tokenizer *bin = open_or_die(rb_test_require_data(TOK512));
    cr_assert_eq(rb_tokenizer_kind_of(hf), RB_TOK_HF);
    cr_assert_eq(rb_tokenizer_kind_of(bin), RB_TOK_LLAMA2C);
    cr_assert_eq(rb_tokenizer_bos(hf), rb_tokenizer_bos(bin));
    expect_same_ids(hf, bin, WIKITEXT, 815070); /* the MANIFEST's count, incl. BOS */
    expect_same_ids(hf, bin, TINYSTORIES, 0);
    rb_tokenizer_free(hf);
    rb_tokenizer_free(bin);
}

/* ---- in-memory vocabularies ------------------------------------------------ */

Test(tokenizer_hf, llama_vocab_from_pieces_equals_file) {
    rb_tokenizer *file = open_or_die(rb_test_require_data(TOK512));
    int n = rb_tokenizer_vocab_size(file);
    const char **pieces = malloc((size_t)n * sizeof *pieces);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    float *scores = malloc((size_t)n * sizeof *scores);
    char **escaped = calloc((size_t)n, sizeof *escaped);
    /* as GGUF stores them: SentencePiece's "▁" for the space */
    for (int i = 0; i < n; i++) {
        size_t pl;
        const char *p = rb_tokenizer_piece(file, i, &pl);
        escaped[i] = malloc(3 * pl + 1);
        size_t k = 0;
        for (size_t j = 0; j < pl; j++) {
            if (p[j] == ' ') memcpy(escaped[i] + k, "\xE2\x96\x81", 3), k += 3;
            else escaped[i][k++] = p[j];
        }
        pieces[i] = escaped[i];
        lens[i] = k;
        scores[i] = rb_tokenizer_score(file, i);
    }
    rb_vocab_desc d = {.kind = "llama", .n_tokens = n, .tokens = pieces, .token_lens = lens,
                       .scores = scores, .bos_id = 1, .eos_id = 2, .unk_id = 0, .add_bos = -1};
    rb_tokenizer *mem = NULL;
    rb_error err = {0};
    cr_assert_eq(rb_tokenizer_from_vocab(&d, "tok512 pieces", &mem, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_bos(mem), 1);
    expect_same_ids(mem, file, TINYSTORIES, 0);
    expect_same_ids(mem, file, WIKITEXT, 815070);
    rb_tokenizer_free(mem);
    for (int i = 0; i < n; i++) free(escaped[i]);
    free(escaped), free(pieces), free(lens), free(scores);
    rb_tokenizer_free(file);
}

/* Llama-3's tokenizer.json as GGUF would embed it: tokens by id, merges as
 * "a b" strings, the added tokens as control tokens, pre "llama-bpe". */
Test(tokenizer_hf, gpt2_vocab_llama_bpe_matches_oracle) {
    const char *path = rb_test_require_data(LLAMA3);
    json_object *root = json_object_from_file(path), *model, *vocab, *merges, *added;
    cr_assert(root && json_object_object_get_ex(root, "model", &model) &&
              json_object_object_get_ex(model, "vocab", &vocab) &&
              json_object_object_get_ex(model, "merges", &merges) &&
              json_object_object_get_ex(root, "added_tokens", &added));
    int n = 128256;
    const char **tokens = calloc((size_t)n, sizeof *tokens);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    int32_t *types = malloc((size_t)n * sizeof *types);
    for (int i = 0; i < n; i++) types[i] = 1;
    json_object_object_foreach(vocab, k, v) {
        int id = json_object_get_int(v);
        tokens[id] = k;
        lens[id] = strlen(k);
    }
    for (size_t i = 0; i < json_object_array_length(added); i++) {
        json_object *a = json_object_array_get_idx(added, i), *id, *content;
        json_object_object_get_ex(a, "id", &id);
        json_object_object_get_ex(a, "content", &content);
        tokens[json_object_get_int(id)] = json_object_get_string(content);
        lens[json_object_get_int(id)] = (size_t)json_object_get_string_len(content);
        types[json_object_get_int(id)] = 3;
    }
    int nm = (int)json_object_array_length(merges);
    const char **ms = malloc((size_t)nm * sizeof *ms);
    size_t *ml = malloc((size_t)nm * sizeof *ml);
    for (int i = 0; i < nm; i++) {
        json_object *m = json_object_array_get_idx(merges, (size_t)i);
        ms[i] = json_object_get_string(m);
        ml[i] = (size_t)json_object_get_string_len(m);
    }
    rb_vocab_desc d = {.kind = "gpt2", .pre = "llama-bpe", .n_tokens = n, .tokens = tokens,
                       .token_lens = lens, .token_types = types, .n_merges = nm, .merges = ms,
                       .merge_lens = ml, .bos_id = 128000, .eos_id = 128001, .unk_id = -1,
                       .add_bos = 1};
    rb_tokenizer *t = NULL;
    rb_error err = {0};
    cr_assert_eq(rb_tokenizer_from_vocab(&d, "llama3 as gguf", &t, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_bos(t), 128000);
    check_fixtures(t, "llama3");
    d.pre = "qwen2";
    rb_tokenizer *u = NULL;
    cr_assert_eq(rb_tokenizer_from_vocab(&d, "x.gguf", &u, &err), RB_EUNSUPPORTED);
    cr_assert(strstr(err.msg, "\"qwen2\"") && strstr(err.msg, "x.gguf"), "%s", err.msg);
    d.kind = "bert";
    cr_assert_eq(rb_tokenizer_from_vocab(&d, "x.gguf", &u, &err), RB_EUNSUPPORTED);
    cr_assert(strstr(err.msg, "\"bert\""), "%s", err.msg);
    cr_assert_null(u);
    rb_tokenizer_free(t);
    free(tokens), free(lens), free(types), free(ms), free(ml);
    json_object_put(root);
}

/* A small byte-level BPE (GPT-2 "default" pre-tokenizer) against a quadratic
 * reference: per pre-token, merge the lowest-ranked adjacent pair, leftmost
 * first, until none applies.  Pre-tokens here are runs of ASCII letters with
 * their optional leading space, as GPT-2's regex cuts them. */
enum { SMALL_MERGES = 12 };
static const char *const small_merges[SMALL_MERGES][2] = {
    {"a", "b"}, {"b", "a"}, {"ab", "a"}, {"Ġ", "a"}, {"a", "a"}, {"ba", "b"},
    {"Ġa", "b"}, {"aa", "b"}, {"b", "b"}, {"ab", "ab"}, {"Ġ", "b"}, {"bb", "a"}};

static int32_t small_id(char **pieces, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(pieces[i], s)) return i;
    return -1;
}

static size_t reference_bpe(char **pieces, int n, const char *word, int32_t *out) {
    /* symbols as strings; "Ġ" is the byte-level space */
    char sym[64][64];
    size_t k = 0;
    for (const char *p = word; *p; p++) strcpy(sym[k++], *p == ' ' ? "Ġ" : (char[2]){*p, 0});
    for (;;) {
        int best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < k; i++)
            for (int r = 0; r < SMALL_MERGES; r++)
                if (!strcmp(sym[i], small_merges[r][0]) && !strcmp(sym[i + 1], small_merges[r][1]) &&
                    (best < 0 || r < best))
                    best = r, at = i;
        if (best < 0) break;
        size_t la = strlen(sym[at]), lb = strlen(sym[at + 1]);
        cr_assert_lt(la + lb, sizeof sym[0]);
        memcpy(sym[at] + la, sym[at + 1], lb + 1);
        memmove(sym[at + 1], sym[at + 2], (k - at - 2) * sizeof sym[0]);
        k--;
    }
    for (size_t i = 0; i < k; i++) out[i] = small_id(pieces, n, sym[i]);
    return k;
}

Test(tokenizer_hf, small_gpt2_vocab_against_quadratic_reference) {
    /* 256 byte-level characters, then every merge result */
    char *pieces[256 + SMALL_MERGES];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        unsigned cp = 0;
        /* GPT-2 bytes_to_unicode, written out independently of pretok.c */
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        if (printable) {
            cp = (unsigned)b;
        } else {
            unsigned k = 0;
            for (int c = 0; c < b; c++) k += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174);
            cp = 256 + k;
        }
        char *s = malloc(3);
        if (cp < 0x80) s[0] = (char)cp, s[1] = 0;
        else s[0] = (char)(0xC0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3F)), s[2] = 0;
        pieces[n++] = s;
    }
    cr_assert_str_eq(pieces[' '], "Ġ");
    const char *merge_str[SMALL_MERGES];
    size_t merge_len[SMALL_MERGES];
    char merge_buf[SMALL_MERGES][32];
    for (int r = 0; r < SMALL_MERGES; r++) {
        char cat[32];
        snprintf(cat, sizeof cat, "%s%s", small_merges[r][0], small_merges[r][1]);
        if (small_id(pieces, n, cat) < 0) pieces[n++] = strdup(cat);
        snprintf(merge_buf[r], sizeof merge_buf[r], "%s %s", small_merges[r][0], small_merges[r][1]);
        merge_str[r] = merge_buf[r];
        merge_len[r] = strlen(merge_buf[r]);
    }
    size_t lens[256 + SMALL_MERGES];
    for (int i = 0; i < n; i++) lens[i] = strlen(pieces[i]);
    rb_vocab_desc d = {.kind = "gpt2", .pre = "default", .n_tokens = n,
                       .tokens = (const char *const *)pieces, .token_lens = lens,
                       .n_merges = SMALL_MERGES, .merges = merge_str, .merge_lens = merge_len,
                       .bos_id = -1, .eos_id = -1, .unk_id = -1, .add_bos = 0};
    rb_tokenizer *t = NULL;
    rb_error err = {0};
    cr_assert_eq(rb_tokenizer_from_vocab(&d, "small", &t, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_bos(t), -1);
    rb_rng rng;
    rb_rng_seed(&rng, 7);
    for (int trial = 0; trial < 500; trial++) {
        char text[200];
        size_t len = 1 + rb_rng_below(&rng, 150);
        for (size_t i = 0; i < len; i++) {
            uint32_t r = (uint32_t)rb_rng_below(&rng, 10);
            text[i] = r < 4 ? 'a' : r < 8 ? 'b' : ' ';
        }
        text[len] = 0;
        int32_t want[200];
        size_t nw = 0;
        /* GPT-2's regex on this alphabet: " ?[ab]+", else a run of spaces,
         * less its last space when a letter follows (\s+(?!\S)) */
        for (size_t i = 0; i < len;) {
            size_t j = i;
            char word[200];
            if (text[i] != ' ' || (i + 1 < len && text[i + 1] != ' ')) {
                j = text[i] == ' ' ? i + 1 : i;
                while (j < len && text[j] != ' ') j++;
            } else {
                while (j < len && text[j] == ' ') j++;
                if (j < len) j--;
            }
            memcpy(word, text + i, j - i);
            word[j - i] = 0;
            nw += reference_bpe(pieces, n, word, want + nw);
            i = j;
        }
        size_t ng;
        int32_t *got = encode_or_die(t, text, len, 1, &ng);
        cr_assert_eq(ng, nw, "\"%s\": %zu ids, reference %zu", text, ng, nw);
        for (size_t i = 0; i < ng; i++)
            cr_assert_eq(got[i], want[i], "\"%s\": id %zu: %d, reference %d", text, i, got[i], want[i]);
        free(got);
    }
    rb_tokenizer_free(t);
    for (int i = 0; i < n; i++) free(pieces[i]);
}

/* ---- kinds, errors --------------------------------------------------------- */

Test(tokenizer_hf, open_recognises_kinds) {
    const char *json = rb_test_require_data(STORIES_HF);
    char *data;
    size_t len;
    rb_error err = {0};
    cr_assert_eq(rb_read_file(json, 0, &data, &len, &err), RB_OK);
    const char *tmp = rb_test_tmp_file(data, len); /* no .json suffix: by content */
    rb_tokenizer *t = open_or_die(tmp);
    cr_assert_eq(rb_tokenizer_kind_of(t), RB_TOK_HF);
    rb_tokenizer_free(t);
    unlink(tmp);
    free(data);
    t = open_or_die(rb_test_require_data(TOK512));
    cr_assert_eq(rb_tokenizer_kind_of(t), RB_TOK_LLAMA2C);
    rb_tokenizer_free(t);
    cr_assert_eq(rb_tokenizer_open("/nonexistent/tok.json", &t, &err), RB_EIO);
    cr_assert(strstr(err.msg, "/nonexistent/tok.json"), "%s", err.msg);
    char dir[512];
    rb_test_tmp_path("emptydir", dir, sizeof dir);
    unlink(dir);
    cr_assert_eq(mkdir(dir, 0700) == 0 || access(dir, F_OK) == 0, 1);
    cr_assert_eq(rb_tokenizer_open(dir, &t, &err), RB_EIO);
    cr_assert(strstr(err.msg, "no tokenizer.json"), "%s", err.msg);
}

/* Opens json (as a file named x.json) and expects status and a message piece. */
static void expect_refused(const char *json, int status, const char *needle) {
    char path[512];
    rb_test_tmp_path("bad.json", path, sizeof path);
    cr_assert_eq(rb_test_write_file(path, json, strlen(json)), 0);
    rb_tokenizer *t = (rb_tokenizer *)&t;
    rb_error err = {0};
    int rc = rb_tokenizer_open(path, &t, &err);
    cr_assert_eq(rc, status, "%s: status %d (%s), expected %d", json, rc, err.msg, status);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, needle) && strstr(err.msg, "bad.json"), "message \"%s\" lacks \"%s\"",
              err.msg, needle);
    unlink(path);
}

#define BPE_OK "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"

Test(tokenizer_hf, refuses_unsupported_components_by_name) {
    expect_refused("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", RB_EUNSUPPORTED, "WordPiece");
    expect_refused("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", RB_EUNSUPPORTED, "Unigram");
    expect_refused("{" BPE_OK ",\"normalizer\":{\"type\":\"NFKC\"}}", RB_EUNSUPPORTED, "NFKC");
    expect_refused("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Metaspace\"}}", RB_EUNSUPPORTED,
                   "Metaspace");
    expect_refused("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":"
                   "\"Whitespace\"}]}}",
                   RB_EUNSUPPORTED, "Whitespace");
    expect_refused("{" BPE_OK ",\"post_processor\":{\"type\":\"BertProcessing\"}}", RB_EUNSUPPORTED,
                   "BertProcessing");
    expect_refused("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},"
                   "\"behavior\":\"Sideways\"}}",
                   RB_EUNSUPPORTED, "Sideways");
    expect_refused("{" BPE_OK ",\"added_tokens\":[{\"id\":3,\"content\":\"<m>\",\"lstrip\":true}]}",
                   RB_EUNSUPPORTED, "lstrip");
}

Test(tokenizer_hf, refuses_malformed_files) {
    expect_refused("", RB_EFORMAT, "JSON");
    expect_refused("{\"model\":", RB_EFORMAT, "end of file");
    expect_refused("[1,2]", RB_EFORMAT, "top level");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-4}}}", RB_EFORMAT, "-4");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0}}}", RB_EFORMAT, "id 0");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a z\"]}}",
                   RB_EFORMAT, "\"z\" is not in the vocab");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a\"]}}",
                   RB_EFORMAT, "merges[0]");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"aa\"]}}",
                   RB_EFORMAT, "separated by one space");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"unk_token\":\"<unk>\"}}",
                   RB_EFORMAT, "unk_token");
    expect_refused("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},"
                   "\"behavior\":\"Isolated\"}}",
                   RB_EFORMAT, "regex");
    expect_refused("{\"model\":{\"type\":\"BPE\",\"vocab\":\"abc\"}}", RB_EFORMAT, "model.vocab");
}

Test(tokenizer_hf, truncated_files_fail_cleanly) {
    char *data;
    size_t len;
    rb_error err = {0};
    cr_assert_eq(rb_read_file(rb_test_require_data(STORIES_HF), 0, &data, &len, &err), RB_OK);
    char path[512];
    rb_test_tmp_path("cut.json", path, sizeof path);
    for (size_t cut = 0; cut < len; cut += 97) {
        cr_assert_eq(rb_test_write_file(path, data, cut), 0);
        rb_tokenizer *t = NULL;
        int rc = rb_tokenizer_open(path, &t, &err);
        cr_assert_eq(rc, RB_EFORMAT, "cut at %zu: status %d (%s)", cut, rc, err.msg);
        cr_assert(strstr(err.msg, "cut.json"), "%s", err.msg);
    }
    unlink(path);
    free(data);
}

Test(tokenizer_hf, invalid_utf8_input_is_an_error) {
    rb_tokenizer *t = open_or_die(rb_test_require_data(MISTRAL));
    int32_t *ids = NULL;
    size_t n;
    rb_error err = {0};
    cr_assert_eq(rb_tokenizer_encode(t, "ab\xC3(", 4, 1, 0, &ids, &n, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "UTF-8") && strstr(err.msg, "byte 2"), "%s", err.msg);
    cr_assert_null(ids);
    rb_tokenizer_free(t);
}

/* ---- rotbench tokenize ------------------------------------------------------ */

/* `rotbench tokenize --json` prints one JSON array: BOS + the library's ids. */
Test(tokenizer_hf, tokenize_command_prints_the_evaluator_ids) {
    const char *exe = getenv("ROTBENCH_EXE");
    if (!exe) cr_skip_test("ROTBENCH_EXE is not set (run through meson test)");
    const char *dir = rb_test_require_data("models/tokenizers/llama3/tokenizer.json");
    const char text[] = "Hello world<|eot_id|>  and 12345 'LL\n\n";
    const char *tmp = rb_test_tmp_file(text, sizeof text - 1);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' tokenize --tokenizer '%s' --text '%s' --json 2>/dev/null", exe,
             dir, tmp);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    unlink(tmp);
    json_object *arr = json_tokener_parse(out);
    cr_assert(arr && json_object_is_type(arr, json_type_array), "not one JSON array: %s", out);
    rb_tokenizer *t = open_or_die(dir);
    size_t nw;
    int32_t *want = encode_or_die(t, text, sizeof text - 1, 1, &nw);
    cr_assert_eq(want[0], 128000);
    cr_assert_eq(json_object_array_length(arr), nw, "%s", out);
    for (size_t i = 0; i < nw; i++)
        cr_assert_eq(json_object_get_int(json_object_array_get_idx(arr, i)), want[i]);
    free(want);
    json_object_put(arr);
    rb_tokenizer_free(t);
}

/* ---- pre-tokenizer behaviours ------------------------------------------------ */

#include "core/pretok.h"

/* HF tokenizers' documentation of SplitDelimiterBehavior, splitting
 * "the-final--countdown" on "-". */
static void expect_split(rb_split_behavior b, const char *const *want, size_t n_want) {
    rb_pretok *p = rb_pretok_new();
    rb_error err = {0};
    cr_assert_eq(rb_pretok_add_split(p, "-", 1, b, "test", &err), RB_OK, "%s", err.msg);
    rb_pretok_work w = {0};
    const rb_pieces *out;
    const char *text = "the-final--countdown";
    cr_assert_eq(rb_pretok_run(p, &w, text, strlen(text), &out, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(out->n, n_want, "behavior %d: %zu pieces, expected %zu", b, out->n, n_want);
    for (size_t i = 0; i < n_want; i++)
        cr_assert(out->len[i] == strlen(want[i]) && !memcmp(out->buf + out->off[i], want[i], out->len[i]),
                  "behavior %d piece %zu: \"%.*s\", expected \"%s\"", b, i, (int)out->len[i],
                  out->buf + out->off[i], want[i]);
    rb_pretok_work_free(&w);
    rb_pretok_free(p);
}

Test(tokenizer_hf, split_behaviors_as_documented) {
    expect_split(RB_SPLIT_REMOVED, (const char *[]){"the", "final", "countdown"}, 3);
    expect_split(RB_SPLIT_ISOLATED, (const char *[]){"the", "-", "final", "-", "-", "countdown"}, 6);
    expect_split(RB_SPLIT_MERGED_WITH_PREVIOUS, (const char *[]){"the-", "final-", "-", "countdown"}, 4);
    expect_split(RB_SPLIT_MERGED_WITH_NEXT, (const char *[]){"the", "-final", "-", "-countdown"}, 4);
    expect_split(RB_SPLIT_CONTIGUOUS, (const char *[]){"the", "-", "final", "--", "countdown"}, 5);
}

/* ByteLevel: GPT-2's alphabet (space = U+0120 "Ġ", newline = U+010A "Ċ",
 * byte 0xAD = U+0143 "Ń") and add_prefix_space. */
Test(tokenizer_hf, byte_level_alphabet) {
    char c[2];
    cr_assert(rb_bytelevel_char(' ', c) == 2 && !memcmp(c, "\xC4\xA0", 2));
    cr_assert(rb_bytelevel_char('\n', c) == 2 && !memcmp(c, "\xC4\x8A", 2));
    cr_assert(rb_bytelevel_char(0xAD, c) == 2 && !memcmp(c, "\xC5\x83", 2));
    cr_assert(rb_bytelevel_char('a', c) == 1 && c[0] == 'a');
    for (int b = 0; b < 256; b++) {
        size_t used;
        int n = rb_bytelevel_char((unsigned char)b, c);
        cr_assert_eq(rb_bytelevel_byte(c, (size_t)n, &used), b);
        cr_assert_eq(used, (size_t)n);
    }
    rb_pretok *p = rb_pretok_new();
    rb_error err = {0};
    cr_assert_eq(rb_pretok_add_bytelevel(p, 1, 1, "test", &err), RB_OK);
    rb_pretok_work w = {0};
    const rb_pieces *out;
    cr_assert_eq(rb_pretok_run(p, &w, "Hi  you", 7, &out, &err), RB_OK);
    /* " Hi", " ", " you" in the byte-level alphabet */
    cr_assert_eq(out->n, 3);
    cr_assert(out->len[0] == 4 && !memcmp(out->buf + out->off[0], "\xC4\xA0Hi", 4));
    cr_assert(out->len[1] == 2 && !memcmp(out->buf + out->off[1], "\xC4\xA0", 2));
    cr_assert(out->len[2] == 5 && !memcmp(out->buf + out->off[2], "\xC4\xA0you", 5));
    rb_pretok_work_free(&w);
    rb_pretok_free(p);
}

/* \s as HF tokenizers' Oniguruma defines it (doc/RE: U+0009..U+000D, U+0085,
 * Zl, Zp, Zs): NEL and U+3000 are white space, U+FEFF is not (unlike
 * ECMAScript's \s, which the JavaScript oracle uses). */
Test(tokenizer_hf, regex_white_space_is_oniguruma_s) {
    rb_error err = {0};
    rb_pretok_work w = {0};
    const rb_pieces *out;
    const char *text = "a\xC2\x85" "b\xEF\xBB\xBF" "c\xE3\x80\x80" "d";
    /* removing the \S runs keeps what \s matches: NEL and U+3000, not U+FEFF */
    rb_pretok *p = rb_pretok_new();
    const char *re = "\\S+";
    cr_assert_eq(rb_pretok_add_split(p, re, strlen(re), RB_SPLIT_REMOVED, "test", &err), RB_OK);
    cr_assert_eq(rb_pretok_run(p, &w, text, strlen(text), &out, &err), RB_OK);
    cr_assert_eq(out->n, 2);
    cr_assert(out->len[0] == 2 && !memcmp(out->buf + out->off[0], "\xC2\x85", 2));
    cr_assert(out->len[1] == 3 && !memcmp(out->buf + out->off[1], "\xE3\x80\x80", 3));
    rb_pretok_work_free(&w);
    rb_pretok_free(p);
}
