/* llama2.c tokenizer: loading, O(n log n) encoding, decoding.
 *
 * Encoding reproduces llama2.c run.c `encode` token for token:
 *
 *   1. the text is cut into groups: any byte, followed by up to three
 *      continuation bytes (10xxxxxx).  For valid UTF-8 a group is one code
 *      point; for invalid input this is exactly llama2.c's byte-by-byte rule
 *      (a stray run of continuation bytes forms groups of at most 4, an ASCII
 *      byte followed by continuation bytes is grouped with them, ...);
 *   2. a group that is a vocabulary piece becomes that token, otherwise each
 *      of its bytes becomes token byte + 3;
 *   3. the pair of adjacent tokens whose concatenated pieces form the
 *      vocabulary piece with the highest score is merged, leftmost first on
 *      equal scores, until no pair merges.  As in llama2.c, only scores
 *      strictly above -1e10 can win, and the optional BOS token takes part
 *      in the merging (the EOS token is appended afterwards).
 *
 * Step 3 is quadratic in llama2.c.  Here the tokens form a doubly linked list
 * of symbols and the candidate pairs sit in a priority queue keyed on (score
 * descending, left position ascending) with lazy invalidation; see
 * merge_queue and merge_all.
 *
 * Differences from llama2.c, all outside what llama2.c defines: the text is
 * given with a length, so a NUL byte is an ordinary byte (byte fallback
 * token 3) instead of the end of the text; pieces are compared with their
 * lengths rather than as C strings; if two tokens have the same piece the
 * lowest id wins (llama2.c's bsearch picks an unspecified one; neither shipped
 * vocabulary has duplicates); a vocabulary without a " " piece or without the
 * byte-fallback tokens gives an error instead of undefined behaviour.
 */
#include "core/tok_spm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"

enum {
    MAX_FILE_BYTES = 1 << 30,
    MAX_TOKEN_LENGTH_LIMIT = 1 << 16,
    MIN_VOCAB = 3, /* <unk>, <s>, </s> */
    MAX_GROUP_BYTES = 4,
};

/* llama2.c starts its best score at -1e10 and needs a strictly better one. */
#define MERGE_SCORE_FLOOR (-1e10f)

typedef struct hash_slot {
    uint32_t hash;
    int32_t id; /* -1: empty */
} hash_slot;

struct rb_spm {
    char *path;
    int32_t vocab_size;
    char *blob;               /* every piece, each followed by a NUL */
    uint32_t *offset;         /* piece i starts at blob + offset[i] */
    int32_t *length;
    float *score;
    uint32_t *rank;           /* dense rank of the score, 0 = highest */
    uint32_t n_ranks;
    int16_t *byte_val;        /* decode: NN if the piece reads as "<0xNN>", else -1 */
    int16_t *byte_val_bos;    /* the same for the piece minus its leading space */
    hash_slot *table;         /* pieces, open addressing with linear probing */
    uint32_t table_mask;
    int32_t space_id;         /* token of " " (dummy prefix), or -1 */
    int32_t byte_id[256];     /* byte-fallback token of each byte, or -1 */
    int byte_ids_by_piece;    /* byte_id from "<0xNN>" pieces (else byte + 3) */
    unsigned char bytes[256]; /* decode targets of the byte tokens */
};

/* ------------------------------------------------------------------------ */
/* Hashing and piece lookup                                                 */

static uint32_t hash_bytes(uint32_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u; /* FNV-1a, streamable: hash(a+b) = hash_bytes(hash(a), b) */
    }
    return h;
}

#define HASH_SEED 2166136261u

/* First probe slot; FNV's low bits are weak, so fold the high ones in. */
static uint32_t first_slot(const rb_spm *t, uint32_t h) {
    return (h ^ h >> 16) & t->table_mask;
}

static const char *piece_of(const rb_spm *t, int32_t id) {
    return t->blob + t->offset[id];
}

/* The id of the piece a+b (b may be empty), or -1. */
static int32_t lookup2(const rb_spm *t, const char *a, size_t na, const char *b,
                       size_t nb) {
    uint32_t h = hash_bytes(hash_bytes(HASH_SEED, a, na), b, nb);
    for (uint32_t i = first_slot(t, h);; i = (i + 1) & t->table_mask) {
        const hash_slot *s = &t->table[i];
        if (s->id < 0) return -1;
        if (s->hash != h || (size_t)t->length[s->id] != na + nb) continue;
        const char *p = piece_of(t, s->id);
        if (memcmp(p, a, na) == 0 && memcmp(p + na, b, nb) == 0) return s->id;
    }
}

