//! Steady-state allocations per request must be zero for /plaintext and /json, in the sans-IO
//! core and over real sockets. A counting global allocator wraps the system one; this file holds
//! a single test so no other test allocates concurrently, and the sans-IO figures count only
//! the test thread's allocations (the test harness's own thread may allocate meanwhile).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use strela::endpoints::core;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Allocations made by the threads that asked to be counted.
static MINE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count_mine() {
    // `try_with`: the allocator can run while thread-locals are being torn down.
    if COUNTED.try_with(|c| c.get()).unwrap_or(false) {
        MINE.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        count_mine();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        count_mine();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Warms `d` up with `req` alone and 16 pipelined, then returns the allocations made by 1,000
/// more rounds of the same (17,000 requests).
fn allocations_in_steady_state<H: strela::Handler>(d: &mut Driver<H>, req: &[u8]) -> u64 {
    let batch = req.repeat(16);
    for _ in 0..100 {
        d.feed(req);
        d.feed(&batch);
    }
    d.out = Vec::with_capacity(4 << 20);
    let before = MINE.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(true));
    for _ in 0..1000 {
        d.feed(req);
        d.feed(&batch);
    }
    COUNTED.with(|c| c.set(false));
    MINE.load(Ordering::Relaxed) - before
}

#[test]
fn steady_state_requests_allocate_nothing() {
    // Sans-IO core: keep-alive (one request per feed) and pipelined (16 per feed).
    for req in [GET_PLAIN, GET_JSON] {
        let n = allocations_in_steady_state(&mut Driver::new(core), req);
        assert_eq!(n, 0, "{n} allocations for 17,000 requests");
    }

    // Routed: the application API with a parameterised route and the core endpoints.
    let mut app = strela::app::AppBuilder::new();
    app.route(
        "GET",
        "/users/{id}/posts/{post}",
        |req: &strela::Request<'_>, res: &mut strela::Response<'_>| {
            let id = req.param("id").unwrap_or("");
            let post = req.param("post").unwrap_or("");
            res.content_type("text/plain").body(id.as_bytes());
            res.header("X-Post", post);
        },
    );
    app.route("GET", "/plaintext", strela::endpoints::plaintext);
    let routed: std::sync::Arc<dyn strela::Handler> = std::sync::Arc::from(app.build().unwrap());
    let mut d = Driver::new(routed);
    let n =
        allocations_in_steady_state(&mut d, b"GET /users/42/posts/7 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        d.responses().last().unwrap().body,
        b"42",
        "the routed handler really ran"
    );
    assert_eq!(
        n, 0,
        "{n} allocations for 17,000 routed requests with two params"
    );

    // Real sockets: the client reads into a fixed buffer and writes from a static one, so the
    // only allocations counted would be the server's.
    let srv = start_core(1); // the binary's routed configuration
    let mut s = connect(srv.local_addr());
    let batch = GET_PLAIN.repeat(16);
    let mut buf = vec![0u8; 1 << 16];
    let mut roundtrip_raw = |s: &mut std::net::TcpStream, req: &[u8], expect: usize| {
        s.write_all(req).unwrap();
        let mut got = 0;
        let mut seen = 0;
        while seen < expect {
            let k = s.read(&mut buf[got..]).unwrap();
            assert!(k > 0);
            seen += buf[got..got + k]
                .windows(13)
                .filter(|w| *w == b"Hello, World!")
                .count();
            got += k;
            if got > buf.len() - 4096 {
                got = 0;
            }
        }
    };
    for _ in 0..200 {
        roundtrip_raw(&mut s, GET_PLAIN, 1);
        roundtrip_raw(&mut s, &batch, 16);
    }
    let before = allocs();
    for _ in 0..2000 {
        roundtrip_raw(&mut s, GET_PLAIN, 1);
        roundtrip_raw(&mut s, &batch, 16);
    }
    let n = allocs() - before;
    assert_eq!(n, 0, "{n} allocations for 34,000 requests over a socket");
    drop(s);
}
