/* libFuzzer target: a whole Hugging Face checkpoint directory through
 * rb_model_open (config.json, a single or sharded safetensors checkpoint
 * with its index, tensor binding, q/k un-permutation, dtype conversion, NaN
 * checks) and through rb_tokenizer_open (tokenizer.json with
 * tokenizer_config.json).  The input is a list of files, each entry
 *   1 byte   which file: the byte modulo the number of names below
 *   4 bytes  length L, little-endian (cut to what the input has left)
 *   L bytes  the file's contents
 * written into a per-process temporary directory (files the input does not
 * name are removed); a later entry for the same file replaces it.  A refusal
 * must say why; a model that opens must have a valid configuration. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_util.h"

static const char *const names[] = {
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
};
enum { N_NAMES = sizeof names / sizeof names[0] };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *part[N_NAMES] = {0};
    size_t len[N_NAMES] = {0};
    int present[N_NAMES] = {0};
    for (size_t at = 0; at + 5 <= size;) {
        int which = data[at] % N_NAMES;
        size_t n = (size_t)data[at + 1] | (size_t)data[at + 2] << 8 | (size_t)data[at + 3] << 16 |
                   (size_t)data[at + 4] << 24;
        at += 5;
        if (n > size - at) n = size - at;
        part[which] = data + at;
        len[which] = n;
        present[which] = 1;
        at += n;
    }
    char path[512], dir[512] = "";
    for (int i = 0; i < N_NAMES; i++) {
        fuzz_temp_file(names[i], present[i] ? part[i] : (const uint8_t *)"", len[i], path,
                       sizeof path);
        if (!present[i]) unlink(path);
        if (!dir[0]) {
            strcpy(dir, path);
            *strrchr(dir, '/') = 0;
        }
    }
    fuzz_open_model_and_tokenizer(dir);
    return 0;
}
