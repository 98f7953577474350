/* BPE model: vocabulary and merge tables, one word's merges (see tok_bpe.h).
 *
 * Pieces live in one blob; a piece -> id table and a (left, right) -> (rank,
 * merged id) table use open addressing with linear probing.  The merges of a
 * word run over a doubly linked list of symbols with a binary min-heap of
 * keys rank << 32 | position; an entry is stale when its position died or its
 * pair no longer merges with that rank.
 */
#include "core/tok_bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_IDS = 1 << 24 };

typedef struct piece_slot {
    uint32_t hash;
    int32_t id; /* -1: empty */
} piece_slot;

typedef struct merge_slot {
    uint64_t pair; /* left << 32 | right; UINT64_MAX: empty */
    int32_t rank, merged;
} merge_slot;

struct rb_bpe {
    char *what;
    int32_t n;
    char *blob;
    size_t *offset; /* [n + 1]; piece i = blob[offset[i] .. offset[i + 1]) */
    unsigned char *present;
    piece_slot *pieces;
    uint32_t piece_mask;
    merge_slot *merges;
    uint32_t merge_mask, n_merges;
    int byte_fallback, ignore_merges, fuse_unk;
    int32_t unk_id;
    int32_t byte_id[256]; /* "<0xNN>" pieces, or -1 */
    int space_barrier;    /* no piece has "▁" right after another character than "▁" */
};

static const char SPM_SPACE[] = "\xE2\x96\x81"; /* U+2581 */

/* Nonzero when piece p[0..n) has a "▁" whose previous character is not "▁"
 * (UTF-8 self-synchronises: the 3 bytes before it are that character or not). */
static int space_after_other(const char *p, size_t n) {
    for (size_t j = 1; j + 3 <= n; j++)
        if (memcmp(p + j, SPM_SPACE, 3) == 0 && (j < 3 || memcmp(p + j - 3, SPM_SPACE, 3) != 0))
            return 1;
    return 0;
}

int rb_ids_push(rb_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        int32_t *a = realloc(v->a, cap * sizeof *a);
        if (!a) return -1;
        v->a = a;
        v->cap = cap;
    }
    v->a[v->n++] = id;
    return 0;
}

/* ---- piece table ---------------------------------------------------------- */

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h ^ h >> 15;
}

int32_t rb_bpe_lookup(const rb_bpe *b, const char *s, size_t n) {
    uint32_t h = hash_bytes(s, n);
    for (uint32_t i = h & b->piece_mask;; i = (i + 1) & b->piece_mask) {
        const piece_slot *p = &b->pieces[i];
        if (p->id < 0) return -1;
        if (p->hash != h) continue;
        size_t len = b->offset[p->id + 1] - b->offset[p->id];
        if (len == n && memcmp(b->blob + b->offset[p->id], s, n) == 0) return p->id;
    }
}

const char *rb_bpe_piece(const rb_bpe *b, int32_t id, size_t *len) {
    if (id < 0 || id >= b->n || !b->present[id]) {
        *len = 0;
        return "";
    }
    *len = b->offset[id + 1] - b->offset[id];
    return b->blob + b->offset[id];
}

int32_t rb_bpe_size(const rb_bpe *b) { return b->n; }

static uint32_t table_cap(uint32_t n) {
    uint32_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    return cap;
}

int rb_bpe_new(const char *what, int32_t n, const char *const *pieces, const size_t *lens,
               rb_bpe **out, rb_error *err) {
    *out = NULL;
    if (n < 1 || n > MAX_IDS)
        return rb_error_set(err, RB_EFORMAT, "%s: %d token ids, expected 1..%d", what, n,
                            MAX_IDS);
    size_t bytes = 0;
    for (int32_t i = 0; i < n; i++)
        if (pieces[i]) bytes += lens[i];
    rb_bpe *b = calloc(1, sizeof *b);
    uint32_t cap = table_cap((uint32_t)n);
    if (b) {
        b->what = strdup(what);
        b->n = n;
        b->blob = malloc(bytes + 1);
        b->offset = malloc(((size_t)n + 1) * sizeof *b->offset);
        b->present = calloc((size_t)n, 1);
        b->pieces = malloc(cap * sizeof *b->pieces);
        b->merges = malloc(16 * sizeof *b->merges);
    }
    if (!b || !b->what || !b->blob || !b->offset || !b->present || !b->pieces || !b->merges) {
        rb_bpe_free(b);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory for %d pieces", what, n);
    }
    b->piece_mask = cap - 1;
    for (uint32_t i = 0; i < cap; i++) b->pieces[i].id = -1;
    b->merge_mask = 15;
    for (uint32_t i = 0; i < 16; i++) b->merges[i].pair = UINT64_MAX;
    b->unk_id = -1;
    size_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        b->offset[i] = at;
        if (!pieces[i]) continue;
        memcpy(b->blob + at, pieces[i], lens[i]);
        at += lens[i];
    }
    b->offset[n] = at;
    for (int32_t i = 0; i < n; i++) {
        if (!pieces[i]) continue;
        int32_t dup = rb_bpe_lookup(b, pieces[i], lens[i]);
        if (dup >= 0) {
            rb_error_set(err, RB_EFORMAT, "%s: vocab: ids %d and %d have the same piece \"%.*s\"",
                         what, dup, i, (int)(lens[i] > 40 ? 40 : lens[i]), pieces[i]);
            rb_bpe_free(b);
            return RB_EFORMAT;
        }
        uint32_t h = hash_bytes(pieces[i], lens[i]);
        uint32_t s = h & b->piece_mask;
        while (b->pieces[s].id >= 0) s = (s + 1) & b->piece_mask;
        b->pieces[s] = (piece_slot){h, i};
        b->present[i] = 1;
    }
    b->space_barrier = 1;
    for (int32_t i = 0; i < n && b->space_barrier; i++)
        if (pieces[i] && space_after_other(pieces[i], lens[i])) b->space_barrier = 0;
    for (int v = 0; v < 256; v++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", v);
        b->byte_id[v] = rb_bpe_lookup(b, name, 6);
    }
    *out = b;
    return RB_OK;
}

