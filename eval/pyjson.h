/* JSON text exactly as Python's json.dumps(obj, ensure_ascii=False) writes
 * it, for the JSON value o (json-c): lm-evaluation-harness hashes and writes
 * its per-sample output with json.dumps, so rotbench's bytes (and their
 * sha256) must be the same (eval/lmeval_samples.h).
 *
 *   indent < 0: json.dumps(o, ensure_ascii=False): separators ", " and ": "
 *   indent ≥ 0: json.dumps(o, indent=indent, ensure_ascii=False): one member
 *               or element a line, indented by `indent` spaces per level,
 *               separators "," (line end) and ": "; empty containers "{}"
 *               and "[]".
 * Values:
 *   strings   UTF-8 as they are, escaping only '"' '\\' and the control
 *             characters U+0000..U+001F (\b \f \n \r \t, the others as
 *             \u00xx with lowercase hex digits), as Python's encoder does
 *             with ensure_ascii=False
 *   numbers   integers in decimal; doubles as Python's repr(float): the
 *             shortest digits that read back the same double, fixed
 *             notation with at least one decimal ("1.0", "0.0001") for
 *             decimal exponents -4..15, else "1e-05", "1.5e+16"; NaN,
 *             Infinity, -Infinity (json.dumps' allow_nan default)
 *   true, false, null; object members in their order.
 * Not modelled: Python ints past int64, lone UTF-16 surrogates (Python
 * would refuse to encode them to UTF-8), duplicate keys. */
#ifndef RB_PYJSON_H
#define RB_PYJSON_H

#include <json-c/json.h>

#include "base/buf.h"

/* Appends the text of o to out (NULL o: "null"). */
void rb_pyjson_dump(json_object *o, int indent, rb_buf *out);

/* Appends a JSON string literal of s[0..n) (the escaping above). */
void rb_pyjson_string(const char *s, size_t n, rb_buf *out);

/* Python's repr(v) for a finite double into buf[32]; NaN, inf as json.dumps
 * writes them ("NaN", "Infinity", "-Infinity").  Returns buf. */
char *rb_pyjson_float(double v, char buf[32]);

#endif
