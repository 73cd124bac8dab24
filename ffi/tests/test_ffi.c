/*
 * C tests of libstrela through strela.h: version, errors, the standalone parser and router, and
 * a real server over sockets (C handlers, accessors, setters, a failing handler, deferred
 * responses completed from a pthread and abandoned, stopping from another thread).
 * Built with -std=c11 -Wall -Wextra -Werror; run plain, under valgrind and with ASan by
 * `make -C ffi check`. Exit status 0 only if every check passed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "strela.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        checks++;                                                                      \
        if (!(cond)) {                                                                 \
            failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,    \
                    __LINE__, #cond, strela_last_error());                             \
        }                                                                              \
    } while (0)

static int str_eq(strela_str s, const char *want) {
    size_t n = strlen(want);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, want, n) == 0;
}

static void test_version_and_errors(void) {
    CHECK(strcmp(strela_version(), "") != 0);
    CHECK(strela_abi_version() == STRELA_ABI_VERSION);

    CHECK(strela_config_set_workers(NULL, 1) == STRELA_ERR_NULL);
    CHECK(strcmp(strela_last_error(), "cfg is NULL") == 0);
    strela_config *cfg = strela_config_new();
    CHECK(cfg != NULL);
    CHECK(strela_config_set_bind(cfg, "not an address") == STRELA_ERR_INVALID);
    CHECK(strstr(strela_last_error(), "not an address") != NULL);
    CHECK(strela_config_set_bind(cfg, NULL) == STRELA_ERR_NULL);
    CHECK(strela_config_set_workers(cfg, 0) == STRELA_ERR_INVALID);
    CHECK(strela_config_set_limit(cfg, 9999, 1) == STRELA_ERR_INVALID);
    CHECK(strela_config_set_limit(cfg, STRELA_LIMIT_MAX_BODY_BYTES, 1024) == STRELA_OK);
    strela_config_free(cfg);
    strela_config_free(NULL);
    strela_server_free(NULL);
    strela_router_free(NULL);
    strela_deferred_free(NULL);

    /* Accessors on NULL handles report absence, never crash. */
    strela_str s = strela_request_path(NULL);
    CHECK(s.ptr == NULL && s.len == 0);
    CHECK(strela_response_status(NULL, 200) == STRELA_ERR_NULL);
    CHECK(strela_response_defer(NULL) == NULL);
    CHECK(strela_deferred_is_cancelled(NULL));
}

