//! ffi: what crossing the C boundary costs, in nanoseconds per crossing.
//!
//! - `rust_to_c/callback`: the engine calling a C handler through strela-ffi's `CHandler` (an
//!   empty C function), against `rust_to_rust/closure`, the same dispatch to an empty Rust
//!   handler through `&dyn Handler`.
//! - `c_to_rust/path` and `c_to_rust/header`: C code calling `strela_request_path` /
//!   `strela_request_header(req, "host")` on a live request, against the Rust accessors.
//!
//! Each sample runs its crossings inside one handler call on a real request (the sans-IO core),
//! so the request is the engine's own; the per-crossing time is the sample time divided by the
//! count. The strela-ffi source is compiled into this bench (`#[path]`), so the code measured is
//! the library's.

extern crate strela as engine;

#[allow(dead_code, unused_imports, unreachable_pub, missing_docs)]
#[path = "../../ffi/src/lib.rs"]
mod ffi;

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::Criterion;
use strela::testing::Driver;
use strela::{Handler, Request, Response};

// The opaque handle types are declared as `void` here: they are never dereferenced on this side.
extern "C" {
    fn bench_noop_handler(req: *const c_void, res: *mut c_void, userdata: *mut c_void) -> c_int;
    fn bench_path_loop(req: *const c_void, n: usize) -> usize;
    fn bench_header_loop(req: *const c_void, n: usize) -> usize;
}

/// `bench_noop_handler` typed as a `strela_handler` (the same C ABI: pointers are pointers).
fn noop_handler() -> ffi::strela_handler {
    type Typed = unsafe extern "C" fn(
        *const ffi::strela_request,
        *mut ffi::strela_response,
        *mut c_void,
    ) -> c_int;
    let f: unsafe extern "C" fn(*const c_void, *mut c_void, *mut c_void) -> c_int =
        bench_noop_handler;
    // SAFETY: both are C-ABI functions taking three pointers and returning int; only the
    // pointee types differ, which the ABI does not see.
    Some(unsafe {
        std::mem::transmute::<
            unsafe extern "C" fn(*const c_void, *mut c_void, *mut c_void) -> c_int,
            Typed,
        >(f)
    })
}

const REQ: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\n\r\n";

type Body = fn(&Request<'_>, &mut Response<'_>, u64);

thread_local! {
    static ITERS: Cell<u64> = const { Cell::new(0) };
    static BODY: Cell<Option<Body>> = const { Cell::new(None) };
    static ELAPSED: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// The handler every sample runs: times the current body over the current count.
fn timed(req: &Request<'_>, res: &mut Response<'_>) {
    let n = ITERS.with(|i| i.get());
    let body = BODY.with(|b| b.get()).expect("a body is set");
    let t0 = Instant::now();
    body(req, res, n);
    ELAPSED.with(|e| e.set(t0.elapsed()));
}

/// Runs `body(req, res, iters)` inside one handler call on a real request; returns its time.
fn measure(iters: u64, body: Body) -> Duration {
    ITERS.with(|i| i.set(iters));
    BODY.with(|b| b.set(Some(body)));
    let mut d = Driver::new(timed);
    assert_eq!(d.feed(REQ), 1);
    ELAPSED.with(|e| e.get())
}

static C_HANDLER: OnceLock<ffi::CHandler> = OnceLock::new();

fn c_handler() -> &'static ffi::CHandler {
    C_HANDLER.get_or_init(|| {
        ffi::CHandler::new(noop_handler(), std::ptr::null_mut()).expect("non-NULL handler")
    })
}

fn rust_noop(_: &Request<'_>, _: &mut Response<'_>) {}

/// One timed case: `body` runs `n` crossings inside a handler call; criterion divides by `n`.
fn case(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    body: Body,
) {
    g.bench_function(name, |b| b.iter_custom(|iters| measure(iters, body)));
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ffi");
    case(&mut g, "rust_to_c/callback", |req, res, n| {
        for _ in 0..n {
            c_handler().call(black_box(req), black_box(&mut *res));
        }
    });
    case(&mut g, "rust_to_rust/closure", |req, res, n| {
        for _ in 0..n {
            black_box(&rust_noop as &dyn Handler).call(black_box(req), black_box(&mut *res));
        }
    });
    case(&mut g, "c_to_rust/path", |req, _res, n| {
        let p: *const Request<'_> = req;
        // SAFETY: p is a live request for the whole call, as in a C handler.
        let sum = unsafe { bench_path_loop(p.cast(), n as usize) };
        assert_eq!(sum, n as usize * "/plaintext".len());
    });
    case(&mut g, "c_to_rust/header", |req, _res, n| {
        let p: *const Request<'_> = req;
        // SAFETY: as above.
        let sum = unsafe { bench_header_loop(p.cast(), n as usize) };
        assert_eq!(sum, n as usize * "127.0.0.1:8080".len());
    });
    case(&mut g, "rust/path", |req, _res, n| {
        let mut sum = 0;
        for _ in 0..n {
            sum += black_box(req).path().len();
        }
        assert_eq!(sum, n as usize * "/plaintext".len());
    });
    case(&mut g, "rust/header", |req, _res, n| {
        let mut sum = 0;
        for _ in 0..n {
            sum += black_box(req)
                .header(black_box("host"))
                .map_or(0, |v| v.len());
        }
        assert_eq!(sum, n as usize * "127.0.0.1:8080".len());
    });
    g.finish();
}

strela_benches::bench_main!(bench);
