/* libFuzzer target: a whole GGUF file through rb_model_open (header,
 * metadata → configuration, tensor binding by name with shape checks,
 * dequantization, NaN checks) and through rb_tokenizer_open (the embedded
 * vocabulary).  The input is the file image, handed over as a memfd.  A
 * refusal must say why; a model that opens must have a valid configuration. */
#include <stdlib.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfd(data, size, path, sizeof path);
    fuzz_open_model_and_tokenizer(path);
    close(fd);
    return 0;
}