static void test_parser(void) {
    const char req[] = "POST /items/7?x=1&y=2 HTTP/1.1\r\nHost: example\r\n"
                       "Content-Length: 5\r\nX-Trace:  abc \r\n\r\nhello";
    strela_parsed_request p;
    strela_header h[8];
    CHECK(strela_parse_request(req, sizeof req - 1, &p, h, 8) == STRELA_OK);
    CHECK(str_eq(p.method, "POST"));
    CHECK(str_eq(p.path, "/items/7"));
    CHECK(str_eq(p.query, "x=1&y=2"));
    CHECK(p.version_minor == 1);
    CHECK(p.content_length == 5);
    CHECK(p.keep_alive);
    CHECK(!p.chunked);
    CHECK(p.header_count == 3);
    CHECK(str_eq(h[0].name, "Host") && str_eq(h[0].value, "example"));
    CHECK(str_eq(h[2].name, "X-Trace") && str_eq(h[2].value, "abc"));
    CHECK(p.head_len == sizeof req - 1 - 5);
    CHECK(p.path.ptr == req + 5); /* a view into the caller's buffer, not a copy */

    CHECK(strela_parse_request(req, 20, &p, h, 8) == STRELA_PARTIAL);

    const char bad[] = "GET /\x01 HTTP/1.1\r\n\r\n";
    CHECK(strela_parse_request(bad, sizeof bad - 1, &p, h, 8) == STRELA_ERR_PARSE);
    CHECK(p.error_status == 400);

    const char cl_te[] = "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(strela_parse_request(cl_te, sizeof cl_te - 1, &p, h, 8) == STRELA_ERR_PARSE);
    CHECK(p.error_status == 400);

    const char many[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    CHECK(strela_parse_request(many, sizeof many - 1, &p, h, 2) == STRELA_ERR_PARSE);
    CHECK(p.error_status == 431);
    CHECK(strela_parse_request(NULL, 0, &p, h, 2) == STRELA_ERR_NULL);
}

static strela_str view(const char *s) {
    strela_str v = {s, strlen(s)};
    return v;
}

static void test_router(void) {
    strela_router *r = strela_router_new();
    CHECK(strela_router_insert(r, "GET", "/users/{id}", 1) == STRELA_OK);
    CHECK(strela_router_insert(r, "POST", "/users", 2) == STRELA_OK);
    CHECK(strela_router_insert(r, "GET", "/files/{*path}", 3) == STRELA_OK);
    CHECK(strela_router_insert(r, "GET", "/users/{name}", 4) == STRELA_ERR_INVALID);
    CHECK(strstr(strela_last_error(), "/users/{id}") != NULL);
    CHECK(strela_router_insert(r, "GET", "/bad/{", 5) == STRELA_ERR_INVALID);

    strela_route_match m;
    CHECK(strela_router_lookup(r, view("GET"), view("/users/42"), &m) == STRELA_OK);
    CHECK(m.status == 200 && m.value == 1 && m.param_count == 1);
    CHECK(str_eq(m.params[0].name, "id") && str_eq(m.params[0].value, "42"));
    CHECK(str_eq(m.pattern, "/users/{id}"));
    CHECK(strela_router_lookup(r, view("GET"), view("/files/a/b.txt"), &m) == STRELA_OK);
    CHECK(m.value == 3 && str_eq(m.params[0].value, "a/b.txt"));
    CHECK(strela_router_lookup(r, view("DELETE"), view("/users"), &m) == STRELA_ERR_NOT_FOUND);
    CHECK(m.status == 405 && m.allow.len > 0);
    CHECK(strela_router_lookup(r, view("GET"), view("/users/42/"), &m) == STRELA_ERR_NOT_FOUND);
    CHECK(m.status == 301 && str_eq(m.location, "/users/42"));
    CHECK(strela_router_lookup(r, view("GET"), view("/nope"), &m) == STRELA_ERR_NOT_FOUND);
    CHECK(m.status == 404);
    strela_router_free(r);
}

/* ---- a server over sockets ------------------------------------------------------------------ */

static const char PLAIN[] = "Hello, World!";

static int h_plain(const strela_request *req, strela_response *res, void *ud) {
    (void)req;
    (void)ud;
    strela_response_content_type(res, "text/plain");
    return strela_response_body_static(res, PLAIN, sizeof PLAIN - 1);
}

static int h_echo(const strela_request *req, strela_response *res, void *ud) {
    int *calls = ud;
    __atomic_fetch_add(calls, 1, __ATOMIC_RELAXED);
    strela_str name = strela_request_param(req, "name");
    strela_str tag = strela_request_header(req, "X-TAG");
    strela_str missing = strela_request_header(req, "x-missing");
    strela_str q = strela_request_query(req);
    strela_str body = strela_request_body(req);
    strela_str m = strela_request_method(req);
    strela_str route = strela_request_route(req);
    strela_str hn, hv;
    int first_ok = strela_request_header_at(req, 0, &hn, &hv) == STRELA_OK;
    char out[512];
    int n = snprintf(out, sizeof out, "%.*s|%.*s|%.*s|%.*s|%.*s|%.*s|%d|%zu|%d", (int)m.len, m.ptr,
                     (int)name.len, name.ptr, (int)tag.len, tag.ptr, (int)q.len, q.ptr,
                     (int)body.len, body.ptr, (int)route.len, route.ptr, missing.ptr == NULL,
                     strela_request_header_count(req), first_ok);
    strela_response_status(res, 201);
    /* Not a final status: refused where it is set, the status stays 201. */
    CHECK(strela_response_status(res, 100) == STRELA_ERR_INVALID);
    CHECK(strstr(strela_last_error(), "not a final status") != NULL);
    CHECK(strela_response_status(res, 101) == STRELA_ERR_INVALID);
    strela_response_header(res, "X-Echo", "yes");
    /* Framing is strela's: refused with an error, not silently dropped. */
    CHECK(strela_response_header(res, "Content-Length", "999") == STRELA_ERR_INVALID);
    CHECK(strstr(strela_last_error(), "Content-Length") != NULL);
    CHECK(strela_response_header(res, "X-Bad", "a\r\nInjected: 1") == STRELA_ERR_INVALID);
    return strela_response_body(res, out, (size_t)n);
}

static int h_fail(const strela_request *req, strela_response *res, void *ud) {
    (void)req;
    (void)ud;
    strela_response_body_static(res, "partial", 7);
    return 7; /* non-zero: strela answers 500 */
}

static void *complete_later(void *arg) {
    strela_deferred *d = arg;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
    CHECK(!strela_deferred_is_cancelled(d));
    strela_deferred_header(d, "X-From", "pthread");
    CHECK(strela_deferred_complete(d, 202, "text/plain", "later", 5) == STRELA_OK);
    return NULL;
}

static int h_defer(const strela_request *req, strela_response *res, void *ud) {
    (void)req;
    pthread_t *t = ud;
    strela_deferred *d = strela_response_defer(res);
    if (!d) {
        return 1;
    }
    return pthread_create(t, NULL, complete_later, d) == 0 ? 0 : 1;
}

static int h_abandon(const strela_request *req, strela_response *res, void *ud) {
    (void)req;
    (void)ud;
    strela_deferred_free(strela_response_defer(res)); /* dropped uncompleted: 500 */
    return 0;
}

/* Sends `req` on a new connection and reads the whole response (the request closes it). */
static int http(unsigned port, const char *req, char *out, size_t cap) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    size_t len = strlen(req), sent = 0;
    while (sent < len) {
        ssize_t k = write(fd, req + sent, len - sent);
        if (k <= 0) break;
        sent += (size_t)k;
    }
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fd, out + got, cap - 1 - got);
        if (k <= 0) break;
        got += (size_t)k;
        if (got == cap - 1) break;
    }
    out[got] = 0;
    close(fd);
    return (int)got;
}

