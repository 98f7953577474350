#include "tests/fuzz/fuzz_task.h"

#include <stdlib.h>

#include "datasets/tasks.h"
#include "tests/fuzz/fuzz_util.h"

int fuzz_task(const char *name, const uint8_t *data, size_t size) {
    size_t first, second;
    fuzz_split(data, size, &first, &second);
    char path[512], labels[512];
    fuzz_temp_file("task.jsonl", data, first, path, sizeof path);
    fuzz_temp_file("task-labels.lst", data + second, size - second, labels, sizeof labels);
    rb_zs_task t;
    rb_error err = {0};
    if (rb_zs_task_load(name, path, &t, &err) != RB_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    for (size_t i = 0; i < t.n_items; i++) {
        const rb_zs_item *it = &t.items[i];
        if (it->n_choices < 1 || it->n_choices > RB_ZS_MAX_CHOICES || it->gold < 0 ||
            it->gold >= it->n_choices || !it->context)
            abort();
        for (int c = 0; c < it->n_choices; c++)
            if (!it->choices[c]) abort();
    }
    rb_zs_task_free(&t);
    return 0;
}
