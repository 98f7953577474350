/* The shared body of the zero-shot task targets (fuzz_task_<name>.c): loads
 * the input as task `name` with rb_zs_task_load and checks the items it
 * returns (gold inside the choices, choices present).  The input is the
 * task file up to its first NUL byte; for piqa, what follows the NUL is the
 * X-labels.lst file beside it.  Files go to a temporary directory, because
 * the labels path is derived from the task file's path. */
#ifndef RB_FUZZ_TASK_H
#define RB_FUZZ_TASK_H

#include <stddef.h>
#include <stdint.h>

int fuzz_task(const char *name, const uint8_t *data, size_t size);

#endif