static void *run_server(void *arg) {
    strela_server *srv = arg;
    strela_result *r = malloc(sizeof *r);
    *r = strela_server_run(srv);
    return r;
}

static void test_server(void) {
    strela_config *cfg = strela_config_new();
    CHECK(strela_config_set_bind(cfg, "127.0.0.1:0") == STRELA_OK);
    CHECK(strela_config_set_workers(cfg, 2) == STRELA_OK);
    strela_server *srv = strela_server_new(cfg);
    strela_config_free(cfg);
    int calls = 0;
    pthread_t later;
    CHECK(strela_server_route(srv, "GET", "/plaintext", h_plain, NULL) == STRELA_OK);
    CHECK(strela_server_route(srv, "POST", "/echo/{name}", h_echo, &calls) == STRELA_OK);
    CHECK(strela_server_route(srv, "GET", "/fail", h_fail, NULL) == STRELA_OK);
    CHECK(strela_server_route(srv, "GET", "/defer", h_defer, &later) == STRELA_OK);
    CHECK(strela_server_route(srv, "GET", "/abandon", h_abandon, NULL) == STRELA_OK);
    CHECK(strela_server_route(srv, "GET", "/x", NULL, NULL) == STRELA_ERR_NULL);
    CHECK(strela_server_port(srv) == 0);
    CHECK(strela_server_start(srv) == STRELA_OK);
    unsigned port = strela_server_port(srv);
    CHECK(port != 0);
    CHECK(strela_server_route(srv, "GET", "/late", h_plain, NULL) == STRELA_ERR_STATE);
    CHECK(strela_server_start(srv) == STRELA_ERR_STATE);

    char buf[4096];
    CHECK(http(port, "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf,
               sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(buf, "Content-Type: text/plain\r\n") != NULL);
    CHECK(strstr(buf, "\r\n\r\nHello, World!") != NULL);

    CHECK(http(port,
               "POST /echo/ada?k=v HTTP/1.1\r\nHost: t\r\nx-tag: T1\r\nContent-Length: 4\r\n"
               "Connection: close\r\n\r\nbody",
               buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 201 Created\r\n", 22) == 0);
    CHECK(strstr(buf, "X-Echo: yes\r\n") != NULL);
    CHECK(strstr(buf, "999") == NULL);
    CHECK(strstr(buf, "\r\n\r\nPOST|ada|T1|k=v|body|/echo/{name}|1|4|1") != NULL);
    CHECK(calls == 1);

    CHECK(http(port, "GET /fail HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 500 ", 13) == 0);
    CHECK(strstr(buf, "partial") == NULL);

    CHECK(http(port, "GET /defer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 202 Accepted\r\n", 23) == 0);
    CHECK(strstr(buf, "X-From: pthread\r\n") != NULL);
    CHECK(strstr(buf, "\r\n\r\nlater") != NULL);
    pthread_join(later, NULL);

    CHECK(http(port, "GET /abandon HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 500 ", 13) == 0);

    CHECK(http(port, "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    CHECK(http(port, "BAD\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 400 ", 13) == 0);

    CHECK(strela_server_stop(srv) == STRELA_OK);
    CHECK(strela_server_wait(srv) == STRELA_OK);
    strela_server_free(srv);
}


/* ---- bodies of any size ---------------------------------------------------------------------- */

static int h_small(const strela_request *req, strela_response *res, void *ud) {
    (void)ud;
    strela_body_reader *r = strela_request_body_reader(req);
    char buf[64], out[80];
    ptrdiff_t k = strela_body_read_now(r, buf, sizeof buf); /* buffered: all there */
    CHECK(strela_body_read_now(r, buf + (k > 0 ? k : 0), sizeof buf - 8) == 0);
    CHECK(strela_body_content_length(r) == k);
    CHECK(!strela_request_body_streamed(req));
    strela_body_reader_free(r);
    int n = snprintf(out, sizeof out, "got %d", (int)k);
    return strela_response_body(res, out, (size_t)n);
}

static void *write_later(void *arg) {
    strela_deferred *d = arg;
    strela_deferred_header(d, "X-Stream", "writer");
    strela_writer *w = strela_deferred_stream(d);
    CHECK(w != NULL);
    for (int i = 0; i < 3; i++) {
        char part[16];
        int n = snprintf(part, sizeof part, "part%d;", i);
        CHECK(strela_writer_write(w, part, (size_t)n) == STRELA_OK);
    }
    CHECK(strela_writer_finish(w) == STRELA_OK);
    return NULL;
}

static int h_writer(const strela_request *req, strela_response *res, void *ud) {
    (void)req;
    pthread_t *t = ud;
    strela_deferred *d = strela_response_defer(res);
    return d && pthread_create(t, NULL, write_later, d) == 0 ? 0 : 1;
}

static int produced_freed = 0;

static ptrdiff_t produce_abc(void *buf, size_t room, void *ud) {
    int *left = ud;
    if (*left == 0) return STRELA_PRODUCE_END;
    if (room < 3) return STRELA_PRODUCE_ABORT;
    memcpy(buf, "abc", 3);
    *left -= 1;
    return 3;
}

static void free_abc(void *ud) {
    free(ud);
    __atomic_fetch_add(&produced_freed, 1, __ATOMIC_RELAXED);
}

static int h_produce(const strela_request *req, strela_response *res, void *ud) {
    (void)req;
    (void)ud;
    int *left = malloc(sizeof *left);
    *left = 4;
    return strela_response_stream(res, produce_abc, free_abc, left) == STRELA_OK ? 0 : 1;
}

static int h_produce_fail(const strela_request *req, strela_response *res, void *ud) {
    (void)req;
    (void)ud;
    int *left = malloc(sizeof *left);
    *left = 4;
    strela_response_stream(res, produce_abc, free_abc, left);
    return 1; /* fails after: the stream is dropped, its destructor still runs once */
}

static int h_file(const strela_request *req, strela_response *res, void *ud) {
    (void)req;
    const char *path = ud;
    CHECK(strela_response_file(res, -1, 0, 0) == STRELA_ERR_INVALID);
    int fd = open(path, O_RDONLY);
    return strela_response_file(res, fd, 2, 5) == STRELA_OK ? 0 : 1;
}

static void test_bodies(void) {
    char dir[] = "/tmp/strela-ffi-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/f.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("0123456789", f);
    fclose(f);

    strela_config *cfg = strela_config_new();
    strela_config_set_bind(cfg, "127.0.0.1:0");
    strela_config_set_workers(cfg, 1);
    strela_server *srv = strela_server_new(cfg);
    strela_config_free(cfg);
    pthread_t wt;
    strela_route_opts small = {.max_body_bytes = 8, .stream_body = 0};
    CHECK(strela_server_route_opts(srv, "POST", "/small", h_small, NULL, &small) == STRELA_OK);
    CHECK(strela_server_route(srv, "GET", "/writer", h_writer, &wt) == STRELA_OK);
    CHECK(strela_server_route(srv, "GET", "/produce", h_produce, NULL) == STRELA_OK);
    CHECK(strela_server_route(srv, "GET", "/produce-fail", h_produce_fail, NULL) == STRELA_OK);
    CHECK(strela_server_route(srv, "GET", "/file", h_file, path) == STRELA_OK);
    CHECK(strela_server_static(srv, "/s/", dir, NULL) == STRELA_OK);
    CHECK(strela_server_static(srv, "nope", dir, NULL) == STRELA_ERR_INVALID);
    CHECK(strela_server_static(srv, "/t/", "/does/not/exist", NULL) == STRELA_ERR_IO);
    CHECK(strela_response_stream(NULL, produce_abc, NULL, NULL) == STRELA_ERR_NULL);
    CHECK(strela_body_read(NULL, NULL, 0) == -1);
    CHECK(strela_writer_finish(NULL) == STRELA_ERR_NULL);
    CHECK(strela_server_start(srv) == STRELA_OK);
    unsigned port = strela_server_port(srv);
    char buf[4096];

    CHECK(http(port, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\nConnection: close\r\n\r\n12345678", buf, sizeof buf) > 0);
    CHECK(strstr(buf, "\r\n\r\ngot 8") != NULL);
    CHECK(http(port, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\nConnection: close\r\n\r\n123456789", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 413 ", 13) == 0);

    CHECK(http(port, "GET /writer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strstr(buf, "X-Stream: writer\r\n") != NULL);
    CHECK(strstr(buf, "Transfer-Encoding: chunked\r\n") != NULL);
    CHECK(strstr(buf, "part0;") && strstr(buf, "part2;") && strstr(buf, "\r\n0\r\n\r\n"));
    pthread_join(wt, NULL);

    CHECK(http(port, "GET /produce HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strstr(buf, "\r\n3\r\nabc\r\n") != NULL || strstr(buf, "abc") != NULL);
    CHECK(strstr(buf, "\r\n0\r\n\r\n") != NULL);
    CHECK(http(port, "HEAD /produce HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strstr(buf, "abc") == NULL);
    CHECK(http(port, "GET /produce-fail HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 500 ", 13) == 0);

    CHECK(http(port, "GET /file HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strstr(buf, "Content-Length: 5\r\n") && strstr(buf, "\r\n\r\n23456"));
    CHECK(http(port, "GET /s/f.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=8-\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 206 ", 13) == 0 && strstr(buf, "\r\n\r\n89"));
    CHECK(http(port, "GET /s/f.txt HTTP/1.1\r\nHost: t\r\nRange: bytes=20-\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 416 ", 13) == 0);

    CHECK(strela_server_stop(srv) == STRELA_OK);
    CHECK(strela_server_wait(srv) == STRELA_OK);
    strela_server_free(srv);
    /* One destructor per stream: /produce, HEAD /produce, /produce-fail. */
    CHECK(__atomic_load_n(&produced_freed, __ATOMIC_RELAXED) == 3);
    unlink(path);
    rmdir(dir);
}

static void test_run_and_stop_from_another_thread(void) {
    strela_config *cfg = strela_config_new();
    strela_config_set_bind(cfg, "127.0.0.1:0");
    strela_config_set_workers(cfg, 1);
    strela_server *srv = strela_server_new(cfg);
    strela_config_free(cfg);
    strela_server_route(srv, "GET", "/plaintext", h_plain, NULL);
    pthread_t t;
    pthread_create(&t, NULL, run_server, srv);
    for (int i = 0; i < 500 && strela_server_port(srv) == 0; i++) {
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    unsigned port = strela_server_port(srv);
    CHECK(port != 0);
    char buf[1024];
    CHECK(http(port, "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", buf, sizeof buf) > 0);
    CHECK(strstr(buf, "Hello, World!") != NULL);
    CHECK(strela_server_stop(srv) == STRELA_OK);
    void *ret = NULL;
    pthread_join(t, &ret);
    CHECK(ret != NULL && *(strela_result *)ret == STRELA_OK);
    free(ret);
    strela_server_free(srv);
}

static void test_route_conflict_fails_start(void) {
    strela_config *cfg = strela_config_new();
    strela_config_set_bind(cfg, "127.0.0.1:0");
    strela_server *srv = strela_server_new(cfg);
    strela_config_free(cfg);
    strela_server_route(srv, "GET", "/a/{x}", h_plain, NULL);
    strela_server_route(srv, "GET", "/a/{y}", h_plain, NULL);
    CHECK(strela_server_start(srv) == STRELA_ERR_INVALID);
    CHECK(strstr(strela_last_error(), "/a/{x}") != NULL);
    strela_server_free(srv);
}

int main(void) {
    test_version_and_errors();
    test_parser();
    test_router();
    test_server();
    test_bodies();
    test_run_and_stop_from_another_thread();
    test_route_conflict_fails_start();
    printf("test_ffi: %d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