static int32_t lookup(const rb_spm *t, const char *s, size_t n) {
    return lookup2(t, s, n, "", 0);
}

/* Inserts every piece; on duplicates the first (lowest) id is kept. */
static int build_table(rb_spm *t) {
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)t->vocab_size) cap *= 2;
    t->table = malloc(cap * sizeof *t->table);
    if (!t->table) return -1;
    for (uint32_t i = 0; i < cap; i++) t->table[i].id = -1;
    t->table_mask = cap - 1;
    for (int32_t id = 0; id < t->vocab_size; id++) {
        const char *p = piece_of(t, id);
        if (lookup(t, p, t->length[id]) >= 0) continue;
        uint32_t h = hash_bytes(HASH_SEED, p, t->length[id]);
        uint32_t i = first_slot(t, h);
        while (t->table[i].id >= 0) i = (i + 1) & t->table_mask;
        t->table[i].hash = h;
        t->table[i].id = id;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

static uint32_t read_u32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t read_i32le(const unsigned char *p) {
    uint32_t u = read_u32le(p);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static float read_f32le(const unsigned char *p) {
    uint32_t u = read_u32le(p);
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Walks the entries once: validates them and counts tokens and piece bytes. */
static int scan_entries(const char *path, const unsigned char *data, size_t size,
                        int32_t max_len, int32_t *n_tokens, size_t *piece_bytes, rb_error *err) {
    size_t pos = 4, bytes = 0;
    int32_t i = 0;
    while (pos < size) {
        size_t left = size - pos;
        if (left < 8)
            return rb_error_set(err, RB_EFORMAT,
                                "%s: token %d: entry header at offset %zu needs 8 bytes, the file "
                                "ends after %zu (truncated file?)",
                                path, i, pos, left);
        float score = read_f32le(data + pos);
        int32_t len = read_i32le(data + pos + 4);
        if (isnan(score))
            return rb_error_set(err, RB_EFORMAT, "%s: token %d: score is NaN", path, i);
        if (len < 0)
            return rb_error_set(err, RB_EFORMAT, "%s: token %d: negative length %d", path, i, len);
        if (len > max_len)
            return rb_error_set(err, RB_EFORMAT,
                                "%s: token %d: length %d is over max_token_length %d", path, i,
                                len, max_len);
        if ((size_t)len > left - 8)
            return rb_error_set(err, RB_EFORMAT,
                                "%s: token %d: %d piece bytes at offset %zu run past the end of "
                                "the file (%zu bytes left)",
                                path, i, len, pos + 8, left - 8);
        pos += 8 + (size_t)len;
        bytes += (size_t)len + 1;
        i++;
    }
    if (i < MIN_VOCAB)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: %d tokens, expected at least %d (<unk>, <s>, </s>)", path, i,
                            MIN_VOCAB);
    *n_tokens = i;
    *piece_bytes = bytes;
    return RB_OK;
}

/* llama2.c decode: sscanf(piece, "<0x%02hhX>", &b) == 1 means "byte b". */
static int16_t parse_byte_piece(const char *piece) {
    unsigned char b;
    if (strncmp(piece, "<0x", 3) != 0) return -1;
    if (sscanf(piece, "<0x%02hhX>", &b) != 1) return -1;
    return b;
}

/* Copies the (already validated) entries into the tokenizer. */
static void fill_pieces(rb_spm *t, const unsigned char *data) {
    size_t pos = 4, at = 0;
    for (int32_t i = 0; i < t->vocab_size; i++) {
        t->score[i] = read_f32le(data + pos);
        t->length[i] = read_i32le(data + pos + 4);
        t->offset[i] = (uint32_t)at;
        memcpy(t->blob + at, data + pos + 8, (size_t)t->length[i]);
        t->blob[at + (size_t)t->length[i]] = '\0';
        pos += 8 + (size_t)t->length[i];
        at += (size_t)t->length[i] + 1;
    }
}

typedef struct scored_id {
    float score;
    int32_t id;
} scored_id;

static int compare_scores_desc(const void *pa, const void *pb) {
    float a = ((const scored_id *)pa)->score, b = ((const scored_id *)pb)->score;
    return (a < b) - (a > b);
}

/* rank[id]: the number of distinct scores above score[id] (so -0.0 and 0.0
 * share a rank, as they compare equal in llama2.c). */
static int build_ranks(rb_spm *t) {
    scored_id *order = malloc((size_t)t->vocab_size * sizeof *order);
    if (!order) return -1;
    for (int32_t i = 0; i < t->vocab_size; i++) order[i] = (scored_id){t->score[i], i};
    qsort(order, (size_t)t->vocab_size, sizeof *order, compare_scores_desc);
    uint32_t rank = 0;
    for (int32_t i = 0; i < t->vocab_size; i++) {
        if (i > 0 && order[i].score != order[i - 1].score) rank++;
        t->rank[order[i].id] = rank;
    }
    t->n_ranks = rank + 1;
    free(order);
    return 0;
}

/* What decode and encode need beyond the pieces (after build_table). */
static void fill_derived(rb_spm *t) {
    for (int32_t i = 0; i < t->vocab_size; i++) {
        const char *p = piece_of(t, i);
        t->byte_val[i] = parse_byte_piece(p);
        t->byte_val_bos[i] = p[0] == ' ' ? parse_byte_piece(p + 1) : t->byte_val[i];
    }
    for (int b = 0; b < 256; b++) t->bytes[b] = (unsigned char)b;
    t->space_id = lookup(t, " ", 1);
    for (int b = 0; b < 256; b++) {
        if (t->byte_ids_by_piece) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_id[b] = lookup(t, name, 6);
        } else {
            t->byte_id[b] = b + 3 < t->vocab_size ? b + 3 : -1;
        }
    }
}

static rb_spm *alloc_spm(const char *path, int32_t n, size_t piece_bytes) {
    rb_spm *t = calloc(1, sizeof *t);
    if (t) {
        t->vocab_size = n;
        t->path = strdup(path);
        t->blob = malloc(piece_bytes);
        t->offset = malloc((size_t)n * sizeof *t->offset);
        t->length = malloc((size_t)n * sizeof *t->length);
        t->score = malloc((size_t)n * sizeof *t->score);
        t->rank = malloc((size_t)n * sizeof *t->rank);
        t->byte_val = malloc((size_t)n * sizeof *t->byte_val);
        t->byte_val_bos = malloc((size_t)n * sizeof *t->byte_val_bos);
    }
    if (!t || !t->path || !t->blob || !t->offset || !t->length || !t->score || !t->rank ||
        !t->byte_val || !t->byte_val_bos) {
        rb_spm_free(t);
        return NULL;
    }
    return t;
}

/* Indexes the filled pieces; frees t on failure. */
static int finish_spm(rb_spm *t, rb_spm **out, rb_error *err) {
    if (build_table(t) || build_ranks(t)) {
        int n = t->vocab_size;
        rb_error_set(err, RB_ENOMEM, "%s: out of memory indexing %d pieces", t->path, n);
        rb_spm_free(t);
        return RB_ENOMEM;
    }
    fill_derived(t);
    *out = t;
    return RB_OK;
}

int rb_spm_load(const char *path, rb_spm **out, rb_error *err) {
    *out = NULL;
    char *raw;
    size_t size;
    int rc = rb_read_file(path, MAX_FILE_BYTES, &raw, &size, err);
    if (rc) return rc;
    const unsigned char *data = (const unsigned char *)raw;
    if (size < 4) {
        free(raw);
        return rb_error_set(err, RB_EFORMAT,
                            "%s: file too short (%zu bytes) for the max_token_length header",
                            path, size);
    }
    int32_t max_len = read_i32le(data);
    if (max_len < 1 || max_len > MAX_TOKEN_LENGTH_LIMIT) {
        free(raw);
        return rb_error_set(err, RB_EFORMAT, "%s: max_token_length=%d, expected 1..%d", path,
                            max_len, MAX_TOKEN_LENGTH_LIMIT);
    }
    int32_t n = 0;
    size_t piece_bytes = 0;
    if ((rc = scan_entries(path, data, size, max_len, &n, &piece_bytes, err))) {
        free(raw);
        return rc;
    }

    rb_spm *t = alloc_spm(path, n, piece_bytes);
    if (!t) {
        free(raw);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory for %d tokens", path, n);
    }
    fill_pieces(t, data);
    free(raw);
    return finish_spm(t, out, err);
}

/* ------------------------------------------------------------------------ */
/* From pieces in memory (a GGUF "llama" vocabulary)                        */

static const char SPM_SPACE[] = "\xE2\x96\x81"; /* U+2581, SentencePiece's space */

/* Copies piece p[0..n) into dst with every U+2581 read as ' ' (llama2.c's
 * files store spaces); returns the copied length. */
static size_t copy_unescaped(char *dst, const char *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(p + i, SPM_SPACE, 3) == 0) {
            dst[k++] = ' ';
            i += 3;
        } else {
            dst[k++] = p[i++];
        }
    }
    return k;
}

