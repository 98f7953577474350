/* One JSON document from a whole text: a config.json, a rotation
 * description.  json-c's tokener parses a prefix and stops; this checks the
 * rest, so that "{...} garbage" or a truncated file is an error naming the
 * file, never a silently half-read document. */
#ifndef RB_JSON_TEXT_H
#define RB_JSON_TEXT_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"

/* Parses text[0..len) (len <= max_len bytes; text need not be
 * NUL-terminated) as one JSON object followed only by white space.  On
 * success *out owns the object (json_object_put it).  Errors (RB_EFORMAT,
 * RB_ENOMEM) name `what` (a path) and `kind` ("a config.json"): too large,
 * not valid JSON (with json-c's reason; a truncated text is "unexpected end
 * of data"), text after the object (with its byte offset), not an object. */
int rb_json_parse_object(const char *text, size_t len, size_t max_len, const char *what,
                         const char *kind, json_object **out, rb_error *err);

/* The same with `padding` the bytes allowed after the object instead of
 * white space (a safetensors header: only ' '); the error for another byte
 * names its offset. */
int rb_json_parse_object_padded(const char *text, size_t len, size_t max_len, const char *what,
                                const char *kind, const char *padding, json_object **out,
                                rb_error *err);

#endif
