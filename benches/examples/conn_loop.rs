//! Drives the sans-IO connection core in a loop, for instruction counting under callgrind
//! (repeatable where wall-clock timings on a shared machine are not):
//!
//! ```sh
//! cargo build --release -p strela-benches --example conn_loop
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out target/release/examples/conn_loop plaintext 16 20000 [routed] [tfb]
//! callgrind_annotate /tmp/cg.out | head -30
//! ```
//! It prints the request count; divide the total instructions (minus a run with 0 iterations)
//! by it for instructions per request.

use std::hint::black_box;
use strela::testing::Driver;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "plaintext".into());
    let depth: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(16);
    let iters: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    // "routed": the binary's configuration (router in front); otherwise the plain `core` handler.
    // "tfb": TechEmpower's request headers (a long Accept, Connection: keep-alive), as wrk and
    // `../shared/tools/instr` send them; otherwise a minimal request.
    let flags: Vec<String> = args.collect();
    let routed = flags.iter().any(|f| f == "routed");
    let tfb = flags.iter().any(|f| f == "tfb");
    let mut app = strela::app::AppBuilder::new();
    app.route("GET", "/plaintext", strela::endpoints::plaintext);
    app.route("GET", "/json", strela::endpoints::json);
    app.route("GET", "/healthz", strela::endpoints::healthz);
    let handler: std::sync::Arc<dyn strela::Handler> = if routed {
        std::sync::Arc::from(app.build().expect("routes"))
    } else {
        std::sync::Arc::new(strela::endpoints::core)
    };
    let req = if tfb {
        format!(
            "GET /{path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/plain,text/html;q=0.9,\
             application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\n\
             Connection: keep-alive\r\n\r\n"
        )
    } else {
        format!("GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
    };
    let batch = req.repeat(depth);
    let mut d = Driver::new(handler);
    let mut total = 0;
    for _ in 0..iters {
        total += d.exchange(black_box(batch.as_bytes()));
    }
    println!("{total} requests");
}
