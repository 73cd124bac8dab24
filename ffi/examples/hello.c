/*
 * hello.c: a complete C program serving /plaintext and /json through strela, with C callbacks.
 *
 *   make -C ffi examples && target/ffi/hello 8080 1
 *   or: cc -std=c11 hello.c $(pkg-config --cflags --libs strela) -o hello
 *       (PKG_CONFIG_PATH=target/ffi for the build tree, or an installed strela: make -C ffi install)
 *
 * Arguments: [port [workers]]; port 0 picks a free port (printed on stdout).
 *
 * Stops gracefully on SIGINT/SIGTERM: the signals are blocked in every thread and awaited with
 * sigwait in main, which then asks the server to stop (strela_server_stop is not meant for a
 * signal handler).
 */
/* sigset_t, pthread_sigmask and sigwait are POSIX, not ISO C: ask for them, so that a plain
 * `cc -std=c11` build works without extra -D flags. */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strela.h"

static const char HELLO[] = "Hello, World!";

static int plaintext(const strela_request *req, strela_response *res, void *userdata) {
    (void)req;
    (void)userdata;
    strela_response_content_type(res, "text/plain");
    return strela_response_body_static(res, HELLO, sizeof HELLO - 1);
}

static int json(const strela_request *req, strela_response *res, void *userdata) {
    (void)req;
    (void)userdata;
    char body[64];
    int n = snprintf(body, sizeof body, "{\"message\":\"%s\"}", HELLO);
    strela_response_content_type(res, "application/json");
    return strela_response_body(res, body, (size_t)n);
}

int main(int argc, char **argv) {
    const char *port = argc > 1 ? argv[1] : "8080";
    size_t workers = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 1;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%s", port);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* inherited by strela's worker threads */

    strela_config *cfg = strela_config_new();
    if (strela_config_set_bind(cfg, addr) != STRELA_OK ||
        strela_config_set_workers(cfg, workers ? workers : 1) != STRELA_OK) {
        fprintf(stderr, "hello: %s\n", strela_last_error());
        return 2;
    }
    strela_server *srv = strela_server_new(cfg);
    strela_config_free(cfg);
    strela_server_route(srv, "GET", "/plaintext", plaintext, NULL);
    strela_server_route(srv, "GET", "/json", json, NULL);
    if (strela_server_start(srv) != STRELA_OK) {
        fprintf(stderr, "hello: %s\n", strela_last_error());
        strela_server_free(srv);
        return 1;
    }
    printf("hello (C, strela %s) listening on http://127.0.0.1:%u\n", strela_version(),
           (unsigned)strela_server_port(srv));
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    strela_server_stop(srv);
    strela_result r = strela_server_wait(srv);
    strela_server_free(srv);
    return r == STRELA_OK ? 0 : 1;
}
