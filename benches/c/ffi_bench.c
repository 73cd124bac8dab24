/* The C side of the boundary bench (benches/benches/ffi.rs): an empty handler for the Rust → C
 * cost, and a loop of accessor calls for the C → Rust cost. Compiled by benches/build.rs. */
#include <stddef.h>

#include "strela.h"

int bench_noop_handler(const strela_request *req, strela_response *res, void *userdata) {
    (void)req;
    (void)res;
    (void)userdata;
    return 0;
}

/* Calls strela_request_path n times; returns the summed lengths so nothing is optimised out. */
size_t bench_path_loop(const strela_request *req, size_t n) {
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += strela_request_path(req).len;
    }
    return sum;
}

/* Calls strela_request_header n times. */
size_t bench_header_loop(const strela_request *req, size_t n) {
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += strela_request_header(req, "host").len;
    }
    return sum;
}
