//! zero-copy: reading method, path and headers as `&str`/`&[u8]` views borrowed from the read
//! buffer (strela's `Request`) vs copying them into owned `String`s (what a request type with
//! owned fields costs per request).

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use strela::testing::Driver;
use strela::{Request, Response};

const REQ: &[u8] =
    b"GET /api/users/42?fields=name HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: application/json\r\nX-Request-Id: 0f3c\r\n\r\n";

#[allow(dead_code)]
struct Owned {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
}

fn views(req: &Request<'_>, res: &mut Response<'_>) {
    let mut n = req.method().len() + req.path().len() + req.query().len();
    for (k, v) in req.headers() {
        n += k.len() + v.len();
    }
    black_box(n);
    res.body_static(b"");
}

fn owned(req: &Request<'_>, res: &mut Response<'_>) {
    let o = Owned {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query().to_string(),
        headers: req
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect(),
    };
    black_box(&o);
    res.body_static(b"");
}

fn run(c: &mut Criterion, name: &str, handler: fn(&Request<'_>, &mut Response<'_>)) {
    let mut d = Driver::new(handler);
    let mut g = c.benchmark_group("zerocopy");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| b.iter(|| d.exchange(black_box(REQ))));
    g.finish();
}

fn bench(c: &mut Criterion) {
    run(c, "borrowed_views", views);
    run(c, "owned_strings", owned);
}

strela_benches::bench_main!(bench);
