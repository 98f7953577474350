/* Pre-tokenizer steps over spans (see pretok.h).  Each step reads the pieces
 * of one rb_pieces and writes new ones into the other (copying the bytes, so
 * a step may change them: a prefix space, the byte-level alphabet). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/pretok.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char RB_REGEX_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char RB_REGEX_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum { STEP_SPLIT, STEP_BYTELEVEL, MAX_STEPS = 16 };

typedef struct step {
    int kind;
    pcre2_code *re; /* split regex, or ByteLevel's GPT-2 regex (NULL: none) */
    rb_split_behavior behavior;
    int add_prefix_space;
} step;

struct rb_pretok {
    step steps[MAX_STEPS];
    int n;
    uint32_t max_ovector; /* the largest capture count + 1 over the regexes */
};

rb_pretok *rb_pretok_new(void) { return calloc(1, sizeof(rb_pretok)); }

void rb_pretok_free(rb_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->steps[i].re);
    free(p);
}

int rb_pretok_n_steps(const rb_pretok *p) { return p->n; }

static int compile(rb_pretok *p, const char *pattern, size_t len, const char *what,
                   pcre2_code **out, rb_error *err) {
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &code, &at,
                                   NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return rb_error_set(err, RB_EFORMAT, "%s: regex does not compile at offset %zu: %s",
                            what, (size_t)at, (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter if JIT is unavailable */
    uint32_t caps = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &caps);
    if (caps + 1 > p->max_ovector) p->max_ovector = caps + 1;
    *out = re;
    return RB_OK;
}

static int add_step(rb_pretok *p, const char *what, rb_error *err) {
    if (p->n == MAX_STEPS)
        return rb_error_set(err, RB_EUNSUPPORTED, "%s: more than %d pre-tokenizer steps", what,
                            MAX_STEPS);
    return RB_OK;
}

int rb_pretok_add_split(rb_pretok *p, const char *pattern, size_t len, rb_split_behavior b,
                        const char *what, rb_error *err) {
    int rc = add_step(p, what, err);
    step s = {STEP_SPLIT, NULL, b, 0};
    if (!rc) rc = compile(p, pattern, len, what, &s.re, err);
    if (!rc) p->steps[p->n++] = s;
    return rc;
}

int rb_pretok_add_bytelevel(rb_pretok *p, int add_prefix_space, int use_regex, const char *what,
                            rb_error *err) {
    int rc = add_step(p, what, err);
    step s = {STEP_BYTELEVEL, NULL, RB_SPLIT_ISOLATED, add_prefix_space};
    if (!rc && use_regex) rc = compile(p, RB_REGEX_GPT2, strlen(RB_REGEX_GPT2), what, &s.re, err);
    if (!rc) p->steps[p->n++] = s;
    return rc;
}

/* ---- byte-level alphabet -------------------------------------------------- */

static int printable(unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static unsigned codepoint_of(unsigned char b) {
    if (printable(b)) return b;
    unsigned n = 0;
    for (unsigned c = 0; c < b; c++) n += !printable(c);
    return 256 + n;
}

int rb_bytelevel_char(unsigned char b, char dst[2]) {
    unsigned cp = codepoint_of(b);
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    dst[0] = (char)(0xC0 | cp >> 6);
    dst[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int rb_bytelevel_byte(const char *s, size_t n, size_t *used) {
    if (!n) return -1;
    unsigned char c = (unsigned char)s[0];
    unsigned cp;
    if (c < 0x80) {
        cp = c;
        *used = 1;
    } else if ((c & 0xE0) == 0xC0 && n >= 2 && ((unsigned char)s[1] & 0xC0) == 0x80) {
        cp = (unsigned)(c & 0x1F) << 6 | ((unsigned char)s[1] & 0x3F);
        *used = 2;
    } else {
        return -1;
    }
    if (cp < 256) return printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    for (unsigned b = 0; b < 256; b++)
        if (!printable(b) && codepoint_of((unsigned char)b) == cp) return (int)b;
    return -1;
}

/* ---- piece lists ---------------------------------------------------------- */

static int reserve_buf(rb_pieces *p, size_t more) {
    if (p->n_buf + more <= p->cap_buf) return 0;
    size_t cap = p->cap_buf ? p->cap_buf : 4096;
    while (cap < p->n_buf + more) cap *= 2;
    char *b = realloc(p->buf, cap);
    if (!b) return -1;
    p->buf = b;
    p->cap_buf = cap;
    return 0;
}

/* Appends a piece whose bytes are already at buf[off .. off + len). */
static int push_span(rb_pieces *p, size_t off, size_t len) {
    if (!len) return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 256;
        size_t *o = realloc(p->off, cap * sizeof *o);
        if (!o) return -1;
        p->off = o;
        size_t *l = realloc(p->len, cap * sizeof *l);
        if (!l) return -1;
        p->len = l;
        p->cap = cap;
    }
    p->off[p->n] = off;
    p->len[p->n++] = len;
    return 0;
}

static int push_copy(rb_pieces *p, const char *s, size_t len) {
    if (!len) return 0;
    if (reserve_buf(p, len)) return -1;
    memcpy(p->buf + p->n_buf, s, len);
    size_t off = p->n_buf;
    p->n_buf += len;
    return push_span(p, off, len);
}

static void clear(rb_pieces *p) { p->n = p->n_buf = 0; }

void rb_pretok_work_free(rb_pretok_work *w) {
    rb_pieces *ps[2] = {&w->a, &w->b};
    for (int i = 0; i < 2; i++) {
        free(ps[i]->buf);
        free(ps[i]->off);
        free(ps[i]->len);
    }
    pcre2_match_data_free(w->match_data);
    memset(w, 0, sizeof *w);
}

static size_t utf8_step(const char *s, size_t left) {
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return n > left ? left : n;
}

/* Splits s[0..n) by re with the given behavior, appending pieces to out. */
static int split_piece(const step *st, pcre2_match_data *md, const char *s, size_t n,
                       rb_pieces *out, rb_error *err) {
    size_t pos = 0, cur = 0; /* cur: start of the pending (unemitted) text */
    int prev_match = 0;      /* Contiguous: the last piece out is a match ending at cur */
    while (pos <= n) {
        int rc = pcre2_match(st->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its state on the heap */
            rc = pcre2_match(st->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                             NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return rb_error_set(err, RB_EINVAL, "pre-tokenizer regex failed at byte %zu: %s", pos,
                                (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match: not a delimiter, move on one character */
            if (ms >= n) break;
            pos = ms + utf8_step(s + ms, n - ms);
            continue;
        }
        int e = 0;
        switch (st->behavior) {
        case RB_SPLIT_ISOLATED:
            e = push_copy(out, s + cur, ms - cur) || push_copy(out, s + ms, me - ms);
            cur = me;
            break;
        case RB_SPLIT_REMOVED:
            e = push_copy(out, s + cur, ms - cur);
            cur = me;
            break;
        case RB_SPLIT_MERGED_WITH_PREVIOUS:
            e = push_copy(out, s + cur, me - cur);
            cur = me;
            break;
        case RB_SPLIT_MERGED_WITH_NEXT:
            e = push_copy(out, s + cur, ms - cur);
            cur = ms;
            break;
        case RB_SPLIT_CONTIGUOUS:
            /* a match right after a match joins it; the last piece out is
             * then that match, its bytes at the end of out->buf */
            if (prev_match && ms == cur) {
                e = reserve_buf(out, me - ms);
                if (!e) {
                    memcpy(out->buf + out->n_buf, s + ms, me - ms);
                    out->n_buf += me - ms;
                    out->len[out->n - 1] += me - ms;
                }
            } else {
                e = push_copy(out, s + cur, ms - cur) || push_copy(out, s + ms, me - ms);
            }
            prev_match = 1;
            cur = me;
            break;
        }
        if (e) return rb_error_set(err, RB_ENOMEM, "out of memory pre-tokenizing");
        pos = me;
    }
    if (push_copy(out, s + cur, n - cur))
        return rb_error_set(err, RB_ENOMEM, "out of memory pre-tokenizing");
    return RB_OK;
}

/* Appends s[0..n) written in the byte-level alphabet as one piece. */
static int push_bytelevel(rb_pieces *out, const char *s, size_t n) {
    if (!n) return 0;
    if (reserve_buf(out, 2 * n)) return -1;
    size_t off = out->n_buf;
    for (size_t i = 0; i < n; i++)
        out->n_buf += (size_t)rb_bytelevel_char((unsigned char)s[i], out->buf + out->n_buf);
    return push_span(out, off, out->n_buf - off);
}

static int bytelevel_piece(const step *st, pcre2_match_data *md, const char *s, size_t n,
                           rb_pieces *tmp, rb_pieces *out, rb_error *err) {
    clear(tmp);
    if (st->add_prefix_space && n && s[0] != ' ') {
        if (reserve_buf(tmp, n + 1)) return rb_error_set(err, RB_ENOMEM, "out of memory");
        tmp->buf[0] = ' ';
        memcpy(tmp->buf + 1, s, n);
        tmp->n_buf = n + 1;
        s = tmp->buf;
        n = n + 1;
    }
    rb_pieces parts = {0};
    const char *src = s;
    size_t nparts = 1, one_off = 0, one_len = n;
    if (st->re) {
        if (split_piece(st, md, s, n, &parts, err)) {
            free(parts.buf), free(parts.off), free(parts.len);
            return err ? err->status : RB_EINVAL;
        }
        src = parts.buf;
        nparts = parts.n;
    }
    int e = 0;
    for (size_t i = 0; !e && i < nparts; i++) {
        size_t o = st->re ? parts.off[i] : one_off, l = st->re ? parts.len[i] : one_len;
        e = push_bytelevel(out, src + o, l);
    }
    free(parts.buf), free(parts.off), free(parts.len);
    return e ? rb_error_set(err, RB_ENOMEM, "out of memory pre-tokenizing") : RB_OK;
}

int rb_pretok_run(const rb_pretok *p, rb_pretok_work *w, const char *text, size_t len,
                  const rb_pieces **out, rb_error *err) {
    if (p->n && !w->match_data) {
        w->match_data = pcre2_match_data_create(p->max_ovector ? p->max_ovector : 1, NULL);
        if (!w->match_data) return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    rb_pieces *cur = &w->a, *next = &w->b;
    clear(cur);
    if (push_copy(cur, text, len)) return rb_error_set(err, RB_ENOMEM, "out of memory");
    rb_pieces tmp = {0};
    for (int k = 0; k < p->n; k++) {
        const step *st = &p->steps[k];
        clear(next);
        for (size_t i = 0; i < cur->n; i++) {
            const char *s = cur->buf + cur->off[i];
            int rc = st->kind == STEP_SPLIT
                         ? split_piece(st, w->match_data, s, cur->len[i], next, err)
                         : bytelevel_piece(st, w->match_data, s, cur->len[i], &tmp, next, err);
            if (rc) {
                free(tmp.buf), free(tmp.off), free(tmp.len);
                return rc;
            }
        }
        rb_pieces *t = cur;
        cur = next;
        next = t;
    }
    free(tmp.buf), free(tmp.off), free(tmp.len);
    *out = cur;
    return RB_OK;
}
