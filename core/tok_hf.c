/* The HF-tokenizers pipeline: added tokens, normalizers, pre-tokenizers, BPE
 * (see tok_hf.h). */
#include "core/tok_hf.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_NORMALIZERS = 16 };

typedef struct norm_step {
    int replace; /* 0: prepend a; 1: replace a -> b */
    char *a, *b;
    size_t na, nb;
} norm_step;

typedef struct added_token {
    int32_t id;
    char *s;
    size_t n;
} added_token;

struct rb_hf {
    char *what;
    rb_bpe *bpe;
    rb_pretok *pre;
    norm_step norm[MAX_NORMALIZERS];
    int n_norm;
    added_token *added;
    size_t n_added, cap_added;
    int32_t *by_byte[256]; /* added tokens starting with each byte, longest first */
    size_t n_by_byte[256];
    int byte_level, strip_after_bos;
    int32_t size;
    char *text_blob; /* text-space piece of every id */
    size_t *text_off; /* [size + 1] */
    int16_t *byte_of; /* "<0xNN>" pieces: NN, else -1 */
};

rb_hf *rb_hf_new(const char *what) {
    rb_hf *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->what = strdup(what);
    h->pre = rb_pretok_new();
    if (!h->what || !h->pre) {
        rb_hf_free(h);
        return NULL;
    }
    return h;
}

void rb_hf_free(rb_hf *h) {
    if (!h) return;
    free(h->what);
    rb_bpe_free(h->bpe);
    rb_pretok_free(h->pre);
    for (int i = 0; i < h->n_norm; i++) {
        free(h->norm[i].a);
        free(h->norm[i].b);
    }
    for (size_t i = 0; i < h->n_added; i++) free(h->added[i].s);
    free(h->added);
    for (int b = 0; b < 256; b++) free(h->by_byte[b]);
    free(h->text_blob);
    free(h->text_off);
    free(h->byte_of);
    free(h);
}

const char *rb_hf_what(const rb_hf *h) { return h->what; }
void rb_hf_set_model(rb_hf *h, rb_bpe *bpe) { h->bpe = bpe; }
rb_pretok *rb_hf_pretok(rb_hf *h) { return h->pre; }
void rb_hf_set_decode(rb_hf *h, int byte_level, int strip_after_bos) {
    h->byte_level = byte_level;
    h->strip_after_bos = strip_after_bos;
}
int32_t rb_hf_size(const rb_hf *h) { return h->size; }

static char *dup_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static int add_norm(rb_hf *h, int replace, const char *a, size_t na, const char *b, size_t nb,
                    rb_error *err) {
    if (h->n_norm == MAX_NORMALIZERS)
        return rb_error_set(err, RB_EUNSUPPORTED, "%s: more than %d normalizers", h->what,
                            MAX_NORMALIZERS);
    norm_step *s = &h->norm[h->n_norm];
    s->replace = replace;
    s->a = dup_bytes(a, na);
    s->b = dup_bytes(b ? b : "", nb);
    s->na = na;
    s->nb = nb;
    if (!s->a || !s->b) {
        free(s->a), free(s->b);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory", h->what);
    }
    h->n_norm++;
    return RB_OK;
}

int rb_hf_add_prepend(rb_hf *h, const char *s, size_t n, rb_error *err) {
    return add_norm(h, 0, s, n, NULL, 0, err);
}

int rb_hf_add_replace(rb_hf *h, const char *from, size_t nf, const char *to, size_t nt,
                      rb_error *err) {
    if (!nf)
        return rb_error_set(err, RB_EFORMAT, "%s: Replace normalizer with an empty pattern",
                            h->what);
    return add_norm(h, 1, from, nf, to, nt, err);
}

int rb_hf_add_token(rb_hf *h, int32_t id, const char *s, size_t n, rb_error *err) {
    if (!n)
        return rb_error_set(err, RB_EFORMAT, "%s: added token %d has empty content", h->what, id);
    if (id < 0 || id >= (1 << 24))
        return rb_error_set(err, RB_EFORMAT, "%s: added token id %d out of range 0..%d", h->what,
                            id, (1 << 24) - 1);
    if (h->n_added == h->cap_added) {
        size_t cap = h->cap_added ? 2 * h->cap_added : 16;
        added_token *a = realloc(h->added, cap * sizeof *a);
        if (!a) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", h->what);
        h->added = a;
        h->cap_added = cap;
    }
    char *c = dup_bytes(s, n);
    if (!c) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", h->what);
    h->added[h->n_added++] = (added_token){id, c, n};
    return RB_OK;
}

/* ---- finishing: the added-token index and the text-space pieces ------------ */

