/*
 * files.c: serving files and accepting streamed uploads through strela, from C.
 *
 *   make -C ffi examples && target/ffi/files DIR 8080
 *   curl -O http://127.0.0.1:8080/static/some-file            (sendfile, ranges, ETag, 304)
 *   curl -T big.iso http://127.0.0.1:8080/upload              (any size: streamed)
 *   curl http://127.0.0.1:8080/download/some-file             (an fd handed to strela)
 *   curl http://127.0.0.1:8080/count                          (a streamed response)
 *
 * Arguments: DIR [port]; port 0 picks a free port (printed on stdout). With --self-test as the
 * only argument it serves a temporary directory on a free port, checks every route over a
 * socket, and exits 0 when all agree (.ci/run runs it so, under valgrind and ASan).
 *
 * The upload route streams (strela_route_opts.stream_body): the handler defers and a thread
 * reads the body with blocking strela_body_read calls as it arrives, while strela stops
 * reading the socket whenever that thread falls behind, so memory does not grow with the
 * body (benches/bodies measures the same path in the strela binary: +0.04 MiB of peak RSS
 * for a 512 MiB upload). Stops on SIGINT/SIGTERM.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strela.h"

static char dir[4096];

/* ---- POST/PUT /upload: counts and checksums a body of any size, on a thread -------------- */

struct upload {
    strela_body_reader *body;
    strela_deferred *answer;
};

static void *read_upload(void *arg) {
    struct upload *u = arg;
    char buf[65536];
    uint64_t n = 0, sum = 0;
    ptrdiff_t k;
    while ((k = strela_body_read(u->body, buf, sizeof buf)) > 0) {
        for (ptrdiff_t i = 0; i < k; i++) sum += (unsigned char)buf[i];
        n += (uint64_t)k;
    }
    char out[128];
    int len;
    if (k == 0) {
        len = snprintf(out, sizeof out, "%llu bytes, sum %llu\n", (unsigned long long)n,
                       (unsigned long long)sum);
        strela_deferred_complete(u->answer, 200, "text/plain", out, (size_t)len);
    } else {
        len = snprintf(out, sizeof out, "upload incomplete: %s\n", strela_last_error());
        strela_deferred_complete(u->answer, 400, "text/plain", out, (size_t)len);
    }
    strela_body_reader_free(u->body);
    free(u);
    return NULL;
}

static int upload(const strela_request *req, strela_response *res, void *userdata) {
    (void)userdata;
    struct upload *u = malloc(sizeof *u);
    if (!u) return 1;
    u->body = strela_request_body_reader(req); /* asking for it sends 100 Continue */
    u->answer = strela_response_defer(res);
    pthread_t t;
    if (!u->body || !u->answer || pthread_create(&t, NULL, read_upload, u) != 0) {
        int refused = u->answer == NULL; /* no handle: strela answered 503 already */
        strela_body_reader_free(u->body);
        strela_deferred_free(u->answer);
        free(u);
        return refused ? 0 : 1;
    }
    pthread_detach(t);
    return 0;
}

/* ---- GET /download/{name}: an open fd handed to strela (it closes it) -------------------- */

static int download(const strela_request *req, strela_response *res, void *userdata) {
    (void)userdata;
    strela_str name = strela_request_param(req, "name");
    if (name.len == 0 || memchr(name.ptr, '/', name.len) || name.ptr[0] == '.') {
        strela_response_status(res, 404);
        return strela_response_body_static(res, "not found\n", 10);
    }
    char path[8192];
    snprintf(path, sizeof path, "%s/%.*s", dir, (int)name.len, name.ptr);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        strela_response_status(res, 404);
        return strela_response_body_static(res, "not found\n", 10);
    }
    strela_response_content_type(res, "application/octet-stream");
    return strela_response_file(res, fd, 0, UINT64_MAX) == STRELA_OK ? 0 : 1;
}

/* ---- GET /count: a streamed response produced on the worker ------------------------------ */

static int live_counters = 0;

static ptrdiff_t count_next(void *buf, size_t room, void *userdata) {
    int *i = userdata;
    if (*i == 5) return STRELA_PRODUCE_END;
    int n = snprintf(buf, room, "line %d\n", *i);
    *i += 1;
    return n > 0 && (size_t)n < room ? n : STRELA_PRODUCE_ABORT;
}

static void count_free(void *userdata) {
    free(userdata);
    __atomic_fetch_sub(&live_counters, 1, __ATOMIC_RELAXED);
}

static int count(const strela_request *req, strela_response *res, void *userdata) {
    (void)req;
    (void)userdata;
    int *i = calloc(1, sizeof *i);
    if (!i) return 1;
    __atomic_fetch_add(&live_counters, 1, __ATOMIC_RELAXED);
    strela_response_content_type(res, "text/plain");
    return strela_response_stream(res, count_next, count_free, i) == STRELA_OK ? 0 : 1;
}

static strela_server *make_server(const char *bind) {
    strela_config *cfg = strela_config_new();
    if (strela_config_set_bind(cfg, bind) != STRELA_OK) {
        fprintf(stderr, "files: %s\n", strela_last_error());
        strela_config_free(cfg);
        return NULL;
    }
    strela_config_set_workers(cfg, 1);
    strela_server *srv = strela_server_new(cfg);
    strela_config_free(cfg);
    strela_route_opts streamed = {.max_body_bytes = UINT64_C(16) << 30, .stream_body = 1};
    if (strela_server_static(srv, "/static/", dir, "index.html") != STRELA_OK ||
        strela_server_route_opts(srv, "POST", "/upload", upload, NULL, &streamed) != STRELA_OK ||
        strela_server_route_opts(srv, "PUT", "/upload", upload, NULL, &streamed) != STRELA_OK ||
        strela_server_route(srv, "GET", "/download/{name}", download, NULL) != STRELA_OK ||
        strela_server_route(srv, "GET", "/count", count, NULL) != STRELA_OK) {
        fprintf(stderr, "files: %s\n", strela_last_error());
        strela_server_free(srv);
        return NULL;
    }
    return srv;
}