void rb_bpe_free(rb_bpe *b) {
    if (!b) return;
    free(b->what);
    free(b->blob);
    free(b->offset);
    free(b->present);
    free(b->pieces);
    free(b->merges);
    free(b);
}

void rb_bpe_set_options(rb_bpe *b, int byte_fallback, int ignore_merges, int fuse_unk,
                        int32_t unk_id) {
    b->byte_fallback = byte_fallback;
    b->ignore_merges = ignore_merges;
    b->fuse_unk = fuse_unk;
    b->unk_id = unk_id;
}

/* ---- merge table ---------------------------------------------------------- */

static uint32_t hash_pair(uint64_t pair) {
    pair *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(pair >> 32);
}

static merge_slot *merge_find(const rb_bpe *b, uint64_t pair) {
    for (uint32_t i = hash_pair(pair) & b->merge_mask;; i = (i + 1) & b->merge_mask) {
        merge_slot *s = &b->merges[i];
        if (s->pair == pair || s->pair == UINT64_MAX) return s;
    }
}

static int merge_grow(rb_bpe *b) {
    uint32_t cap = 2 * (b->merge_mask + 1);
    merge_slot *old = b->merges;
    uint32_t old_cap = b->merge_mask + 1;
    b->merges = malloc(cap * sizeof *b->merges);
    if (!b->merges) {
        b->merges = old;
        return -1;
    }
    b->merge_mask = cap - 1;
    for (uint32_t i = 0; i < cap; i++) b->merges[i].pair = UINT64_MAX;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].pair != UINT64_MAX) *merge_find(b, old[i].pair) = old[i];
    free(old);
    return 0;
}

int rb_bpe_add_merge(rb_bpe *b, const char *left, size_t nl, const char *right, size_t nr,
                     int32_t rank, rb_error *err) {
    int32_t l = rb_bpe_lookup(b, left, nl), r = rb_bpe_lookup(b, right, nr);
    if (l < 0 || r < 0)
        return rb_error_set(err, RB_EFORMAT, "%s: merges[%d]: \"%.*s\" is not in the vocab",
                            b->what, rank, (int)(l < 0 ? nl : nr), l < 0 ? left : right);
    char buf[512];
    char *cat = nl + nr <= sizeof buf ? buf : malloc(nl + nr);
    if (!cat) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", b->what);
    memcpy(cat, left, nl);
    memcpy(cat + nl, right, nr);
    int32_t m = rb_bpe_lookup(b, cat, nl + nr);
    if (cat != buf) free(cat);
    if (m < 0)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: merges[%d]: \"%.*s\" + \"%.*s\" is not in the vocab", b->what,
                            rank, (int)nl, left, (int)nr, right);
    if (2 * (b->n_merges + 1) > b->merge_mask + 1 && merge_grow(b))
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory for merges", b->what);
    uint64_t pair = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    merge_slot *s = merge_find(b, pair);
    if (s->pair == UINT64_MAX) b->n_merges++;
    *s = (merge_slot){pair, rank, m};
    return RB_OK;
}

/* ---- one word ------------------------------------------------------------- */

typedef struct symbol {
    int32_t id;
    uint32_t prev, next; /* NONE at the ends */
    int alive;
} symbol;

#define NONE UINT32_MAX

void rb_bpe_work_free(rb_bpe_work *w) {
    free(w->sym);
    free(w->heap);
    memset(w, 0, sizeof *w);
}

static int heap_push(rb_bpe_work *w, size_t *n, uint64_t key) {
    if (*n == w->heap_cap) {
        size_t cap = w->heap_cap ? 2 * w->heap_cap : 64;
        uint64_t *a = realloc(w->heap, cap * sizeof *a);
        if (!a) return -1;
        w->heap = a;
        w->heap_cap = cap;
    }
    uint64_t *a = w->heap;
    size_t i = (*n)++;
    while (i > 0 && a[(i - 1) / 2] > key) {
        a[i] = a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    a[i] = key;
    return 0;
}

static uint64_t heap_pop(rb_bpe_work *w, size_t *n) {
    uint64_t *a = w->heap, top = a[0], last = a[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && a[c + 1] < a[c]) c++;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
    }
    if (*n) a[i] = last;
    return top;
}

