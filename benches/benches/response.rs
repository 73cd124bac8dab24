//! response: encoding a response into a pooled buffer vs building it with `format!`/`Vec`,
//! and the per-worker Date cache vs formatting the date for every response.
//!
//! - `pooled`: strela's `Response` writing in place into a reused buffer (what every request does).
//! - `format`: the obvious way — `format!` the head into a fresh `String`, push the body into a
//!   fresh `Vec` (allocates per response).
//! - `date/cache_hit`: reading the pre-rendered block in the same second (a compare).
//! - `date/format_each_time`: rendering the IMF-fixdate from the clock for every response.

use criterion::{Criterion, Throughput};
use std::hint::black_box;
use strela::date::{format_imf_fixdate, DateCache};
use strela::unix_now;
use strela::{Response, Version};

fn bench(c: &mut Criterion) {
    let date = DateCache::new(unix_now());
    let mut g = c.benchmark_group("response");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(8192);
    let mut body = Vec::with_capacity(1024);
    g.bench_function("pooled", |b| {
        b.iter(|| {
            out.clear();
            let mut r = Response::new(&mut out, &mut body, &date, false);
            r.content_type("text/plain")
                .body_static(black_box(b"Hello, World!"));
            r.finish(true, Version::Http11);
            black_box(out.len())
        })
    });
    g.bench_function("format", |b| {
        b.iter(|| {
            let body: &[u8] = black_box(b"Hello, World!");
            let head = format!(
                "HTTP/1.1 200 OK\r\nServer: strela\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                std::str::from_utf8(date.date()).unwrap(),
                "text/plain",
                body.len()
            );
            let mut v = Vec::with_capacity(head.len() + body.len());
            v.extend_from_slice(head.as_bytes());
            v.extend_from_slice(body);
            black_box(v.len())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("date");
    let mut cache = DateCache::new(unix_now());
    let now = unix_now();
    g.bench_function("cache_hit", |b| {
        b.iter(|| {
            cache.refresh(black_box(now));
            black_box(cache.block()[30])
        })
    });
    g.bench_function("format_each_time", |b| {
        let mut d = [0u8; 29];
        b.iter(|| {
            format_imf_fixdate(unix_now(), &mut d);
            black_box(d[5])
        })
    });
    g.finish();
}

strela_benches::bench_main!(bench);
