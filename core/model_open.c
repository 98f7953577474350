/* rb_model_open: recognise the format from the path and call its module. */
#include "core/model_open.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash_cache.h"
#include "base/sha256.h"
#include "core/formats.h"
#include "core/model_save.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* The directory part of path ("." when none) into dir[cap]. */
static void dir_of(const char *path, char *dir, size_t cap) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

static int has_config(const char *dir) {
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", dir);
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Format of path; for HF, the checkpoint directory goes to dir[cap]. */
static int detect(const char *path, rb_model_format *format, char *dir, size_t cap,
                  rb_error *err) {
    if (is_dir(path)) {
        if (!has_config(path))
            return rb_error_set(err, RB_EINVAL,
                                "%s: is a directory, but not a Hugging Face checkpoint (no "
                                "config.json): give a model file or a checkpoint directory",
                                path);
        snprintf(dir, cap, "%s", path);
        *format = RB_FORMAT_HF;
        return RB_OK;
    }
    if (ends_with(path, "config.json") || ends_with(path, ".safetensors") ||
        ends_with(path, ".safetensors.index.json")) {
        dir_of(path, dir, cap);
        if (!has_config(dir))
            return rb_error_set(err, RB_EFORMAT,
                                "%s: a Hugging Face file, but %s/config.json (the model's "
                                "configuration) does not exist",
                                path, dir);
        *format = RB_FORMAT_HF;
        return RB_OK;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rb_error_set(err, RB_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[4] = {0};
    ssize_t got = pread(fd, magic, 4, 0);
    close(fd);
    *format = got == 4 && memcmp(magic, "GGUF", 4) == 0 ? RB_FORMAT_GGUF : RB_FORMAT_LLAMA2C;
    return RB_OK;
}

int rb_model_detect(const char *path, rb_model_format *format, rb_error *err) {
    char dir[1024];
    return detect(path, format, dir, sizeof dir, err);
}

int rb_model_open(const char *path, int flags, rb_model **out, rb_model_info *info_out,
                  rb_error *err) {
    *out = NULL;
    rb_model_info local, *info = info_out ? info_out : &local;
    memset(info, 0, sizeof *info);
    rb_model_format format;
    char dir[1024];
    int rc = detect(path, &format, dir, sizeof dir, err);
    if (rc) return rc;
    switch (format) {
    case RB_FORMAT_HF: rc = rb_hf_open(dir, out, info, err); break;
    case RB_FORMAT_GGUF: rc = rb_gguf_model_open(path, out, info, err); break;
    default: rc = rb_llama2c_open(path, out, info, err); break;
    }
    for (int i = 0; !rc && (flags & RB_OPEN_HASH) && i < info->n_files; i++)
        rc = rb_sha256_file_cached(info->files[i].path, info->files[i].sha256, NULL, err);
    if (rc) {
        rb_model_free(*out);
        *out = NULL;
    }
    return rc;
}

void rb_model_info_add_dtype(rb_model_info *info, const char *d) {
    size_t n = strlen(info->dtype), dn = strlen(d);
    for (const char *p = info->dtype; (p = strstr(p, d)); p += dn)
        if ((p == info->dtype || p[-1] == '+') && (p[dn] == '\0' || p[dn] == '+')) return;
    snprintf(info->dtype + n, sizeof info->dtype - n, "%s%s", n ? "+" : "", d);
}

int rb_model_info_add_file(rb_model_info *info, const char *path, uint64_t bytes, rb_error *err) {
    if (info->n_files >= RB_MODEL_INFO_MAX_FILES)
        return rb_error_set(err, RB_EUNSUPPORTED, "%s: more than %d files in one model", path,
                            RB_MODEL_INFO_MAX_FILES);
    rb_model_file *f = &info->files[info->n_files++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->sha256[0] = '\0';
    f->bytes = bytes;
    return RB_OK;
}

int rb_model_save_as(const rb_model *m, const char *path, const rb_save_options *o, rb_error *err) {
    if (o->format == RB_FORMAT_HF) return rb_hf_save(m, path, o, err);
    if (o->format == RB_FORMAT_GGUF) return rb_gguf_save(m, path, o, err);
    if (o->format != RB_FORMAT_LLAMA2C)
        return rb_error_set(err, RB_EINVAL, "%s: unknown output format %d", path, (int)o->format);
    if (o->dtype != RB_DTYPE_F32)
        return rb_error_set(err, RB_EUNSUPPORTED, "%s: llama2.c files hold fp32 weights only (not %s)",
                            path, rb_dtype_name(o->dtype));
    return rb_model_save(m, path, err);
}
