/* libFuzzer target: the Hugging Face config.json parser (rb_hf_config_parse).
 *
 * The input is the file's text (not NUL-terminated).  On success the
 * configuration must pass rb_config_validate again.  Self-contained. */
#include <stdint.h>
#include <stdlib.h>

#include "core/hf_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rb_hf_config h;
    rb_error err = {0};
    int rc = rb_hf_config_parse((const char *)data, size, "fuzz/config.json", &h, &err);
    if (rc == RB_OK) {
        if (rb_config_validate(&h.cfg, "fuzz", NULL) != RB_OK) abort();
    } else if (err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
