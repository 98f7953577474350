/* One JSON object from a whole text (base/json_text.h). */
#include "base/json_text.h"

#include <string.h>

int rb_json_parse_object(const char *text, size_t len, size_t max_len, const char *what,
                         const char *kind, json_object **out, rb_error *err) {
    return rb_json_parse_object_padded(text, len, max_len, what, kind, " \t\r\n", out, err);
}

int rb_json_parse_object_padded(const char *text, size_t len, size_t max_len, const char *what,
                                const char *kind, const char *padding, json_object **out,
                                rb_error *err) {
    *out = NULL;
    if (len > max_len || len > (size_t)INT32_MAX)
        return rb_error_set(err, RB_EFORMAT, "%s: %zu bytes is too large for %s", what, len, kind);
    json_tokener *tok = json_tokener_new();
    if (!tok) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", what);
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    int rc = RB_OK;
    if (!root || jerr != json_tokener_success)
        rc = rb_error_set(err, RB_EFORMAT, "%s: %s is not valid JSON: %s", what, kind,
                          json_tokener_error_desc(jerr == json_tokener_continue
                                                      ? json_tokener_error_parse_eof
                                                      : jerr));
    /* json-c's parse end may lie past white space after the object: the
     * object ends after its last non-space byte */
    while (!rc && used > 0 && text[used - 1] && strchr(" \t\r\n", text[used - 1])) used--;
    for (size_t i = used; !rc && i < len; i++)
        if (!text[i] || !strchr(padding, text[i]))
            rc = rb_error_set(err, RB_EFORMAT,
                              "%s: text after the JSON object of %s at byte %zu",
                              what, kind, i);
    if (!rc && !json_object_is_type(root, json_type_object))
        rc = rb_error_set(err, RB_EFORMAT, "%s: %s is not a JSON object", what, kind);
    if (rc) {
        json_object_put(root);
        return rc;
    }
    *out = root;
    return RB_OK;
}