int rb_spm_from_pieces(const char *what, int32_t n, const char *const *pieces,
                       const size_t *lens, const float *scores, rb_spm **out, rb_error *err) {
    *out = NULL;
    if (n < MIN_VOCAB || !pieces || !lens || !scores)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: SentencePiece vocabulary needs at least %d pieces with scores, "
                            "got %d%s",
                            what, MIN_VOCAB, n, scores ? "" : " and no scores");
    size_t piece_bytes = 0;
    for (int32_t i = 0; i < n; i++) {
        if ((!pieces[i] && lens[i]) || lens[i] > MAX_TOKEN_LENGTH_LIMIT)
            return rb_error_set(err, RB_EFORMAT, "%s: token %d: piece of %zu bytes (limit %d)",
                                what, i, lens[i], MAX_TOKEN_LENGTH_LIMIT);
        if (isnan(scores[i]))
            return rb_error_set(err, RB_EFORMAT, "%s: token %d: score is NaN", what, i);
        piece_bytes += lens[i] + 1;
    }
    rb_spm *t = alloc_spm(what, n, piece_bytes);
    if (!t) return rb_error_set(err, RB_ENOMEM, "%s: out of memory for %d tokens", what, n);
    size_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        t->score[i] = scores[i];
        t->offset[i] = (uint32_t)at;
        size_t k = lens[i] ? copy_unescaped(t->blob + at, pieces[i], lens[i]) : 0;
        t->length[i] = (int32_t)k;
        t->blob[at + k] = '\0';
        at += k + 1;
    }
    t->byte_ids_by_piece = 1;
    return finish_spm(t, out, err);
}

