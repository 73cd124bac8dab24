//! strela serving the core endpoints through one plain handler (a `match` on the path) instead
//! of the router: the load bench's baseline for what routing costs.
//! Usage: `strela-direct PORT [WORKERS]`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8082);
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    strela::Server::builder()
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .workers(workers)
        .handler(strela::endpoints::core)
        .run()
}
