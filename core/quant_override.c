#include "core/quant_override.h"
#include "core/quant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The model's names, then the Hugging Face ones, by rb_linear_id. */
static const char *const hf_names[RB_LINEAR_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                      "gate_proj", "down_proj", "up_proj"};

static int linear_id(const char *s, size_t n) {
    for (int id = 0; id < RB_LINEAR_COUNT; id++) {
        const char *a = rb_linear_name((rb_linear_id)id), *b = hf_names[id];
        if ((strlen(a) == n && !strncmp(s, a, n)) || (strlen(b) == n && !strncmp(s, b, n)))
            return id;
    }
    return -1;
}

/* A decimal integer filling s[0..n) exactly, in [lo, hi]. */
static int parse_int(const char *s, size_t n, long lo, long hi, int *out) {
    char tmp[24];
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    long v = strtol(tmp, &end, 10);
    if (*end || errno || v < lo || v > hi || tmp[0] == '+' || tmp[0] == ' ') return -1;
    *out = (int)v;
    return 0;
}

/* "A" or "A..B", indices in ±2^20. */
static int parse_layers(const char *s, size_t n, rb_quant_override *r) {
    const char *p = s, *end = s + n;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (r->n_layers == RB_QUANT_MAX_OVERRIDE_LAYERS) return -2;
        int lo, hi;
        const char *dots = NULL;
        for (const char *q = p; q + 1 < e; q++)
            if (q[0] == '.' && q[1] == '.') { dots = q; break; }
        if (dots) {
            if (parse_int(p, (size_t)(dots - p), -(1L << 20), 1L << 20, &lo) ||
                parse_int(dots + 2, (size_t)(e - dots - 2), -(1L << 20), 1L << 20, &hi))
                return -1;
        } else {
            if (parse_int(p, (size_t)(e - p), -(1L << 20), 1L << 20, &lo)) return -1;
            hi = lo;
        }
        r->layer_lo[r->n_layers] = lo;
        r->layer_hi[r->n_layers] = hi;
        r->n_layers++;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

static int item_is(const char *s, size_t n, const char *key, const char **value, size_t *vn) {
    size_t k = strlen(key);
    if (n <= k || strncmp(s, key, k) || s[k] != '=') return 0;
    *value = s + k + 1;
    *vn = n - k - 1;
    return 1;
}

/* One item of a rule; returns a static description of the problem, or NULL. */
static const char *parse_item(const char *s, size_t n, rb_quant_override *r, int *settings) {
    const char *v;
    size_t vn;
    int id = linear_id(s, n), x;
    if (id >= 0) {
        if (r->linears & (1u << id)) return "a linear named twice";
        r->linears |= 1u << id;
        return NULL;
    }
    if (item_is(s, n, "layer", &v, &vn)) {
        if (r->n_layers) return "layer= given twice";
        int rc = parse_layers(v, vn, r);
        return rc == -2 ? "too many layer entries (16 at most)"
               : rc    ? "layer= expects indices or ranges A..B, comma-separated"
                       : NULL;
    }
    (*settings)++;
    if (n == 4 && !strncmp(s, "skip", 4)) {
        if (r->set_bits) return "bits set twice";
        r->set_bits = 1;
        r->bits = RB_QUANT_OFF;
        return NULL;
    }
    if (item_is(s, n, "bits", &v, &vn)) {
        if (r->set_bits) return "bits set twice";
        if (parse_int(v, vn, 2, 16, &x) || (x > 8 && x != 16)) return "bits= expects 2..8 or 16";
        r->set_bits = 1;
        r->bits = x;
        return NULL;
    }
    if (item_is(s, n, "group", &v, &vn)) {
        if (r->set_gran) return "granularity set twice";
        if (parse_int(v, vn, 1, 1L << 20, &x)) return "group= expects a group size ≥ 1";
        r->set_gran = 1;
        r->gran = RB_GRAN_GROUP;
        r->group = x;
        return NULL;
    }
    if (item_is(s, n, "gran", &v, &vn)) {
        if (r->set_gran) return "granularity set twice";
        if (vn == 6 && !strncmp(v, "tensor", 6)) r->gran = RB_GRAN_TENSOR;
        else if (vn == 7 && !strncmp(v, "channel", 7)) r->gran = RB_GRAN_ROW;
        else return "gran= expects tensor or channel (groups: group=G)";
        r->set_gran = 1;
        return NULL;
    }
    if (item_is(s, n, "asym", &v, &vn)) {
        if (r->set_asym) return "asym set twice";
        if (vn != 1 || (v[0] != '0' && v[0] != '1')) return "asym= expects 0 or 1";
        r->set_asym = 1;
        r->asym = v[0] == '1';
        return NULL;
    }
    if (item_is(s, n, "clip", &v, &vn)) {
        if (r->set_clip) return "clip set twice";
        char tmp[32];
        if (vn >= sizeof tmp) return "clip= expects a ratio in (0, 1] or mse";
        memcpy(tmp, v, vn);
        tmp[vn] = 0;
        if (rb_quant_clip_value(tmp, &r->clip)) return "clip= expects a ratio in (0, 1] or mse";
        r->set_clip = 1;
        return NULL;
    }
    return "unknown item (a linear name, layer=, bits=, gran=, group=, asym=, clip= or skip)";
}

int rb_quant_overrides_parse(const char *text, rb_quant_overrides *o, const char *flag,
                             rb_error *err) {
    memset(o, 0, sizeof *o);
    if (!*text) return RB_OK;
    const char *p = text;
    for (int k = 0;; k++) {
        const char *semi = strchr(p, ';');
        size_t n = semi ? (size_t)(semi - p) : strlen(p);
        if (o->n == RB_QUANT_MAX_OVERRIDES)
            return rb_error_set(err, RB_EINVAL, "%s: more than %d rules", flag,
                                RB_QUANT_MAX_OVERRIDES);
        rb_quant_override *r = &o->rule[o->n];
        int settings = 0;
        const char *q = p, *end = p + n;
        while (q <= end) {
            /* items end at ':', except inside layer= (which has no ':') */
            const char *colon = memchr(q, ':', (size_t)(end - q));
            const char *e = colon ? colon : end;
            const char *why = e == q ? "empty item" : parse_item(q, (size_t)(e - q), r, &settings);
            if (why)
                return rb_error_set(err, RB_EINVAL, "%s: rule %d '%.*s': %s at '%.*s'", flag,
                                    k + 1, (int)n, p, why, (int)(e - q), q);
            if (!colon) break;
            q = colon + 1;
        }
        if (!settings)
            return rb_error_set(err, RB_EINVAL,
                                "%s: rule %d '%.*s' sets nothing (bits=, gran=, group=, asym=, "
                                "clip= or skip)",
                                flag, k + 1, (int)n, p);
        o->n++;
        if (!semi) break;
        p = semi + 1;
    }
    return RB_OK;
}

static int resolve(int i, int n_layers) { return i < 0 ? n_layers + i : i; }

int rb_quant_override_selects(const rb_quant_override *r, int l, int n_layers, rb_linear_id id) {
    if (r->linears && !(r->linears & (1u << id))) return 0;
    if (!r->n_layers) return 1;
    for (int i = 0; i < r->n_layers; i++)
        if (l >= resolve(r->layer_lo[i], n_layers) && l <= resolve(r->layer_hi[i], n_layers))
            return 1;
    return 0;
}

/* The settings of r over s. */
static void apply_rule(const rb_quant_override *r, rb_quant_spec *s) {
    if (r->set_bits) s->bits = r->bits;
    if (r->set_gran) s->gran = r->gran, s->group = r->group;
    if (r->set_asym) s->asym = r->asym;
    if (r->set_clip) s->clip = r->clip;
}

rb_quant_spec rb_quant_overrides_spec(const rb_quant_overrides *o, const rb_quant_spec *base,
                                      int l, int n_layers, rb_linear_id id) {
    return rb_quant_overrides_spec_any(o, base, l, n_layers, &id, 1);
}

rb_quant_spec rb_quant_overrides_spec_any(const rb_quant_overrides *o, const rb_quant_spec *base,
                                          int l, int n_layers, const rb_linear_id *ids,
                                          int n_ids) {
    rb_quant_spec s = *base;
    for (int i = 0; o && i < o->n; i++) {
        int hit = 0;
        for (int k = 0; k < n_ids; k++)
            hit |= rb_quant_override_selects(&o->rule[i], l, n_layers, ids[k]);
        if (hit) apply_rule(&o->rule[i], &s);
    }
    return s;
}

int rb_quant_overrides_tensor(const rb_quant_overrides *o) {
    for (int i = 0; o && i < o->n; i++)
        if (o->rule[i].set_gran && o->rule[i].gran == RB_GRAN_TENSOR) return 1;
    return 0;
}

int rb_quant_overrides_quantize(const rb_quant_overrides *o) {
    for (int i = 0; o && i < o->n; i++)
        if (o->rule[i].set_bits && o->rule[i].bits < RB_QUANT_OFF) return 1;
    return 0;
}

void rb_quant_overrides_text(const rb_quant_overrides *o, char *buf, size_t cap) {
    size_t k = 0;
    if (cap) buf[0] = 0;
#define PUT(...)                                                                \
    do {                                                                        \
        int w_ = snprintf(buf + k, k < cap ? cap - k : 0, __VA_ARGS__);         \
        if (w_ > 0) k += (size_t)w_;                                            \
    } while (0)
    for (int i = 0; i < o->n; i++) {
        const rb_quant_override *r = &o->rule[i];
        const char *sep = "";
        if (i) PUT(";");
        for (int id = 0; id < RB_LINEAR_COUNT; id++)
            if (r->linears & (1u << id)) {
                PUT("%s%s", sep, rb_linear_name((rb_linear_id)id));
                sep = ":";
            }
        if (r->n_layers) {
            PUT("%slayer=", sep);
            sep = ":";
            for (int j = 0; j < r->n_layers; j++) {
                if (r->layer_lo[j] == r->layer_hi[j]) PUT("%s%d", j ? "," : "", r->layer_lo[j]);
                else PUT("%s%d..%d", j ? "," : "", r->layer_lo[j], r->layer_hi[j]);
            }
        }
        char item[4][32] = {"", "", "", ""};
        if (r->set_bits && r->bits == RB_QUANT_OFF) snprintf(item[0], 32, "skip");
        else if (r->set_bits) snprintf(item[0], 32, "bits=%d", r->bits);
        if (r->set_gran && r->gran == RB_GRAN_GROUP) snprintf(item[1], 32, "group=%d", r->group);
        else if (r->set_gran)
            snprintf(item[1], 32, "gran=%s", r->gran == RB_GRAN_TENSOR ? "tensor" : "channel");
        if (r->set_asym) snprintf(item[2], 32, "asym=%d", r->asym);
        if (r->set_clip && r->clip == RB_CLIP_MSE) snprintf(item[3], 32, "clip=mse");
        else if (r->set_clip) snprintf(item[3], 32, "clip=%.9g", (double)r->clip);
        for (int j = 0; j < 4; j++)
            if (item[j][0]) {
                PUT("%s%s", sep, item[j]);
                sep = ":";
            }
    }
#undef PUT
    if (cap && k >= cap) buf[cap - 1] = 0;
}