/* ---- --self-test ------------------------------------------------------------------------- */

static int failures = 0;
#define EXPECT(cond)                                                               \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "files.c:%d: self-test failed: %s\n", __LINE__, #cond); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

/* Sends `head` and then `body_len` bytes of a pattern on a new connection; returns the whole
 * answer (the request says Connection: close), NUL-terminated, in a malloc'd buffer. */
static char *exchange(unsigned port, const char *head, size_t body_len, size_t *got) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (write(fd, head, strlen(head)) < 0) {
        close(fd);
        return NULL;
    }
    char chunk[65536];
    for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (char)(i % 251);
    for (size_t sent = 0; sent < body_len;) {
        size_t at = sent % sizeof chunk, n = sizeof chunk - at;
        if (n > body_len - sent) n = body_len - sent;
        ssize_t k = write(fd, chunk + at, n);
        if (k <= 0) break;
        sent += (size_t)k;
    }
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    for (;;) {
        if (len + 1 == cap) out = realloc(out, cap *= 2);
        ssize_t k = read(fd, out + len, cap - 1 - len);
        if (k <= 0) break;
        len += (size_t)k;
    }
    out[len] = 0;
    close(fd);
    *got = len;
    return out;
}

static int self_test(void) {
    char tmpl[] = "/tmp/strela-files-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    snprintf(dir, sizeof dir, "%s", tmpl);
    char path[8192];
    snprintf(path, sizeof path, "%s/hello.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fputs("0123456789abcdef", f);
    fclose(f);

    strela_server *srv = make_server("127.0.0.1:0");
    if (!srv || strela_server_start(srv) != STRELA_OK) return 1;
    unsigned port = strela_server_port(srv);
    size_t n;
    char *r;

    r = exchange(port, "GET /static/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, &n);
    EXPECT(r && strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0 && strstr(r, "\r\n\r\n0123456789abcdef"));
    EXPECT(r && strstr(r, "ETag: ") != NULL);
    free(r);
    r = exchange(port, "GET /static/hello.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=-4\r\nConnection: close\r\n\r\n", 0, &n);
    EXPECT(r && strncmp(r, "HTTP/1.1 206 ", 13) == 0 && strstr(r, "Content-Range: bytes 12-15/16"));
    EXPECT(r && strstr(r, "\r\n\r\ncdef") != NULL);
    free(r);
    r = exchange(port, "GET /static/..%2f..%2fetc/passwd HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, &n);
    EXPECT(r && strncmp(r, "HTTP/1.1 404 ", 13) == 0);
    free(r);
    r = exchange(port, "GET /download/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, &n);
    EXPECT(r && strstr(r, "Content-Length: 16\r\n") && strstr(r, "\r\n\r\n0123456789abcdef"));
    free(r);
    r = exchange(port, "GET /count HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 0, &n);
    EXPECT(r && strstr(r, "Transfer-Encoding: chunked\r\n") && strstr(r, "line 4\n") && strstr(r, "\r\n0\r\n\r\n"));
    free(r);

    /* 5 MiB streamed up (over the 1 MiB buffered default), with and without 100-continue. */
    size_t body = 5u << 20;
    uint64_t sum = 0;
    for (size_t i = 0; i < body; i++) sum += (unsigned char)((i % 65536) % 251);
    char want[128], head[256];
    snprintf(want, sizeof want, "%zu bytes, sum %llu\n", body, (unsigned long long)sum);
    snprintf(head, sizeof head, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", body);
    r = exchange(port, head, body, &n);
    EXPECT(r && strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0 && strstr(r, want));
    if (r && !strstr(r, want)) fprintf(stderr, "got: %s\nwant: %s", r, want);
    free(r);
    snprintf(head, sizeof head, "PUT /upload HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", body);
    r = exchange(port, head, body, &n);
    EXPECT(r && strncmp(r, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42) == 0 && strstr(r, want));
    free(r);

    strela_server_stop(srv);
    strela_server_wait(srv);
    strela_server_free(srv);
    EXPECT(__atomic_load_n(&live_counters, __ATOMIC_RELAXED) == 0); /* every destructor ran */
    unlink(path);
    rmdir(dir);
    printf("files self-test: %s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--self-test") == 0) return self_test();
    if (argc < 2) {
        fprintf(stderr, "usage: files DIR [port] | files --self-test\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    char bind[64];
    snprintf(bind, sizeof bind, "0.0.0.0:%s", argc > 2 ? argv[2] : "8080");
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* inherited by strela's threads */
    strela_server *srv = make_server(bind);
    if (!srv) return 1;
    if (strela_server_start(srv) != STRELA_OK) {
        fprintf(stderr, "files: %s\n", strela_last_error());
        strela_server_free(srv);
        return 1;
    }
    printf("serving %s on port %u: /static/, /download/{name}, /upload, /count\n", dir,
           strela_server_port(srv));
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    strela_server_stop(srv);
    strela_server_wait(srv);
    strela_server_free(srv);
    return 0;
}
