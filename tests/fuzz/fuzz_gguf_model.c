/* libFuzzer target: a whole GGUF file through rb_model_open (header,
 * metadata → configuration, tensor binding by name with shape checks,
 * dequantization, NaN checks) and through rb_tokenizer_open (the embedded
 * vocabulary).  The input is the file image, handed over as a memfd.  A
 * refusal must say why; a model that opens must have a valid configuration. */
#include <stdlib.h>
#include <unistd.h>

#include "core/model_open.h"
#include "core/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    rb_model *m = NULL;
    rb_model_info info;
    rb_error err = {0};
    if (rb_model_open(path, 0, &m, &info, &err) == RB_OK) {
        if (rb_config_validate(&m->cfg, "fuzz", NULL) != RB_OK) abort();
        rb_model_free(m);
    } else if (!err.msg[0]) {
        abort();
    }
    rb_tokenizer *t = NULL;
    rb_error terr = {0};
    if (rb_tokenizer_open(path, &t, &terr) == RB_OK)
        rb_tokenizer_free(t);
    else if (!terr.msg[0])
        abort();
    close(fd);
    return 0;
}
