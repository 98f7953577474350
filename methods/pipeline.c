/* Pipeline text parsing, canonical formatting and execution. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods/method.h"

static int option_index(const rb_method *m, const char *name) {
    for (int i = 0; m->options && m->options[i].name; i++)
        if (!strcmp(m->options[i].name, name)) return i;
    return -1;
}

double rb_opt_get(const rb_method *m, const rb_stage_opts *o, const char *name) {
    int i = option_index(m, name);
    if (i < 0) abort(); /* a name the method does not declare: a programming error */
    return o->set[i] ? o->value[i] : m->options[i].def;
}

const char *rb_opt_get_text(const rb_method *m, const rb_stage_opts *o, const char *name) {
    int i = option_index(m, name);
    if (i < 0 || m->options[i].type != RB_OPT_TEXT) abort(); /* a programming error */
    return o->set[i] ? o->text + (size_t)o->value[i] : "";
}

static void option_list(const rb_method *m, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; m->options && m->options[i].name && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", m->options[i].name);
    if (!used) snprintf(buf, cap, "none");
}

static int parse_value(const rb_option_spec *s, const char *text, double *out) {
    if (s->type == RB_OPT_CHOICE) {
        for (int i = 0; s->choices[i]; i++)
            if (!strcmp(text, s->choices[i])) return *out = i, 0;
        return -1;
    }
    if (s->type == RB_OPT_BOOL) {
        if (!strcmp(text, "1") || !strcmp(text, "true")) return *out = 1, 0;
        if (!strcmp(text, "0") || !strcmp(text, "false")) return *out = 0, 0;
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(v)) return -1;
    if (s->type == RB_OPT_INT && v != floor(v)) return -1;
    *out = v;
    return 0;
}

/* Parses one "name:k=v:k=v" stage (text is modified). */
static int parse_stage(char *text, rb_stage *st, rb_error *err) {
    char *save = NULL, *name = strtok_r(text, ":", &save);
    if (!name || !*name) return rb_error_set(err, RB_EINVAL, "empty pipeline stage");
    const rb_method *m = rb_method_find(name);
    if (!m) {
        char known[256];
        return rb_error_set(err, RB_EINVAL, "unknown method '%s' (known: %s)", name,
                            rb_method_names(known, sizeof known));
    }
    memset(st, 0, sizeof *st);
    st->method = m;
    char *kv;
    while ((kv = strtok_r(NULL, ":", &save))) {
        char *eq = strchr(kv, '=');
        char names[256];
        option_list(m, names, sizeof names);
        if (!eq)
            return rb_error_set(err, RB_EINVAL, "%s: option '%s' needs a value (key=value)",
                                m->name, kv);
        *eq = 0;
        int i = option_index(m, kv);
        if (i < 0)
            return rb_error_set(err, RB_EINVAL, "%s: unknown option '%s' (options: %s)", m->name,
                                kv, names);
        const rb_option_spec *s = &m->options[i];
        double v;
        if (s->type == RB_OPT_TEXT) {
            size_t used = 0, len = strlen(eq + 1);
            for (int j = 0; j < RB_MAX_OPTIONS; j++)
                if (st->opts.set[j] && m->options[j].type == RB_OPT_TEXT)
                    used += strlen(st->opts.text + (size_t)st->opts.value[j]) + 1;
            if (used + len + 1 > sizeof st->opts.text)
                return rb_error_set(err, RB_EINVAL, "%s: %s=%s: text options longer than %d bytes",
                                    m->name, kv, eq + 1, RB_OPT_TEXT_BYTES - 1);
            memcpy(st->opts.text + used, eq + 1, len + 1);
            st->opts.value[i] = (double)used;
            st->opts.set[i] = 1;
            continue;
        }
        if (s->type == RB_OPT_CHOICE && parse_value(s, eq + 1, &v)) {
            char list[256];
            size_t used = 0;
            list[0] = 0;
            for (int c = 0; s->choices[c] && used < sizeof list; c++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", c ? ", " : "",
                                         s->choices[c]);
            return rb_error_set(err, RB_EINVAL, "%s: %s=%s is not one of %s", m->name, kv,
                                eq + 1, list);
        }
        if (parse_value(s, eq + 1, &v) || v < s->lo || v > s->hi)
            return rb_error_set(err, RB_EINVAL, "%s: %s=%s is not %s in %g..%g", m->name, kv,
                                eq + 1,
                                s->type == RB_OPT_BOOL ? "a boolean (0/1)"
                                : s->type == RB_OPT_INT ? "an integer" : "a number",
                                s->lo, s->hi);
        st->opts.value[i] = v;
        st->opts.set[i] = 1;
    }
    return RB_OK;
}

int rb_pipeline_parse(const char *text, rb_pipeline *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    if (!text || !*text) return RB_OK;
    char *copy = strdup(text);
    if (!copy) return rb_error_set(err, RB_ENOMEM, "out of memory");
    int rc = RB_OK;
    char *save = NULL;
    for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        if (out->n == RB_MAX_STAGES) {
            rc = rb_error_set(err, RB_EINVAL, "more than %d pipeline stages", RB_MAX_STAGES);
            break;
        }
        if ((rc = parse_stage(part, &out->stages[out->n], err))) break;
        out->n++;
    }
    free(copy);
    if (rc) rb_error_prefix(err, "pipeline \"%s\": ", text);
    return rc;
}

void rb_pipeline_format(const rb_pipeline *p, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (int s = 0; s < p->n && used < cap; s++) {
        const rb_method *m = p->stages[s].method;
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", s ? "," : "", m->name);
        for (int i = 0; m->options && m->options[i].name && used < cap; i++) {
            const rb_option_spec *o = &m->options[i];
            double v = rb_opt_get(m, &p->stages[s].opts, o->name);
            if (o->type == RB_OPT_TEXT)
                used += (size_t)snprintf(buf + used, cap - used, ":%s=%s", o->name,
                                         rb_opt_get_text(m, &p->stages[s].opts, o->name));
            else if (o->type == RB_OPT_CHOICE)
                used += (size_t)snprintf(buf + used, cap - used, ":%s=%s", o->name,
                                         o->choices[(int)v]);
            else
                used += (size_t)snprintf(buf + used, cap - used, ":%s=%.10g", o->name, v);
        }
    }
}

int rb_pipeline_apply(const rb_pipeline *p, rb_stage_ctx *ctx, rb_error *err) {
    for (int s = 0; s < p->n; s++) {
        const rb_method *m = p->stages[s].method;
        rb_logf(ctx->log, "pipeline: stage %d/%d %s", s + 1, p->n, m->name);
        int rc = m->apply(ctx, &p->stages[s].opts, err);
        if (rc) return rb_error_prefix(err, "%s: ", m->name);
    }
    return RB_OK;
}