static int build_added_index(rb_hf *h, rb_error *err) {
    for (size_t i = 0; i < h->n_added; i++) h->n_by_byte[(unsigned char)h->added[i].s[0]]++;
    for (int b = 0; b < 256; b++) {
        if (!h->n_by_byte[b]) continue;
        h->by_byte[b] = malloc(h->n_by_byte[b] * sizeof *h->by_byte[b]);
        if (!h->by_byte[b]) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", h->what);
        h->n_by_byte[b] = 0;
    }
    for (size_t i = 0; i < h->n_added; i++) {
        unsigned char b = (unsigned char)h->added[i].s[0];
        /* insertion by length, longest first (stable: file order on ties) */
        size_t k = h->n_by_byte[b]++;
        while (k > 0 && h->added[h->by_byte[b][k - 1]].n < h->added[i].n) {
            h->by_byte[b][k] = h->by_byte[b][k - 1];
            k--;
        }
        h->by_byte[b][k] = (int32_t)i;
    }
    return RB_OK;
}

/* The text-space form of a model piece into dst (room for 3 * n bytes). */
static size_t text_piece(const rb_hf *h, const char *p, size_t n, char *dst) {
    size_t k = 0;
    if (h->byte_level) {
        for (size_t i = 0; i < n;) {
            size_t used = 1;
            int b = rb_bytelevel_byte(p + i, n - i, &used);
            if (b < 0) { /* not byte-level: keep the piece as it is */
                memcpy(dst, p, n);
                return n;
            }
            dst[k++] = (char)b;
            i += used;
        }
        return k;
    }
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(p + i, "\xE2\x96\x81", 3) == 0) {
            dst[k++] = ' ';
            i += 3;
        } else {
            dst[k++] = p[i++];
        }
    }
    return k;
}

static int16_t byte_piece_value(const char *p, size_t n) {
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return (int16_t)v;
}

int rb_hf_finish(rb_hf *h, rb_error *err) {
    if (!h->bpe) return rb_error_set(err, RB_EFORMAT, "%s: no model", h->what);
    int rc = build_added_index(h, err);
    if (rc) return rc;
    int32_t size = rb_bpe_size(h->bpe);
    for (size_t i = 0; i < h->n_added; i++)
        if (h->added[i].id >= size) size = h->added[i].id + 1;
    h->size = size;
    size_t bytes = 0;
    for (int32_t id = 0; id < size; id++) {
        size_t n;
        rb_bpe_piece(h->bpe, id, &n);
        bytes += n;
    }
    for (size_t i = 0; i < h->n_added; i++) bytes += h->added[i].n;
    h->text_blob = malloc(bytes + 1);
    h->text_off = malloc(((size_t)size + 1) * sizeof *h->text_off);
    h->byte_of = malloc((size_t)size * sizeof *h->byte_of);
    if (!h->text_blob || !h->text_off || !h->byte_of)
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory for %d pieces", h->what, size);
    /* an added token's content wins over the model piece of the same id */
    const char **added_of = calloc((size_t)size, sizeof *added_of);
    size_t *added_len = calloc((size_t)size, sizeof *added_len);
    if (!added_of || !added_len) {
        free(added_of), free(added_len);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory", h->what);
    }
    for (size_t i = 0; i < h->n_added; i++) {
        added_of[h->added[i].id] = h->added[i].s;
        added_len[h->added[i].id] = h->added[i].n;
    }
    size_t at = 0;
    for (int32_t id = 0; id < size; id++) {
        h->text_off[id] = at;
        h->byte_of[id] = -1;
        if (added_of[id]) {
            memcpy(h->text_blob + at, added_of[id], added_len[id]);
            at += added_len[id];
            continue;
        }
        size_t n;
        const char *p = rb_bpe_piece(h->bpe, id, &n);
        h->byte_of[id] = byte_piece_value(p, n);
        at += text_piece(h, p, n, h->text_blob + at);
    }
    h->text_off[size] = at;
    free(added_of);
    free(added_len);
    return RB_OK;
}

int32_t rb_hf_token_id(const rb_hf *h, const char *s, size_t n) {
    for (size_t i = 0; i < h->n_added; i++)
        if (h->added[i].n == n && memcmp(h->added[i].s, s, n) == 0) return h->added[i].id;
    return rb_bpe_lookup(h->bpe, s, n);
}

const char *rb_hf_piece(const rb_hf *h, int32_t id, size_t *len) {
    if (id < 0 || id >= h->size) {
        *len = 0;
        return "";
    }
    *len = h->text_off[id + 1] - h->text_off[id];
    return h->text_blob + h->text_off[id];
}

const char *rb_hf_decode(const rb_hf *h, int32_t bos, int32_t prev, int32_t id, size_t *len) {
    const char *p = rb_hf_piece(h, id, len);
    if (*len && h->byte_of[id] >= 0) {
        /* the byte itself, from a constant table of all 256 */
        static const unsigned char all_bytes[256] = {
#define B4(i) i, i + 1, i + 2, i + 3
#define B16(i) B4(i), B4(i + 4), B4(i + 8), B4(i + 12)
#define B64(i) B16(i), B16(i + 16), B16(i + 32), B16(i + 48)
            B64(0), B64(64), B64(128), B64(192)};
        *len = 1;
        return (const char *)&all_bytes[h->byte_of[id]];
    }
    if (h->strip_after_bos && bos >= 0 && prev == bos && *len && p[0] == ' ') {
        (*len)--;
        return p + 1;
    }
    return p;
}

