/* The file-digest cache of base/hash_cache.h. */
#include "base/hash_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"

/* The cache directory into dir[cap]; 0 when there is none (turned off). */
static int cache_dir(char *dir, size_t cap) {
    const char *e = getenv("ROTBENCH_CACHE");
    int n;
    if (e && !strcmp(e, "off")) return 0;
    if (e && *e)
        n = snprintf(dir, cap, "%s", e);
    else if ((e = getenv("XDG_CACHE_HOME")) && *e)
        n = snprintf(dir, cap, "%s/rotbench", e);
    else if ((e = getenv("HOME")) && *e)
        n = snprintf(dir, cap, "%s/.cache/rotbench", e);
    else
        return 0;
    return n > 0 && (size_t)n < cap;
}

/* mkdir -p of dir (best effort). */
static void make_dirs(char *dir) {
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    mkdir(dir, 0755);
}

static int is_hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[64] == 0 || s[64] == '\n';
}

int rb_sha256_file_cached(const char *path, char hex[65], int *cached, rb_error *err) {
    if (cached) *cached = 0;
    struct stat st;
    char dir[3072], key[4096 + 256], entry[3072 + 80];
    if (stat(path, &st) || (size_t)st.st_size < RB_HASH_CACHE_MIN_BYTES || !S_ISREG(st.st_mode) ||
        !cache_dir(dir, sizeof dir))
        return rb_sha256_file(path, hex, err);
    char real[4096];
    const char *name = realpath(path, real) ? real : path;
    int kn = snprintf(key, sizeof key, "rotbench sha256 cache 1\n%llu %llu %lld %lld.%09ld %lld.%09ld\n%s\n",
                      (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                      (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                      (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, name);
    if (kn < 0 || (size_t)kn >= sizeof key) return rb_sha256_file(path, hex, err);
    char key_hash[65];
    rb_sha256_hex(key, (size_t)kn, key_hash);
    snprintf(entry, sizeof entry, "%s/sha256-%s", dir, key_hash);
    /* a hit: the entry is the key followed by the digest */
    FILE *f = fopen(entry, "rb");
    if (f) {
        char buf[sizeof key + 80];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        if (n == (size_t)kn + 65 && !memcmp(buf, key, (size_t)kn) && is_hex64(buf + kn)) {
            memcpy(hex, buf + kn, 64);
            hex[64] = 0;
            if (cached) *cached = 1;
            return RB_OK;
        }
    }
    int rc = rb_sha256_file(path, hex, err);
    if (rc) return rc;
    /* written whole under a temporary name, then renamed: readers see an
     * old entry, a complete new one, or none */
    make_dirs(dir);
    char tmp[sizeof entry + 32];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", entry, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) return RB_OK;
    int bad = fwrite(key, 1, (size_t)kn, f) != (size_t)kn || fprintf(f, "%s\n", hex) != 65;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, entry)) unlink(tmp);
    return RB_OK;
}
