/* Tests of core/tokenizer: the O(n log n) encoder against a literal port of
 * llama2.c's quadratic encode, known Llama-2 token ids, decode round trips,
 * and malformed tokenizer files. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/io.h"
#include "core/tokenizer.h"
#include "tests/test_util.h"

#define TOK512 "models/stories260K/tok512.bin"
#define LLAMA2 "models/llama2-tokenizer/tokenizer.bin"
#define WIKITEXT "datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt"
#define TINYSTORIES "datasets/tinystories/TinyStories-valid-head.txt"

TestSuite(tokenizer, .timeout = 240);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static rb_tokenizer *load_or_die(const char *path) {
    rb_error err = {0};
    rb_tokenizer *t = NULL;
    int rc = rb_tokenizer_load(path, &t, &err);
    cr_assert_eq(rc, RB_OK, "loading %s: %s", path, err.msg);
    return t;
}

static rb_tokenizer *load_data(const char *rel) {
    return load_or_die(rb_test_require_data(rel));
}

static int32_t *encode_or_die(const rb_tokenizer *t, const char *text, size_t len, int bos,
                              int eos, size_t *n) {
    rb_error err = {0};
    int32_t *tokens = NULL;
    int rc = rb_tokenizer_encode(t, text, len, bos, eos, &tokens, n, &err);
    cr_assert_eq(rc, RB_OK, "encode failed: %s", err.msg);
    return tokens;
}

static void assert_tokens(const rb_tokenizer *t, const char *text, int bos, int eos,
                          const int32_t *want, size_t n_want) {
    size_t n;
    int32_t *got = encode_or_die(t, text, strlen(text), bos, eos, &n);
    cr_assert_eq(n, n_want, "\"%s\": %zu tokens, expected %zu", text, n, n_want);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "\"%s\": token %zu is %d, expected %d", text, i, got[i],
                     want[i]);
    free(got);
}

#define ASSERT_TOKENS(t, text, bos, eos, ...)                                                 \
    do {                                                                                      \
        const int32_t want_[] = {__VA_ARGS__};                                                \
        assert_tokens(t, text, bos, eos, want_, sizeof want_ / sizeof *want_);               \
    } while (0)

/* splitmix64: a small deterministic generator for the random strings. */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t rng_below(rng *r, size_t n) { return (size_t)(rng_next(r) % n); }

/* ------------------------------------------------------------------------ */
/* Reference: llama2.c run.c encode, ported line by line.  The only changes:
 * text has a length (a NUL byte is an ordinary byte) and pieces are compared
 * with their lengths (lowest id first among equal pieces).                  */

typedef struct ref_entry {
    const char *s;
    size_t n;
    int32_t id;
} ref_entry;

typedef struct ref_vocab {
    const rb_tokenizer *t;
    ref_entry *sorted;
    int size;
    size_t max_len;
} ref_vocab;

static int ref_cmp_str(const char *a, size_t na, const char *b, size_t nb) {
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c) return c;
    return (na > nb) - (na < nb);
}

