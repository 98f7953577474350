/* The method registry: every pipeline stage rotbench knows, in one table.
 * To add a method: write methods/<name>.c defining `const rb_method
 * rb_method_<name>`, declare it below, list it in `methods`, and add the file
 * to methods/meson.build. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "methods/method.h"

extern const rb_method rb_method_rtn, rb_method_smoothquant, rb_method_outliers,
    rb_method_gptq, rb_method_quarot, rb_method_resq, rb_method_spinquant;

static const rb_method *const methods[] = {
    &rb_method_outliers, &rb_method_smoothquant, &rb_method_quarot, &rb_method_spinquant,
    &rb_method_resq,
    &rb_method_rtn, &rb_method_gptq, NULL};

const rb_method *const *rb_method_all(void) { return methods; }

const rb_method *rb_method_find(const char *name) {
    for (size_t i = 0; methods[i]; i++)
        if (!strcmp(methods[i]->name, name)) return methods[i];
    return NULL;
}

const char *rb_method_names(char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; methods[i] && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", methods[i]->name);
    return buf;
}
