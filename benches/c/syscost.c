/* What the machine charges for the things an event loop does besides its own work: an empty
 * syscall, a `recv` that finds nothing (`EAGAIN`, the second read may_minihttp makes per
 * request), and a sleep in `epoll_wait` woken from the other CPU (what an idle server pays
 * per wake-up). Figures are the calling thread's own CPU time (CLOCK_THREAD_CPUTIME_ID).
 * docs/lean-hot-path.md cites them.
 *
 *   cc -O2 -pthread benches/c/syscost.c -o target/syscost && target/syscost
 *
 * Needs two CPUs (the sleeper is pinned to CPU 0, the waker to CPU 1). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
        fprintf(stderr, "syscost: cannot pin to CPU %d\n", cpu);
        exit(1);
    }
}

/* An accepted loopback socket, non-blocking, with nothing to read. */
static int idle_socket(void) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0) {
        perror("syscost: listener");
        exit(1);
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("syscost: connect");
        exit(1);
    }
    int s = accept(l, NULL, NULL);
    if (s < 0 || fcntl(s, F_SETFL, O_NONBLOCK) != 0) {
        perror("syscost: accept");
        exit(1);
    }
    return s;
}

struct waker {
    int efd;
    long gap_ns;
    long writes;
    int done; /* set by the waker, read by the sleeper: __atomic builtins */
};

/* Writes the eventfd `writes` times, `gap_ns` apart (busy-waiting between, so it never sleeps). */
static void *wake_loop(void *arg) {
    struct waker *w = arg;
    pin(1);
    uint64_t one = 1;
    for (long i = 0; i < w->writes; i++) {
        double t0 = seconds(CLOCK_MONOTONIC);
        while ((seconds(CLOCK_MONOTONIC) - t0) * 1e9 < (double)w->gap_ns) {
        }
        if (write(w->efd, &one, sizeof one) != sizeof one) {
            perror("syscost: eventfd write");
            exit(1);
        }
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    if (write(w->efd, &one, sizeof one) != sizeof one) {
        exit(1);
    }
    return NULL;
}

/* The sleeper's CPU per wake-up when woken every `gap_ns` from the other CPU. */
static void sleep_wake(long gap_ns) {
    struct waker w = {.efd = eventfd(0, EFD_NONBLOCK), .gap_ns = gap_ns, .writes = 100000};
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 1};
    if (w.efd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, w.efd, &ev) != 0) {
        perror("syscost: epoll");
        exit(1);
    }
    pthread_t t;
    int err = pthread_create(&t, NULL, wake_loop, &w);
    if (err != 0) {
        fprintf(stderr, "syscost: pthread_create: %s\n", strerror(err));
        exit(1);
    }
    long wakes = 0, sleeps = 0;
    uint64_t value;
    double c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
    while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
        /* As an event loop does: take what is ready, block only when nothing is. */
        if (epoll_wait(ep, &ev, 1, 0) == 0) {
            sleeps++;
            epoll_wait(ep, &ev, 1, 250);
        }
        wakes++;
        ssize_t got = read(w.efd, &value, sizeof value); /* EAGAIN when already drained */
        (void)got;
    }
    double c1 = seconds(CLOCK_THREAD_CPUTIME_ID);
    pthread_join(t, NULL);
    printf("sleep in epoll_wait, woken every %5ld ns: %6ld wakes (%ld slept), %6.2f us of CPU per wake\n",
           gap_ns, wakes, sleeps, (c1 - c0) * 1e6 / (double)wakes);
    close(ep);
    close(w.efd);
}

int main(void) {
    pin(0);
    const int n = 2000000;
    char buf[4096];

    double c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < n; i++) {
        syscall(SYS_getppid);
    }
    double c1 = seconds(CLOCK_THREAD_CPUTIME_ID);
    printf("empty syscall (getppid):                     %6.1f ns\n", (c1 - c0) * 1e9 / n);

    int s = idle_socket();
    c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < n; i++) {
        if (recv(s, buf, sizeof buf, 0) >= 0) {
            fprintf(stderr, "syscost: the idle socket had data\n");
            return 1;
        }
    }
    c1 = seconds(CLOCK_THREAD_CPUTIME_ID);
    printf("recv on an empty TCP socket (EAGAIN):        %6.1f ns\n", (c1 - c0) * 1e9 / n);

    sleep_wake(5000);
    sleep_wake(20000);
    sleep_wake(50000);
    return 0;
}
