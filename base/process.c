#include "base/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int rb_find_program(const char *prog, char *path, size_t cap) {
    if (strchr(prog, '/')) {
        snprintf(path, cap, "%s", prog);
        struct stat st;
        return access(prog, X_OK) == 0 && stat(prog, &st) == 0 && S_ISREG(st.st_mode);
    }
    const char *env = getenv("PATH");
    if (!env) env = "/usr/local/bin:/usr/bin:/bin";
    while (*env) {
        const char *colon = strchr(env, ':');
        size_t n = colon ? (size_t)(colon - env) : strlen(env);
        snprintf(path, cap, "%.*s%s%s", (int)n, n ? env : ".", "/", prog);
        struct stat st;
        if (access(path, X_OK) == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) return 1;
        if (!colon) break;
        env = colon + 1;
    }
    return 0;
}

void rb_describe_status(int status, char *buf, size_t cap) {
    if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "wait status %d", status);
}

int rb_mkdir_parents(const char *path, rb_error *err) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return RB_OK;
    *slash = 0;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0777) && errno != EEXIST)
            return rb_error_set(err, RB_EIO, "%s: cannot create directory: %s", dir,
                                strerror(errno));
        *p = '/';
    }
    if (*dir && mkdir(dir, 0777) && errno != EEXIST)
        return rb_error_set(err, RB_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    return RB_OK;
}

int rb_child_spawn(char *const *argv, const char *cwd, rb_child *c, rb_error *err) {
    memset(c, 0, sizeof *c);
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC)) return rb_error_set(err, RB_EIO, "pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC)) {
        close(po[0]), close(po[1]);
        return rb_error_set(err, RB_EIO, "pipe: %s", strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return rb_error_set(err, RB_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* the child dies with the runner (a killed sweep leaves no orphans) */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        signal(SIGPIPE, SIG_DFL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0) dup2(nul, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (cwd && chdir(cwd)) {
            dprintf(2, "cannot change to directory %s: %s\n", cwd, strerror(errno));
            _exit(127);
        }
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    c->pid = pid;
    c->out_fd = po[0];
    c->err_fd = pe[0];
    return RB_OK;
}

/* Reads what is available on fd into b; returns 0 on EOF (fd closed). */
static int drain(int *fd, rb_buf *b, size_t cap, int keep_tail, int *overflow) {
    char tmp[65536];
    ssize_t n = read(*fd, tmp, sizeof tmp);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return 0;
    }
    if (keep_tail) {
        rb_buf_append(b, tmp, (size_t)n);
        if (b->len > 2 * cap) { /* keep the last cap bytes */
            memmove(b->s, b->s + b->len - cap, cap);
            b->len = cap;
            b->s[cap] = 0;
        }
    } else if (b->len + (size_t)n <= cap) {
        rb_buf_append(b, tmp, (size_t)n);
    } else if (overflow) {
        *overflow = 1;
    }
    return 1;
}

int rb_child_read(rb_child *c, int which) {
    if (which == 0) return drain(&c->out_fd, &c->out, RB_CHILD_STDOUT_CAP, 0, &c->out_overflow);
    return drain(&c->err_fd, &c->errs, RB_CHILD_STDERR_KEEP, 1, NULL);
}

void rb_child_wait(const rb_child *c, int *status) {
    while (waitpid(c->pid, status, 0) < 0 && errno == EINTR) {
    }
}

int rb_run_capture(char *const *argv, const char *cwd, char **out, char **err_tail, int *status,
                   rb_error *err) {
    rb_child c;
    *out = *err_tail = NULL;
    int rc = rb_child_spawn(argv, cwd, &c, err);
    if (rc) return rc;
    while (c.out_fd >= 0 || c.err_fd >= 0) {
        struct pollfd p[2] = {{c.out_fd, POLLIN, 0}, {c.err_fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (c.out_fd >= 0 && p[0].revents) rb_child_read(&c, 0);
        if (c.err_fd >= 0 && p[1].revents) rb_child_read(&c, 1);
    }
    if (c.out_fd >= 0) close(c.out_fd);
    if (c.err_fd >= 0) close(c.err_fd);
    rb_child_wait(&c, status);
    *out = rb_buf_take(&c.out);
    *err_tail = rb_buf_take(&c.errs);
    return RB_OK;
}

char *rb_shell_join(char *const *argv) {
    rb_buf b = {0};
    for (size_t i = 0; argv[i]; i++) {
        const char *a = argv[i];
        if (i) rb_buf_puts(&b, " ");
        int plain = *a != 0;
        for (const char *p = a; *p && plain; p++)
            plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,+-@%",
                           *p) != NULL;
        if (plain) {
            rb_buf_puts(&b, a);
            continue;
        }
        rb_buf_puts(&b, "'");
        for (const char *p = a; *p; p++) {
            if (*p == '\'')
                rb_buf_puts(&b, "'\\''");
            else
                rb_buf_append(&b, p, 1);
        }
        rb_buf_puts(&b, "'");
    }
    return rb_buf_take(&b);
}