void rb_spm_free(rb_spm *t) {
    if (!t) return;
    free(t->path);
    free(t->blob);
    free(t->offset);
    free(t->length);
    free(t->score);
    free(t->rank);
    free(t->byte_val);
    free(t->byte_val_bos);
    free(t->table);
    free(t);
}

int rb_spm_vocab_size(const rb_spm *t) { return t->vocab_size; }

const char *rb_spm_piece(const rb_spm *t, int32_t token, size_t *len) {
    if (token < 0 || token >= t->vocab_size) {
        *len = 0;
        return "";
    }
    *len = (size_t)t->length[token];
    return piece_of(t, token);
}

float rb_spm_score(const rb_spm *t, int32_t token) {
    if (token < 0 || token >= t->vocab_size) return NAN;
    return t->score[token];
}

/* ------------------------------------------------------------------------ */
/* Encoding: initial symbols                                                */

static int is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

/* Appends the tokens of text to toks (which has room for len more): one token
 * per group when the group is a piece, else one byte-fallback token per byte. */
static int split_groups(const rb_spm *t, const char *text, size_t len, int32_t *toks,
                        size_t *n, rb_error *err) {
    size_t i = 0;
    while (i < len) {
        size_t g = 1;
        while (g < MAX_GROUP_BYTES && i + g < len && is_continuation((unsigned char)text[i + g]))
            g++;
        int32_t id = lookup(t, text + i, g);
        if (id >= 0) {
            toks[(*n)++] = id;
        } else {
            for (size_t k = 0; k < g; k++) {
                unsigned char b = (unsigned char)text[i + k];
                if (t->byte_id[b] < 0 && !t->byte_ids_by_piece)
                    return rb_error_set(err, RB_EFORMAT,
                                        "%s: no byte-fallback token for byte 0x%02X (vocabulary "
                                        "has %d tokens, byte fallback needs 259)",
                                        t->path, b, t->vocab_size);
                if (t->byte_id[b] < 0)
                    return rb_error_set(err, RB_EFORMAT,
                                        "%s: no byte-fallback token <0x%02X> in the vocabulary",
                                        t->path, b);
                toks[(*n)++] = t->byte_id[b];
            }
        }
        i += g;
    }
    return RB_OK;
}

/* ------------------------------------------------------------------------ */
/* Encoding: merges with a heap over a linked list                          */

/* The symbols being merged form a doubly linked list.  Symbol i starts as the
 * i-th initial token; a merge keeps the left symbol and kills the right one,
 * so the order of indices is the order in the current sequence. */
typedef struct symbol {
    int32_t tok;
    int32_t pair;        /* token this symbol merges into with its right
                          * neighbour, or -1 (no such piece, score not above
                          * the floor, last symbol, or dead) */
    uint32_t prev, next; /* NONE at the ends */
} symbol;