/* The merge of symbol l with its right neighbour, or NULL. */
static const merge_slot *pair_merge(const rb_bpe *b, const symbol *s, uint32_t l) {
    if (s[l].next == NONE) return NULL;
    uint64_t pair = (uint64_t)(uint32_t)s[l].id << 32 | (uint32_t)s[s[l].next].id;
    const merge_slot *m = merge_find(b, pair);
    return m->pair == UINT64_MAX ? NULL : m;
}

static int push_pair(const rb_bpe *b, rb_bpe_work *w, size_t *nh, uint32_t l) {
    const symbol *s = w->sym;
    const merge_slot *m = pair_merge(b, s, l);
    return m ? heap_push(w, nh, (uint64_t)(uint32_t)m->rank << 32 | l) : 0;
}

static int utf8_len(unsigned char c) {
    return c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

/* Steps 2 and 3 of tok_bpe.h on word[0..len). */
static int merge_word(const rb_bpe *b, rb_bpe_work *w, const char *word, size_t len, rb_ids *out,
                      rb_error *err) {
    if (len > w->sym_cap) {
        void *s = realloc(w->sym, len * sizeof(symbol));
        if (!s) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", b->what);
        w->sym = s;
        w->sym_cap = len;
    }
    symbol *s = w->sym;
    size_t n = 0;
    int last_unk = 0;
    for (size_t i = 0; i < len;) {
        size_t c = (size_t)utf8_len((unsigned char)word[i]);
        if (c > len - i) c = len - i;
        int32_t id = rb_bpe_lookup(b, word + i, c);
        if (id >= 0) {
            s[n++].id = id;
            last_unk = 0;
        } else {
            int all = b->byte_fallback;
            for (size_t k = 0; all && k < c; k++) all = b->byte_id[(unsigned char)word[i + k]] >= 0;
            if (all) {
                for (size_t k = 0; k < c; k++) s[n++].id = b->byte_id[(unsigned char)word[i + k]];
                last_unk = 0;
            } else if (b->unk_id >= 0) {
                if (!(b->fuse_unk && last_unk)) s[n++].id = b->unk_id;
                last_unk = 1;
            } else {
                return rb_error_set(err, RB_EFORMAT,
                                    "%s: no piece for the character \"%.*s\" and no unk_token",
                                    b->what, (int)c, word + i);
            }
        }
        i += c;
    }
    for (size_t i = 0; i < n; i++) {
        s[i].prev = i ? (uint32_t)(i - 1) : NONE;
        s[i].next = i + 1 < n ? (uint32_t)(i + 1) : NONE;
        s[i].alive = 1;
    }
    size_t nh = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (push_pair(b, w, &nh, (uint32_t)i)) return rb_error_set(err, RB_ENOMEM, "out of memory");
    while (nh) {
        uint64_t key = heap_pop(w, &nh);
        uint32_t l = (uint32_t)key;
        if (!s[l].alive) continue;
        const merge_slot *m = pair_merge(b, s, l);
        if (!m || (uint32_t)m->rank != (uint32_t)(key >> 32)) continue; /* stale */
        uint32_t r = s[l].next;
        s[l].id = m->merged;
        s[l].next = s[r].next;
        s[r].alive = 0;
        if (s[l].next != NONE) s[s[l].next].prev = l;
        if ((s[l].prev != NONE && push_pair(b, w, &nh, s[l].prev)) || push_pair(b, w, &nh, l))
            return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; n && i != NONE; i = s[i].next)
        if (rb_ids_push(out, s[i].id)) return rb_error_set(err, RB_ENOMEM, "out of memory");
    return RB_OK;
}

/* Where the next sub-word starts after word[0..len) begins one: the next "▁"
 * whose previous character is not "▁", or len. */
static size_t next_barrier(const char *word, size_t len) {
    for (size_t j = 1; j + 3 <= len; j++)
        if (memcmp(word + j, SPM_SPACE, 3) == 0 && (j < 3 || memcmp(word + j - 3, SPM_SPACE, 3) != 0))
            return j;
    return len;
}

int rb_bpe_encode_word(const rb_bpe *b, rb_bpe_work *w, const char *word, size_t len,
                       rb_ids *out, rb_error *err) {
    if (!len) return RB_OK;
    if (b->ignore_merges) {
        int32_t id = rb_bpe_lookup(b, word, len);
        if (id >= 0) return rb_ids_push(out, id) ? rb_error_set(err, RB_ENOMEM, "out of memory")
                                                 : RB_OK;
    }
    if (!b->space_barrier) return merge_word(b, w, word, len, out, err);
    /* No merge result can hold "x▁" (x not "▁"), so no symbol ever spans such
     * a point: the sub-words between them merge independently, with the same
     * result as the whole word (a SentencePiece text without pre-tokenizer is
     * one word of the whole text). */
    for (size_t at = 0; at < len;) {
        size_t end = at + next_barrier(word + at, len - at);
        int rc = merge_word(b, w, word + at, end - at, out, err);
        if (rc) return rc;
        at = end;
    }
    return RB_OK;
}
