/* Python json.dumps output for json-c values (eval/pyjson.h). */
#include "eval/pyjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *rb_pyjson_float(double v, char buf[32]) {
    if (isnan(v)) return strcpy(buf, "NaN");
    if (isinf(v)) return strcpy(buf, v > 0 ? "Infinity" : "-Infinity");
    /* shortest "%.*e" that reads back v: its digits and decimal exponent */
    char e[40];
    for (int p = 0; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p, fabs(v));
        if (strtod(e, NULL) == fabs(v)) break;
    }
    char digits[24];
    int k = 0;
    const char *s = e;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[k++] = *s;
    int exp10 = atoi(s + 1);
    while (k > 1 && digits[k - 1] == '0') k--; /* "%.*e" keeps no useful trailing zeros */
    digits[k] = 0;
    char *o = buf;
    if (signbit(v)) *o++ = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            o += sprintf(o, "0.");
            for (int i = 0; i < -exp10 - 1; i++) *o++ = '0';
            o += sprintf(o, "%s", digits);
        } else {
            for (int i = 0; i <= exp10; i++) *o++ = i < k ? digits[i] : '0';
            *o++ = '.';
            if (k > exp10 + 1)
                o += sprintf(o, "%s", digits + exp10 + 1);
            else
                *o++ = '0';
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (k > 1) o += sprintf(o, ".%s", digits + 1);
        sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    return buf;
}

void rb_pyjson_string(const char *s, size_t n, rb_buf *out) {
    rb_buf_append(out, "\"", 1);
    size_t run = 0; /* bytes copied as they are, pending */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        rb_buf_append(out, s + i - run, run);
        run = 0;
        rb_buf_puts(out, esc);
    }
    rb_buf_append(out, s + n - run, run);
    rb_buf_append(out, "\"", 1);
}

static void newline(rb_buf *out, int indent, int level) {
    rb_buf_append(out, "\n", 1);
    for (int i = 0; i < indent * level; i++) rb_buf_append(out, " ", 1);
}

static void dump(json_object *o, int indent, int level, rb_buf *out) {
    char num[40];
    switch (json_object_get_type(o)) {
    case json_type_null: rb_buf_puts(out, "null"); break;
    case json_type_boolean: rb_buf_puts(out, json_object_get_boolean(o) ? "true" : "false"); break;
    case json_type_double: rb_buf_puts(out, rb_pyjson_float(json_object_get_double(o), num)); break;
    case json_type_int:
        if (json_object_get_int64(o) == INT64_MAX)
            snprintf(num, sizeof num, "%" PRIu64, json_object_get_uint64(o));
        else
            snprintf(num, sizeof num, "%" PRId64, json_object_get_int64(o));
        rb_buf_puts(out, num);
        break;
    case json_type_string:
        rb_pyjson_string(json_object_get_string(o), (size_t)json_object_get_string_len(o), out);
        break;
    case json_type_array: {
        size_t n = json_object_array_length(o);
        if (!n) {
            rb_buf_puts(out, "[]");
            break;
        }
        rb_buf_append(out, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) rb_buf_puts(out, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline(out, indent, level + 1);
            dump(json_object_array_get_idx(o, i), indent, level + 1, out);
        }
        if (indent >= 0) newline(out, indent, level);
        rb_buf_append(out, "]", 1);
        break;
    }
    case json_type_object: {
        if (!json_object_object_length(o)) {
            rb_buf_puts(out, "{}");
            break;
        }
        rb_buf_append(out, "{", 1);
        int first = 1;
        json_object_object_foreach(o, key, val) {
            if (!first) rb_buf_puts(out, indent >= 0 ? "," : ", ");
            first = 0;
            if (indent >= 0) newline(out, indent, level + 1);
            rb_pyjson_string(key, strlen(key), out);
            rb_buf_puts(out, ": ");
            dump(val, indent, level + 1, out);
        }
        if (indent >= 0) newline(out, indent, level);
        rb_buf_append(out, "}", 1);
        break;
    }
    }
}

void rb_pyjson_dump(json_object *o, int indent, rb_buf *out) { dump(o, indent, 0, out); }