/* ---- encoding ------------------------------------------------------------- */

/* Offset of the first byte that is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid), or n. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0) k = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) k = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) k = 3, cp = c & 0x07, min = 0x10000;
        else return i;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += k + 1;
    }
    return n;
}

typedef struct encode_work {
    char *a, *b; /* normalizer buffers */
    size_t cap_a, cap_b;
    rb_pretok_work pre;
    rb_bpe_work bpe;
} encode_work;

static int grow(char **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *q = realloc(*p, c);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Normalizes s[0..n) into w->a; returns its length in *out_n (or -1 on OOM). */
static int normalize(const rb_hf *h, encode_work *w, const char *s, size_t n, const char **out,
                     size_t *out_n) {
    if (grow(&w->a, &w->cap_a, n + 1)) return -1;
    memcpy(w->a, s, n);
    size_t len = n;
    for (int k = 0; k < h->n_norm; k++) {
        const norm_step *st = &h->norm[k];
        if (!st->replace) {
            if (!len) continue;
            if (grow(&w->b, &w->cap_b, len + st->na)) return -1;
            memcpy(w->b, st->a, st->na);
            memcpy(w->b + st->na, w->a, len);
            len += st->na;
        } else {
            size_t count = 0;
            for (size_t i = 0; i + st->na <= len;) {
                if (memcmp(w->a + i, st->a, st->na) == 0) count++, i += st->na;
                else i++;
            }
            size_t nl = len + count * st->nb - count * st->na;
            if (grow(&w->b, &w->cap_b, nl + 1)) return -1;
            size_t o = 0;
            for (size_t i = 0; i < len;) {
                if (i + st->na <= len && memcmp(w->a + i, st->a, st->na) == 0) {
                    memcpy(w->b + o, st->b, st->nb);
                    o += st->nb;
                    i += st->na;
                } else {
                    w->b[o++] = w->a[i++];
                }
            }
            len = nl;
        }
        char *t = w->a;
        size_t tc = w->cap_a;
        w->a = w->b;
        w->cap_a = w->cap_b;
        w->b = t;
        w->cap_b = tc;
    }
    *out = w->a;
    *out_n = len;
    return 0;
}

static int encode_segment(const rb_hf *h, encode_work *w, const char *s, size_t n, rb_ids *out,
                          rb_error *err) {
    if (!n) return RB_OK;
    const char *norm;
    size_t nn;
    if (normalize(h, w, s, n, &norm, &nn))
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory normalizing", h->what);
    const rb_pieces *pcs;
    int rc = rb_pretok_run(h->pre, &w->pre, norm, nn, &pcs, err);
    for (size_t i = 0; !rc && i < pcs->n; i++)
        rc = rb_bpe_encode_word(h->bpe, &w->bpe, pcs->buf + pcs->off[i], pcs->len[i], out, err);
    return rc;
}

/* The added token matching at s[0..n) (longest first), or -1. */
static int32_t match_added(const rb_hf *h, const char *s, size_t n) {
    unsigned char b = (unsigned char)s[0];
    for (size_t k = 0; k < h->n_by_byte[b]; k++) {
        const added_token *a = &h->added[h->by_byte[b][k]];
        if (a->n <= n && memcmp(a->s, s, a->n) == 0) return h->by_byte[b][k];
    }
    return -1;
}

int rb_hf_encode(const rb_hf *h, const char *text, size_t len, rb_ids *out, rb_error *err) {
    size_t bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad < len)
        return rb_error_set(err, RB_EINVAL,
                            "%s: input is not valid UTF-8 at byte %zu (0x%02X); tokenizer.json "
                            "tokenizers encode Unicode text",
                            h->what, bad, (unsigned char)text[bad]);
    encode_work w = {0};
    int rc = RB_OK;
    size_t seg = 0;
    for (size_t i = 0; !rc && i < len;) {
        int32_t k = h->n_by_byte[(unsigned char)text[i]] ? match_added(h, text + i, len - i) : -1;
        if (k < 0) {
            i++;
            continue;
        }
        rc = encode_segment(h, &w, text + seg, i - seg, out, err);
        if (!rc && rb_ids_push(out, h->added[k].id))
            rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", h->what);
        i += h->added[k].n;
        seg = i;
    }
    if (!rc) rc = encode_segment(h, &w, text + seg, len - seg, out, err);
    free(w.a);
    free(w.b);
    rb_pretok_work_free(&w.pre);
    rb_bpe_work_free(&w.bpe);
    return rc;
}