#define NONE UINT32_MAX

/* A growable binary min-heap of uint64 keys. */
typedef struct heap64 {
    uint64_t *a;
    size_t n, cap;
} heap64;

static int heap64_push(heap64 *h, uint64_t key) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 8;
        uint64_t *a = realloc(h->a, cap * sizeof *a);
        if (!a) return -1;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && key < h->a[(i - 1) / 2]) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = key;
    return 0;
}

static uint64_t heap64_pop(heap64 *h) {
    uint64_t top = h->a[0], key = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t kid = 2 * i + 1;
        if (kid >= h->n) break;
        if (kid + 1 < h->n && h->a[kid + 1] < h->a[kid]) kid++;
        if (h->a[kid] >= key) break;
        h->a[i] = h->a[kid];
        i = kid;
    }
    h->a[i] = key;
    return top;
}

/* The candidate merges, smallest key first, where key = rank << 32 | left:
 * the highest-scoring candidate, then the leftmost (rank 0 = best score).
 *
 * This is a max-heap on (score, -left) split in two levels so that it stays
 * cache friendly on megabyte texts: the ranks are cut into n_bands contiguous
 * bands, each band has a heap of its keys, and `nonempty` is a heap of the
 * numbers of the bands that have keys.  Bands are monotone in rank, so every
 * key of a band beats every key of a later band, and the best key is the top
 * of the first non-empty band.  Short texts get one band (a plain binary heap); long ones
 * up to one band per rank, so that popping stays within the small heaps of
 * the few ranks being merged instead of walking one huge heap. */
typedef struct merge_queue {
    heap64 *band;
    heap64 nonempty;
    uint32_t n_bands, n_ranks;
} merge_queue;

enum { SYMBOLS_PER_BAND = 32 };

static int queue_init(merge_queue *q, uint32_t n_ranks, size_t n_symbols) {
    size_t bands = n_symbols / SYMBOLS_PER_BAND;
    if (bands < 1) bands = 1;
    if (bands > n_ranks) bands = n_ranks;
    *q = (merge_queue){.n_bands = (uint32_t)bands, .n_ranks = n_ranks};
    q->band = calloc(bands, sizeof *q->band);
    return q->band ? 0 : -1;
}

static void queue_free(merge_queue *q) {
    if (q->band)
        for (uint32_t b = 0; b < q->n_bands; b++) free(q->band[b].a);
    free(q->band);
    free(q->nonempty.a);
}

static uint64_t merge_key(uint32_t rank, uint32_t left) { return (uint64_t)rank << 32 | left; }

static int queue_push(merge_queue *q, uint32_t rank, uint32_t left) {
    uint32_t b = (uint32_t)((uint64_t)rank * q->n_bands / q->n_ranks);
    if (q->band[b].n == 0 && heap64_push(&q->nonempty, b)) return -1;
    return heap64_push(&q->band[b], merge_key(rank, left));
}

static uint64_t queue_pop(merge_queue *q) {
    heap64 *h = &q->band[q->nonempty.a[0]];
    uint64_t key = heap64_pop(h);
    if (h->n == 0) heap64_pop(&q->nonempty);
    return key;
}

/* The token symbol l merges into with its right neighbour, or -1. */
static int32_t pair_token(const rb_spm *t, const symbol *sym, uint32_t l) {
    uint32_t r = sym[l].next;
    if (r == NONE) return -1;
    int32_t a = sym[l].tok, b = sym[r].tok;
    int32_t id = lookup2(t, piece_of(t, a), (size_t)t->length[a], piece_of(t, b),
                         (size_t)t->length[b]);
    return id >= 0 && t->score[id] > MERGE_SCORE_FLOOR ? id : -1;
}

/* Recomputes the pair of symbol l and queues it. */
static int update_pair(const rb_spm *t, symbol *sym, merge_queue *q, uint32_t l) {
    int32_t id = sym[l].pair = pair_token(t, sym, l);
    return id < 0 ? 0 : queue_push(q, t->rank[id], l);
}

/* Queue invariant: for every symbol l with pair >= 0 the queue holds
 * merge_key(rank[pair], l); it may also hold stale keys of pairs that have
 * since changed or died (lazy invalidation).  A popped key is acted on only
 * if it equals the key of l's current pair.  Since every current pair's key
 * is queued and the popped key is the smallest, that pair is then the
 * highest-scoring, leftmost mergeable pair: exactly what llama2.c's scan
 * picks.  (A stale key equal to a current key stands for the same choice.)
 * Every merge kills one symbol and queues at most two keys, so the loop does
 * O(n) queue operations of O(log n) each. */
