/* An LD_PRELOAD library that counts the calls a process makes to libc's recv, send and
 * sendmsg by name on TCP/IP sockets (not the signal handler's socketpair), then passes them on. At exit it writes "recv send sendmsg" to the file named
 * by $INTERPOSE_OUT. Used by tests/interpose.rs: the strela binary built with the
 * `interposable-io` feature must be seen here; built without it, its socket I/O must not. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

static atomic_long recvs, sends, sendmsgs;

static int is_inet(int fd) {
    struct sockaddr_storage a;
    socklen_t n = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &n) != 0) return 0;
    return a.ss_family == AF_INET || a.ss_family == AF_INET6;
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
    static ssize_t (*next)(int, void *, size_t, int);
    if (!next) next = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
    if (is_inet(fd)) atomic_fetch_add(&recvs, 1);
    return next(fd, buf, len, flags);
}

ssize_t send(int fd, const void *buf, size_t len, int flags) {
    static ssize_t (*next)(int, const void *, size_t, int);
    if (!next) next = (ssize_t (*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
    if (is_inet(fd)) atomic_fetch_add(&sends, 1);
    return next(fd, buf, len, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    static ssize_t (*next)(int, const struct msghdr *, int);
    if (!next) next = (ssize_t (*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
    if (is_inet(fd)) atomic_fetch_add(&sendmsgs, 1);
    return next(fd, msg, flags);
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("INTERPOSE_OUT");
    if (!path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%ld %ld %ld\n", atomic_load(&recvs), atomic_load(&sends), atomic_load(&sendmsgs));
    fclose(f);
}
