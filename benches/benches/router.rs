//! router: strela-router against raw matchit on the GitHub REST API route set (GET routes,
//! 111 patterns), for a static hit, a one-parameter hit, a multi-parameter hit, a catch-all hit
//! and a miss. strela-router adds the method lookup (a scan of the route's methods) on top of
//! matchit's tree walk; target ≤ 10 % overhead.

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use strela_router::{Lookup, Router};

use strela_benches::{CASES, ROUTES};

fn bench(c: &mut Criterion) {
    let mut ours = Router::new();
    let mut raw = matchit::Router::new();
    for (i, r) in ROUTES.iter().enumerate() {
        ours.insert("GET", r, i)
            .expect("route set has no conflicts");
        raw.insert(*r, i).expect("route set has no conflicts");
    }
    assert!(ROUTES.len() >= 100);
    for (name, path) in CASES {
        let mut g = c.benchmark_group(format!("router/{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("strela_router", |b| {
            b.iter(|| match ours.lookup(black_box("GET"), black_box(path)) {
                Lookup::Found(f) => *f.value + f.params.len(),
                _ => usize::MAX,
            })
        });
        g.bench_function("matchit", |b| {
            b.iter(|| match raw.at(black_box(path)) {
                Ok(m) => *m.value + m.params.len(),
                Err(_) => usize::MAX,
            })
        });
        g.finish();
    }
}

strela_benches::bench_main!(bench);