static int merge_all(const rb_spm *t, symbol *sym, size_t n, merge_queue *q) {
    for (uint32_t l = 0; l < n; l++)
        if (update_pair(t, sym, q, l)) return -1;
    while (q->nonempty.n) {
        uint64_t key = queue_pop(q);
        /* The next candidate is usually the band's next key: fetch its symbol
         * while this one is handled. */
        if (q->nonempty.n) {
            const heap64 *next = &q->band[q->nonempty.a[0]];
            __builtin_prefetch(&sym[(uint32_t)next->a[0]]);
        }
        uint32_t l = (uint32_t)key;
        int32_t id = sym[l].pair;
        if (id < 0 || merge_key(t->rank[id], l) != key) continue; /* stale */
        uint32_t r = sym[l].next;
        sym[l].tok = id;
        sym[l].next = sym[r].next;
        sym[r].pair = -1; /* r dies */
        if (sym[l].next != NONE) sym[sym[l].next].prev = l;
        if (sym[l].prev != NONE && update_pair(t, sym, q, sym[l].prev)) return -1;
        if (update_pair(t, sym, q, l)) return -1;
    }
    return 0;
}

/* Runs the merges on toks[0..*n) in place; *n becomes the merged count. */
static int merge_tokens(const rb_spm *t, int32_t *toks, size_t *n) {
    if (*n < 2) return 0;
    symbol *sym = malloc(*n * sizeof *sym);
    merge_queue q;
    int rc = queue_init(&q, t->n_ranks, *n);
    if (rc == 0 && sym) {
        for (size_t i = 0; i < *n; i++)
            sym[i] = (symbol){toks[i], -1, i ? (uint32_t)(i - 1) : NONE,
                              i + 1 < *n ? (uint32_t)(i + 1) : NONE};
        rc = merge_all(t, sym, *n, &q);
    } else {
        rc = -1;
    }
    if (rc == 0) {
        /* Symbol 0 never dies (a merge kills the right symbol): walk from it. */
        size_t k = 0;
        for (uint32_t i = 0; i != NONE; i = sym[i].next) toks[k++] = sym[i].tok;
        *n = k;
    }
    queue_free(&q);
    free(sym);
    return rc;
}

int rb_spm_encode(const rb_spm *t, const char *text, size_t len, int32_t bos,
                        int32_t eos, int32_t **tokens, size_t *n_tokens, rb_error *err) {
    if (!t || !tokens || !n_tokens || (!text && len))
        return rb_error_set(err, RB_EINVAL, "rb_spm_encode: NULL argument");
    *tokens = NULL;
    *n_tokens = 0;
    if (len > (size_t)INT32_MAX - 8)
        return rb_error_set(err, RB_EINVAL, "%s: cannot encode %zu bytes at once (limit %d)",
                            t->path, len, INT32_MAX - 8);
    if (len && t->space_id < 0)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: vocabulary has no \" \" piece for the dummy prefix", t->path);

    /* BOS, dummy prefix, at most one token per byte, EOS. */
    int32_t *toks = malloc((len + 3) * sizeof *toks);
    if (!toks)
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory encoding %zu bytes", t->path, len);
    size_t n = 0;
    if (bos >= 0) toks[n++] = bos;
    if (len) toks[n++] = t->space_id;
    int rc = split_groups(t, text, len, toks, &n, err);
    if (!rc && merge_tokens(t, toks, &n))
        rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory encoding %zu bytes", t->path, len);
    if (rc) {
        free(toks);
        return rc;
    }
    if (eos >= 0) toks[n++] = eos;
    *tokens = toks;
    *n_tokens = n;
    return RB_OK;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */

const char *rb_spm_decode(const rb_spm *t, int32_t bos, int32_t prev_token, int32_t token,
                          size_t *len) {
    if (token < 0 || token >= t->vocab_size) {
        *len = 0;
        return "";
    }
    const char *p = piece_of(t, token);
    size_t n = (size_t)t->length[token];
    int strip = prev_token == bos && bos >= 0 && n > 0 && p[0] == ' ';
    int byte = strip ? t->byte_val_bos[token] : t->byte_val[token];
    if (byte >= 0) {
        *len = 1;
        return (const char *)&t->bytes[byte];
    }
    *len = n - (size_t)strip;
    return p + strip;
}

