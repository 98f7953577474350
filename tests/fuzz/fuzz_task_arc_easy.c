/* libFuzzer target: the arc_easy task loader (datasets/tasks.c; see fuzz_task.h). */
#include "tests/fuzz/fuzz_task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_task("arc_easy", data, size);
}
