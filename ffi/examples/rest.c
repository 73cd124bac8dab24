/*
 * rest.c: a REST-ish C service on strela: route parameters, query, headers, a JSON body, and a
 * deferred response completed later from a pthread (the worker never blocks).
 *
 *   make -C ffi examples && target/ffi/rest 8081
 *   curl localhost:8081/users/42?verbose=1 -H 'X-Request-Id: abc'
 *   curl -d '{"name":"ada"}' localhost:8081/users
 *   curl localhost:8081/slow/300        # answered after 300 ms from another thread
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strela.h"

static int get_user(const strela_request *req, strela_response *res, void *userdata) {
    (void)userdata;
    strela_str id = strela_request_param(req, "id");
    strela_str rid = strela_request_header(req, "x-request-id");
    strela_str q = strela_request_query(req);
    char body[256];
    int n = snprintf(body, sizeof body, "{\"id\":\"%.*s\",\"request_id\":\"%.*s\",\"query\":\"%.*s\"}",
                     (int)id.len, id.ptr, (int)rid.len, rid.ptr ? rid.ptr : "", (int)q.len, q.ptr);
    if (n < 0 || (size_t)n >= sizeof body) {
        return 1; /* becomes a 500 */
    }
    strela_response_content_type(res, "application/json");
    return strela_response_body(res, body, (size_t)n);
}

static int create_user(const strela_request *req, strela_response *res, void *userdata) {
    (void)userdata;
    strela_str body = strela_request_body(req);
    if (body.len == 0) {
        strela_response_status(res, 400);
        return strela_response_body_static(res, "empty body\n", 11);
    }
    char out[64];
    int n = snprintf(out, sizeof out, "{\"created\":true,\"bytes\":%zu}", body.len);
    strela_response_status(res, 201);
    strela_response_header(res, "Location", "/users/1");
    strela_response_content_type(res, "application/json");
    return strela_response_body(res, out, (size_t)n);
}

struct job {
    strela_deferred *d;
    long ms;
};

static void *slow_work(void *arg) {
    struct job *j = arg;
    struct timespec ts = {j->ms / 1000, (j->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    if (strela_deferred_is_cancelled(j->d)) {
        strela_deferred_free(j->d); /* nobody waits any more: discarded */
    } else {
        char body[64];
        int n = snprintf(body, sizeof body, "slept %ld ms\n", j->ms);
        strela_deferred_header(j->d, "X-Worker", "pthread");
        strela_deferred_complete(j->d, 200, "text/plain", body, (size_t)n);
    }
    free(j);
    return NULL;
}

static int slow(const strela_request *req, strela_response *res, void *userdata) {
    (void)userdata;
    strela_str ms = strela_request_param(req, "ms");
    char num[16] = {0};
    memcpy(num, ms.ptr, ms.len < sizeof num - 1 ? ms.len : sizeof num - 1);
    struct job *j = malloc(sizeof *j);
    if (!j) {
        return 1;
    }
    j->ms = strtol(num, NULL, 10);
    j->d = strela_response_defer(res);
    if (!j->d) { /* refused: the response is already a 503 */
        free(j);
        return 0;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, slow_work, j) != 0) {
        strela_deferred_free(j->d); /* answers 500 */
        free(j);
        return 0;
    }
    pthread_detach(t);
    return 0;
}

int main(int argc, char **argv) {
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", argc > 1 ? argv[1] : "8081");
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    strela_config *cfg = strela_config_new();
    strela_config_set_bind(cfg, addr);
    strela_config_set_limit(cfg, STRELA_LIMIT_DEFERRED_TIMEOUT_MS, 2000);
    strela_server *srv = strela_server_new(cfg);
    strela_config_free(cfg);
    strela_server_route(srv, "GET", "/users/{id}", get_user, NULL);
    strela_server_route(srv, "POST", "/users", create_user, NULL);
    strela_server_route(srv, "GET", "/slow/{ms}", slow, NULL);
    if (strela_server_start(srv) != STRELA_OK) {
        fprintf(stderr, "rest: %s\n", strela_last_error());
        strela_server_free(srv);
        return 1;
    }
    printf("rest listening on http://127.0.0.1:%u\n", (unsigned)strela_server_port(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    strela_server_stop(srv);
    strela_server_wait(srv);
    strela_server_free(srv);
    return 0;
}