static int ref_cmp(const void *pa, const void *pb) {
    const ref_entry *a = pa, *b = pb;
    int c = ref_cmp_str(a->s, a->n, b->s, b->n);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

static void ref_init(ref_vocab *rv, const rb_tokenizer *t) {
    rv->t = t;
    rv->size = rb_tokenizer_vocab_size(t);
    rv->sorted = malloc((size_t)rv->size * sizeof *rv->sorted);
    cr_assert_not_null(rv->sorted);
    rv->max_len = 0;
    for (int i = 0; i < rv->size; i++) {
        rv->sorted[i].s = rb_tokenizer_piece(t, i, &rv->sorted[i].n);
        rv->sorted[i].id = i;
        if (rv->sorted[i].n > rv->max_len) rv->max_len = rv->sorted[i].n;
    }
    qsort(rv->sorted, (size_t)rv->size, sizeof *rv->sorted, ref_cmp);
}

static void ref_free(ref_vocab *rv) { free(rv->sorted); }

/* str_lookup: binary search for the first entry equal to s. */
static int ref_lookup(const ref_vocab *rv, const char *s, size_t n) {
    size_t lo = 0, hi = (size_t)rv->size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ref_cmp_str(rv->sorted[mid].s, rv->sorted[mid].n, s, n) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (lo < (size_t)rv->size && ref_cmp_str(rv->sorted[lo].s, rv->sorted[lo].n, s, n) == 0)
        return rv->sorted[lo].id;
    return -1;
}

static int32_t *ref_encode(const ref_vocab *rv, const char *text, size_t len, int bos, int eos,
                           size_t *n_tokens) {
    int32_t *tokens = malloc((len + 3) * sizeof *tokens);
    char *str_buffer = malloc(rv->max_len * 2 + 1 + 4);
    cr_assert(tokens && str_buffer);
    size_t str_len = 0;
    size_t n = 0;

    if (bos) tokens[n++] = 1;
    if (len > 0) tokens[n++] = ref_lookup(rv, " ", 1);

    for (size_t c = 0; c < len; c++) {
        if ((text[c] & 0xC0) != 0x80) str_len = 0;
        str_buffer[str_len++] = text[c];
        if (c + 1 < len && (text[c + 1] & 0xC0) == 0x80 && str_len < 4) continue;
        int id = ref_lookup(rv, str_buffer, str_len);
        if (id != -1) {
            tokens[n++] = id;
        } else {
            for (size_t i = 0; i < str_len; i++) tokens[n++] = (unsigned char)str_buffer[i] + 3;
        }
        str_len = 0;
    }

    while (1) {
        float best_score = -1e10;
        int best_id = -1;
        long best_idx = -1;
        for (size_t i = 0; i + 1 < n; i++) {
            size_t na, nb;
            const char *a = rb_tokenizer_piece(rv->t, tokens[i], &na);
            const char *b = rb_tokenizer_piece(rv->t, tokens[i + 1], &nb);
            memcpy(str_buffer, a, na);
            memcpy(str_buffer + na, b, nb);
            int id = ref_lookup(rv, str_buffer, na + nb);
            if (id != -1 && rb_tokenizer_score(rv->t, id) > best_score) {
                best_score = rb_tokenizer_score(rv->t, id);
                best_id = id;
                best_idx = (long)i;
            }
        }
        if (best_idx == -1) break;
        tokens[best_idx] = best_id;
        for (size_t i = (size_t)best_idx + 1; i + 1 < n; i++) tokens[i] = tokens[i + 1];
        n--;
    }

    if (eos) tokens[n++] = 2;
    free(str_buffer);
    *n_tokens = n;
    return tokens;
}

/* Encodes with both encoders and asserts the same ids. */
static void check_same(const ref_vocab *rv, const char *text, size_t len, int bos, int eos,
                       const char *what) {
    size_t n_ref, n_got;
    int32_t *want = ref_encode(rv, text, len, bos, eos, &n_ref);
    int32_t *got = encode_or_die(rv->t, text, len, bos, eos, &n_got);
    size_t i = 0;
    while (i < n_ref && i < n_got && want[i] == got[i]) i++;
    cr_assert(i == n_ref && i == n_got,
              "%s (%zu bytes, bos=%d eos=%d): first difference at token %zu of %zu/%zu "
              "(reference %d, got %d)",
              what, len, bos, eos, i, n_ref, n_got, i < n_ref ? want[i] : -1,
              i < n_got ? got[i] : -1);
    free(want);
    free(got);
}

/* ------------------------------------------------------------------------ */
/* Random text                                                              */

static size_t put_utf8(char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static const char *const WORDS[] = {"the", "a", "little", "girl", "named", "Lily", "once",
                                    "upon", "time", "played", "in", "park", "Hello", "world",
                                    "ing", "tion", "  ", "\n", ",", ".", "'s", "123", "=="};

/* ASCII: printable characters, spaces, newlines and common words. */
static size_t gen_ascii(rng *r, char *out, size_t max) {
    size_t len = rng_below(r, max + 1), n = 0;
    while (n < len) {
        if (rng_below(r, 3) == 0) {
            const char *w = WORDS[rng_below(r, sizeof WORDS / sizeof *WORDS)];
            size_t wl = strlen(w);
            if (n + wl > len) break;
            memcpy(out + n, w, wl);
            n += wl;
        } else {
            size_t k = rng_below(r, 100);
            out[n++] = k < 15 ? ' ' : k < 18 ? '\n' : (char)(32 + rng_below(r, 95));
        }
    }
    return n;
}

/* Valid UTF-8: ASCII mixed with 2-, 3- and 4-byte code points. */
static size_t gen_utf8(rng *r, char *out, size_t max) {
    static const uint32_t RANGES[][2] = {
        {0x20, 0x7E},       {0xA0, 0x17F},      {0x391, 0x3C9},   {0x410, 0x44F},
        {0x4E00, 0x4FFF},   {0x3040, 0x30FF},   {0x2000, 0x206F}, {0x1F300, 0x1F64F},
        {0x1D400, 0x1D4FF}, {0xAC00, 0xAC40},
    };
    size_t len = rng_below(r, max + 1), n = 0;
    while (n + 4 <= len) {
        size_t k = rng_below(r, 2 * (sizeof RANGES / sizeof *RANGES));
        if (k >= sizeof RANGES / sizeof *RANGES) k = 0; /* half ASCII */
        uint32_t lo = RANGES[k][0], hi = RANGES[k][1];
        n += put_utf8(out + n, lo + (uint32_t)rng_below(r, hi - lo + 1));
    }
    return n;
}

/* Arbitrary bytes, biased towards UTF-8 lead and continuation bytes so that
 * invalid sequences (stray or excess continuation bytes, truncated code
 * points) are common; includes NUL. */
static size_t gen_bytes(rng *r, char *out, size_t max) {
    size_t len = rng_below(r, max + 1);
    for (size_t i = 0; i < len; i++) {
        size_t k = rng_below(r, 10);
        unsigned b = k < 4   ? 0x80 + (unsigned)rng_below(r, 64)  /* continuation */
                     : k < 6 ? 0xC0 + (unsigned)rng_below(r, 64)  /* lead */
                     : k < 9 ? 0x20 + (unsigned)rng_below(r, 95)  /* ASCII */
                             : (unsigned)rng_below(r, 256);
        out[i] = (char)b;
    }
    return len;
}

typedef size_t (*text_gen)(rng *, char *, size_t);

static void check_random(const char *vocab_rel, text_gen gen, uint64_t seed, int count,
                         size_t max_len, const char *what) {
    rb_tokenizer *t = load_data(vocab_rel);
    ref_vocab rv;
    ref_init(&rv, t);
    rng r = {seed};
    char *buf = malloc(max_len + 1);
    cr_assert_not_null(buf);
    for (int i = 0; i < count; i++) {
        size_t len = gen(&r, buf, max_len);
        char label[128];
        snprintf(label, sizeof label, "%s #%d with %s", what, i, vocab_rel);
        check_same(&rv, buf, len, i % 2, i % 3 == 0, label);
    }
    free(buf);
    ref_free(&rv);
    rb_tokenizer_free(t);
}

/* Random slices of a real corpus (cut anywhere, so also mid code point). */
static void check_corpus(const char *vocab_rel, const char *corpus_rel, uint64_t seed,
                         int count, size_t max_len) {
    rb_tokenizer *t = load_data(vocab_rel);
    const char *path = rb_test_require_data(corpus_rel);
    rb_error err = {0};
    char *text;
    size_t len;
    cr_assert_eq(rb_read_file(path, 0, &text, &len, &err), RB_OK, "%s", err.msg);
    cr_assert_gt(len, max_len);
    ref_vocab rv;
    ref_init(&rv, t);
    rng r = {seed};
    for (int i = 0; i < count; i++) {
        size_t n = 1 + rng_below(&r, max_len);
        size_t at = rng_below(&r, len - n);
        char label[160];
        snprintf(label, sizeof label, "%s[%zu..%zu) with %s", corpus_rel, at, at + n, vocab_rel);
        check_same(&rv, text + at, n, i % 2 == 0, 0, label);
    }
    ref_free(&rv);
    free(text);
    rb_tokenizer_free(t);
}

/* ------------------------------------------------------------------------ */
/* Synthetic vocabulary files                                               */

typedef struct vocab_buf {
    unsigned char *data;
    size_t len, cap;
} vocab_buf;

static void vb_put(vocab_buf *vb, const void *p, size_t n) {
    if (vb->len + n > vb->cap) {
        vb->cap = 2 * (vb->len + n) + 64;
        vb->data = realloc(vb->data, vb->cap);
        cr_assert_not_null(vb->data);
    }
    memcpy(vb->data + vb->len, p, n);
    vb->len += n;
}

static void vb_i32(vocab_buf *vb, int32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    vb_put(vb, b, 4);
}

static void vb_f32(vocab_buf *vb, float f) {
    int32_t v;
    memcpy(&v, &f, 4);
    vb_i32(vb, v);
}

static void vb_entry(vocab_buf *vb, float score, const char *piece) {
    vb_f32(vb, score);
    vb_i32(vb, (int32_t)strlen(piece));
    vb_put(vb, piece, strlen(piece));
}

/* max_token_length, <unk> <s> </s>, the 256 byte tokens. */
static vocab_buf vb_base(int32_t max_len) {
    vocab_buf vb = {0};
    vb_i32(&vb, max_len);
    vb_entry(&vb, 0, "<unk>");
    vb_entry(&vb, 0, "\n<s>\n");
    vb_entry(&vb, 0, "\n</s>\n");
    for (int b = 0; b < 256; b++) {
        char piece[8];
        snprintf(piece, sizeof piece, "<0x%02X>", b);
        vb_entry(&vb, 0, piece);
    }
    return vb;
}

static rb_tokenizer *load_buf(const vocab_buf *vb) {
    const char *path = rb_test_tmp_file(vb->data, vb->len);
    rb_tokenizer *t = load_or_die(path);
    unlink(path);
    return t;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

Test(tokenizer, loads_both_vocabularies) {
    rb_tokenizer *small = load_data(TOK512), *big = load_data(LLAMA2);
    cr_assert_eq(rb_tokenizer_vocab_size(small), 512);
    cr_assert_eq(rb_tokenizer_vocab_size(big), 32000);
    size_t n;
    const char *p = rb_tokenizer_piece(big, RB_TOKEN_BOS, &n);
    cr_assert(n == 5 && memcmp(p, "\n<s>\n", 5) == 0);
    p = rb_tokenizer_piece(big, 15043, &n);
    cr_assert(n == 6 && memcmp(p, " Hello", 6) == 0);
    p = rb_tokenizer_piece(small, 410, &n);
    cr_assert(n == 1 && p[0] == ' ', "tok512 token 410 is \" \"");
    cr_assert_float_eq(rb_tokenizer_score(small, 261), -2.0f, 0, "tok512 \" a\" score");
    rb_tokenizer_piece(big, 32000, &n);
    cr_assert_eq(n, 0);
    cr_assert(isnan(rb_tokenizer_score(big, -1)));
    rb_tokenizer_free(small);
    rb_tokenizer_free(big);
}

/* ------------------------------------------------------------------------ */
/* Known encodings                                                          */

/* Expected ids from karpathy/llama2.c test.c (SentencePiece's own output for
 * the Llama-2 example prompts) and "Hello world". */
Test(tokenizer, llama2_known_prompts) {
    rb_tokenizer *t = load_data(LLAMA2);
    ASSERT_TOKENS(t, "", 1, 0, 1);
    ASSERT_TOKENS(t, "Hello world", 1, 0, 1, 15043, 3186);
    ASSERT_TOKENS(t, "I believe the meaning of life is", 1, 0, 1, 306, 4658, 278, 6593, 310,
                  2834, 338);
    ASSERT_TOKENS(t, "Simply put, the theory of relativity states that ", 1, 0, 1, 3439, 17632,
                  1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871);
    ASSERT_TOKENS(t,
                  "A brief message congratulating the team on the launch:\n\n        Hi "
                  "everyone,\n\n        I just ",
                  1, 0, 1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826,
                  29901, 13, 13, 4706, 6324, 14332, 29892, 13, 13, 4706, 306, 925, 29871);
    ASSERT_TOKENS(t,
                  "Translate English to French:\n\n        sea otter => loutre de mer\n        "
                  "peppermint => menthe poivrée\n        plush girafe => girafe peluche\n    "
                  "    cheese =>",
                  1, 0, 1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357,
                  1149, 301, 449, 276, 316, 2778, 13, 4706, 1236, 407, 837, 524, 1149, 6042,
                  354, 772, 440, 29878, 1318, 13, 4706, 715, 1878, 330, 3055, 1725, 1149, 330,
                  3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149);
    rb_tokenizer_free(t);
}

Test(tokenizer, bos_eos_and_empty_text) {
    rb_tokenizer *t = load_data(LLAMA2);
    size_t n = 99;
    int32_t *tok = encode_or_die(t, "", 0, 0, 0, &n);
    cr_assert_eq(n, 0, "empty text, no BOS/EOS: no tokens (not even the dummy prefix)");
    free(tok);
    tok = encode_or_die(t, NULL, 0, 0, 0, &n);
    cr_assert_eq(n, 0);
    free(tok);
    ASSERT_TOKENS(t, "", 1, 1, 1, 2);
    ASSERT_TOKENS(t, "", 0, 1, 2);
    ASSERT_TOKENS(t, "Hello world", 0, 1, 15043, 3186, 2);
    ASSERT_TOKENS(t, "Hello world", 1, 1, 1, 15043, 3186, 2);
    rb_tokenizer_free(t);
}

/* Code points missing from the vocabulary fall back to byte + 3. */
Test(tokenizer, byte_fallback) {
    rb_tokenizer *t = load_data(LLAMA2);
    /* U+1F999 (llama) = F0 9F A6 99 is not a Llama-2 piece. */
    ASSERT_TOKENS(t, "\xF0\x9F\xA6\x99", 1, 0, 1, 29871, 0xF0 + 3, 0x9F + 3, 0xA6 + 3,
                  0x99 + 3);
    /* "é" is a piece, and " é" merges. */
    ASSERT_TOKENS(t, "\xC3\xA9", 1, 0, 1, 904);
    ASSERT_TOKENS(t, "\xC3\xA9", 0, 0, 904);
    rb_tokenizer_free(t);

    t = load_data(TOK512);
    /* tok512 has "é" (485) but no llama and no "\n": byte fallback after the
     * dummy-prefix token " " (410). */
    ASSERT_TOKENS(t, "\xC3\xA9", 1, 0, 1, 410, 485);
    ASSERT_TOKENS(t, "\xF0\x9F\xA6\x99", 1, 0, 1, 410, 0xF0 + 3, 0x9F + 3, 0xA6 + 3, 0x99 + 3);
    ASSERT_TOKENS(t, "\n", 0, 0, 410, '\n' + 3);
    rb_tokenizer_free(t);
}

/* llama2.c groups a byte with up to three following continuation bytes,
 * whatever the first byte is, and byte-falls-back the whole group when it is
 * not a piece. */
Test(tokenizer, invalid_utf8_like_llama2c) {
    rb_tokenizer *t = load_data(LLAMA2);
    /* "a" followed by a continuation byte: even the "a" becomes a byte token. */
    ASSERT_TOKENS(t, "a\x80", 0, 0, 29871, 'a' + 3, 0x80 + 3);
    /* "é" plus one excess continuation byte: three byte tokens. */
    ASSERT_TOKENS(t, "\xC3\xA9\x80", 0, 0, 29871, 0xC3 + 3, 0xA9 + 3, 0x80 + 3);
    /* a lone lead byte between ASCII letters. */
    ASSERT_TOKENS(t, "a\xC3z", 0, 0, 263, 0xC3 + 3, 29920);
    /* five stray continuation bytes: groups of 4 and 1, all bytes. */
    ASSERT_TOKENS(t, "\x80\x80\x80\x80\x80", 0, 0, 29871, 131, 131, 131, 131, 131);
    /* a NUL byte is an ordinary byte here (llama2.c would stop at it). */
    size_t n;
    int32_t *tok = encode_or_die(t, "a\0b", 3, 0, 0, &n);
    cr_assert(n == 3 && tok[0] == 263 && tok[1] == 3 && tok[2] == 29890,
              "\"a\\0b\" -> [\" a\", <0x00>, \"b\"]");
    free(tok);
    rb_tokenizer_free(t);
}

/* Ties go to the leftmost pair; only scores above -1e10 ever merge; the BOS
 * token takes part in merging; duplicate pieces resolve to the lowest id. */
Test(tokenizer, merge_rules_on_a_synthetic_vocab) {
    vocab_buf vb = vb_base(8);
    vb_entry(&vb, 0, " ");        /* 259 */
    vb_entry(&vb, 0, "a");        /* 260 */
    vb_entry(&vb, 0, "b");        /* 261 */
    vb_entry(&vb, -1, "ab");      /* 262 */
    vb_entry(&vb, -1, "ba");      /* 263 */
    vb_entry(&vb, -1e10f, "c");   /* 264 */
    vb_entry(&vb, 0, "d");        /* 265 */
    vb_entry(&vb, -1e10f, "cd");  /* 266: never merges (not above -1e10) */
    vb_entry(&vb, -9e9f, "dd");   /* 267: merges */
    vb_entry(&vb, -5, "\n<s>\n "); /* 268: BOS + dummy prefix */
    vb_entry(&vb, -7, "ab");      /* 269: duplicate of 262 */
    rb_tokenizer *t = load_buf(&vb);
    free(vb.data);

    ASSERT_TOKENS(t, "aba", 0, 0, 259, 262, 260);     /* "ab" and "ba" tie: leftmost */
    ASSERT_TOKENS(t, "bab", 0, 0, 259, 263, 261);
    ASSERT_TOKENS(t, "cd", 0, 0, 259, 264, 265);
    ASSERT_TOKENS(t, "dd", 0, 0, 259, 267);
    ASSERT_TOKENS(t, "ab", 1, 0, 268, 262);
    ASSERT_TOKENS(t, "ab", 1, 1, 268, 262, 2);

    /* Short texts and long ones (the merge queue splits long texts into one
     * band per score rank). */
    ref_vocab rv;
    ref_init(&rv, t);
    rng r = {7};
    char buf[3000];
    for (int i = 0; i < 2200; i++) {
        size_t len = rng_below(&r, i < 2000 ? 64 : sizeof buf);
        for (size_t k = 0; k < len; k++) buf[k] = "abcd "[rng_below(&r, 5)];
        check_same(&rv, buf, len, i & 1, 0, "synthetic vocab");
    }
    ref_free(&rv);
    rb_tokenizer_free(t);
}

Test(tokenizer, vocab_without_space_or_byte_tokens) {
    vocab_buf vb = {0};
    vb_i32(&vb, 8);
    vb_entry(&vb, 0, "<unk>");
    vb_entry(&vb, 0, "\n<s>\n");
    vb_entry(&vb, 0, "\n</s>\n");
    vb_entry(&vb, 0, "a");
    rb_tokenizer *t = load_buf(&vb);
    rb_error err = {0};
    int32_t *tok = NULL;
    size_t n;
    cr_assert_eq(rb_tokenizer_encode(t, "a", 1, 1, 0, &tok, &n, &err), RB_EFORMAT);
    cr_assert(strstr(err.msg, "dummy prefix"), "%s", err.msg);
    cr_assert_null(tok);
    rb_tokenizer_free(t);

    vb_entry(&vb, 0, " ");
    t = load_buf(&vb);
    free(vb.data);
    cr_assert_eq(rb_tokenizer_encode(t, "z", 1, 1, 0, &tok, &n, &err), RB_EFORMAT);
    cr_assert(strstr(err.msg, "byte-fallback"), "%s", err.msg);
    ASSERT_TOKENS(t, "a", 1, 0, 1, 4, 3);
    rb_tokenizer_free(t);
}

/* ------------------------------------------------------------------------ */
/* Heap encoder == quadratic llama2.c encoder                              */

Test(tokenizer, same_as_reference_on_ascii) {
    check_random(TOK512, gen_ascii, 1, 400, 300, "ascii");
    check_random(LLAMA2, gen_ascii, 2, 400, 300, "ascii");
}

Test(tokenizer, same_as_reference_on_utf8) {
    check_random(TOK512, gen_utf8, 3, 400, 300, "utf8");
    check_random(LLAMA2, gen_utf8, 4, 400, 300, "utf8");
}

Test(tokenizer, same_as_reference_on_random_bytes) {
    check_random(TOK512, gen_bytes, 5, 400, 200, "bytes");
    check_random(LLAMA2, gen_bytes, 6, 400, 200, "bytes");
}

Test(tokenizer, same_as_reference_on_wikitext_slices) {
    check_corpus(TOK512, WIKITEXT, 11, 30, 1500);
    check_corpus(LLAMA2, WIKITEXT, 12, 30, 1500);
}

Test(tokenizer, same_as_reference_on_tinystories_slices) {
    check_corpus(TOK512, TINYSTORIES, 13, 30, 1500);
    check_corpus(LLAMA2, TINYSTORIES, 14, 30, 1500);
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */

Test(tokenizer, decode_rules) {
    rb_tokenizer *t = load_data(LLAMA2);
    size_t n;
    const char *p = rb_tokenizer_decode(t, RB_TOKEN_BOS, 15043, &n);
    cr_assert(n == 5 && memcmp(p, "Hello", 5) == 0, "leading space dropped after BOS");
    p = rb_tokenizer_decode(t, 306, 15043, &n);
    cr_assert(n == 6 && memcmp(p, " Hello", 6) == 0, "kept elsewhere");
    p = rb_tokenizer_decode(t, RB_TOKEN_BOS, 29871, &n);
    cr_assert_eq(n, 0, "\" \" after BOS decodes to nothing");
    p = rb_tokenizer_decode(t, 5, 13, &n);
    cr_assert(n == 1 && p[0] == '\n', "<0x0A> is a newline");
    p = rb_tokenizer_decode(t, 5, 0xF0 + 3, &n);
    cr_assert(n == 1 && (unsigned char)p[0] == 0xF0);
    p = rb_tokenizer_decode(t, 5, 3, &n);
    cr_assert(n == 1 && p[0] == 0, "<0x00> is one NUL byte");
    p = rb_tokenizer_decode(t, 5, 32000, &n);
    cr_assert(n == 0 && p && *p == 0, "out of range");
    p = rb_tokenizer_decode(t, 5, -1, &n);
    cr_assert(n == 0 && p);
    rb_tokenizer_free(t);
}

/* decode(encode(text)) with BOS: the dummy prefix is dropped after BOS, so
 * every byte string comes back exactly. */
static void check_round_trips(const char *vocab_rel, text_gen gen, uint64_t seed) {
    rb_tokenizer *t = load_data(vocab_rel);
    rng r = {seed};
    char text[400], back[4 * sizeof text + 16];
    for (int i = 0; i < 300; i++) {
        size_t len = gen(&r, text, sizeof text);
        size_t n;
        int32_t *tok = encode_or_die(t, text, len, 1, 0, &n);
        size_t m = 0;
        for (size_t k = 1; k < n; k++) {
            size_t pl;
            const char *p = rb_tokenizer_decode(t, tok[k - 1], tok[k], &pl);
            cr_assert_leq(m + pl, sizeof back);
            memcpy(back + m, p, pl);
            m += pl;
        }
        cr_assert(m == len && memcmp(back, text, len) == 0,
                  "round trip #%d with %s: %zu bytes in, %zu out", i, vocab_rel, len, m);
        free(tok);
    }
    rb_tokenizer_free(t);
}

Test(tokenizer, round_trips) {
    check_round_trips(TOK512, gen_ascii, 21);
    check_round_trips(LLAMA2, gen_ascii, 22);
    check_round_trips(TOK512, gen_utf8, 23);
    check_round_trips(LLAMA2, gen_utf8, 24);
    check_round_trips(TOK512, gen_bytes, 25);
    check_round_trips(LLAMA2, gen_bytes, 26);
}

/* ------------------------------------------------------------------------ */
/* Malformed files                                                          */

static void expect_load_error(const void *data, size_t len, int status, const char *needle) {
    const char *path = rb_test_tmp_file(data, len);
    rb_error err = {0};
    rb_tokenizer *t = (rb_tokenizer *)&err; /* must be reset to NULL */
    int rc = rb_tokenizer_load(path, &t, &err);
    cr_assert_eq(rc, status, "%s: status %d, expected %d (%s)", path, rc, status, err.msg);
    cr_assert_eq(err.status, status);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, path), "message names the file: %s", err.msg);
    if (needle) cr_assert(strstr(err.msg, needle), "message mentions \"%s\": %s", needle, err.msg);
    unlink(path);
}

Test(tokenizer, rejects_malformed_files) {
    vocab_buf vb = vb_base(8);
    vb_entry(&vb, 0, " ");
    size_t good_len = vb.len;
    rb_tokenizer *t = load_buf(&vb);
    cr_assert_eq(rb_tokenizer_vocab_size(t), 260);
    rb_tokenizer_free(t);

    expect_load_error("", 0, RB_EFORMAT, "too short");
    expect_load_error(vb.data, 3, RB_EFORMAT, "too short");
    expect_load_error(vb.data, 4, RB_EFORMAT, "0 tokens");
    expect_load_error(vb.data, 4 + 8 + 5, RB_EFORMAT, "1 tokens");
    /* Cut inside an entry header, then inside a piece. */
    expect_load_error(vb.data, good_len - 3, RB_EFORMAT, "token 259");
    expect_load_error(vb.data, good_len - 1, RB_EFORMAT, "token 259");
    expect_load_error(vb.data, 4 + 8 + 3, RB_EFORMAT, "token 0");

    /* Bad max_token_length. */
    unsigned char *bad = malloc(good_len);
    cr_assert_not_null(bad);
    memcpy(bad, vb.data, good_len);
    int32_t v = -1;
    memcpy(bad, &v, 4);
    expect_load_error(bad, good_len, RB_EFORMAT, "max_token_length");
    v = 0x7FFFFFFF;
    memcpy(bad, &v, 4);
    expect_load_error(bad, good_len, RB_EFORMAT, "max_token_length");

    /* Entry of token 1 ("\n<s>\n") at offset 4 + 8 + 5. */
    size_t e1 = 4 + 8 + 5;
    memcpy(bad, vb.data, good_len);
    v = -7;
    memcpy(bad + e1 + 4, &v, 4);
    expect_load_error(bad, good_len, RB_EFORMAT, "token 1: negative length");
    v = 0x40000000;
    memcpy(bad + e1 + 4, &v, 4);
    expect_load_error(bad, good_len, RB_EFORMAT, "token 1: length");
    v = 9; /* over max_token_length 8 */
    memcpy(bad + e1 + 4, &v, 4);
    expect_load_error(bad, good_len, RB_EFORMAT, "max_token_length 8");
    /* Last entry's length runs past the end (within max_token_length). */
    memcpy(bad, vb.data, good_len);
    v = 8;
    memcpy(bad + good_len - 1 - 4, &v, 4);
    expect_load_error(bad, good_len, RB_EFORMAT, "past the end");

    /* NaN score. */
    memcpy(bad, vb.data, good_len);
    float nan_score = NAN;
    memcpy(bad + e1, &nan_score, 4);
    expect_load_error(bad, good_len, RB_EFORMAT, "token 1: score is NaN");

    free(bad);
    free(vb.data);
}

Test(tokenizer, missing_file_is_eio) {
    rb_error err = {0};
    rb_tokenizer *t = NULL;
    const char *path = "/nonexistent/rotbench/tokenizer.bin";
    cr_assert_eq(rb_tokenizer_load(path, &t, &err), RB_EIO);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
}

Test(tokenizer, truncated_real_file) {
    const char *path = rb_test_require_data(TOK512);
    rb_error err = {0};
    char *data;
    size_t len;
    cr_assert_eq(rb_read_file(path, 0, &data, &len, &err), RB_OK, "%s", err.msg);
    /* A cut exactly between two entries is a valid, smaller vocabulary (the
     * caller compares vocab sizes with the model); any other cut is an error. */
    int errors = 0;
    for (size_t cut = 0; cut < len; cut += 97) {
        const char *tmp = rb_test_tmp_file(data, cut);
        rb_tokenizer *t = NULL;
        int rc = rb_tokenizer_load(tmp, &t, &err);
        if (rc == RB_OK) {
            cr_assert_lt(rb_tokenizer_vocab_size(t), 512, "cut at %zu", cut);
            rb_tokenizer_free(t);
        } else {
            cr_assert_eq(rc, RB_EFORMAT, "cut at %zu: %d (%s)", cut, rc, err.msg);
            cr_assert(strstr(err.msg, tmp), "%s", err.msg);
            errors++;
        }
        unlink(tmp);
    }
    cr_assert_gt(errors, 50);
    free(data);
}
