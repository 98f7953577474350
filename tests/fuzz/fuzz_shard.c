/* libFuzzer target: --shard K/N (rb_shard_parse): a parsed shard is in range
 * and its results file name is built; a refused one has a message. */
#include <stdlib.h>
#include <string.h>

#include "eval/sweep_shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    rb_shard s;
    rb_error err = {0};
    if (rb_shard_parse(text, &s, &err) == RB_OK) {
        if (s.n < 1 || s.k >= s.n || s.n > RB_SHARD_MAX) abort();
        if (rb_shard_of_key(text, s.n) >= s.n) abort();
        free(rb_shard_results_path("results/x.jsonl", &s));
    } else if (!err.msg[0]) {
        abort();
    }
    free(text);
    return 0;
}
