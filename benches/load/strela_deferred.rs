//! strela answering `/plaintext` and `/json` through deferred responses completed on a
//! `BlockingPool` thread: the load bench's measure of what deferring costs next to answering on
//! the worker. Usage: `strela-deferred PORT [WORKERS] [POOL_THREADS]`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use strela::{BlockingPool, Reply, Request, Response};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8083);
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    let threads: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    let pool = Arc::new(BlockingPool::new(threads, 64 * 1024)?);
    let (p1, p2) = (pool.clone(), pool);
    strela::Server::builder()
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .workers(workers)
        .get(
            "/plaintext",
            move |_: &Request<'_>, res: &mut Response<'_>| {
                p1.run(res.defer(), |_| {
                    Reply::ok()
                        .content_type("text/plain")
                        .body(&b"Hello, World!"[..])
                })
            },
        )
        .get("/json", move |_: &Request<'_>, res: &mut Response<'_>| {
            p2.run(res.defer(), |_| {
                let body = serde_json::to_vec(&serde_json::json!({"message": "Hello, World!"}))
                    .unwrap_or_default();
                Reply::ok().content_type("application/json").body(body)
            })
        })
        .run()
}
