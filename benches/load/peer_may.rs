//! The may_minihttp peer server for the load bench: one may worker, serving /plaintext and /json
//! the way may_minihttp's own TechEmpower example does (yarte's JSON serialiser into the response
//! body, a bare path match, mimalloc as allocator). Usage: `peer-may [PORT] [WORKERS]`.

use std::io;

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};
use yarte::Serialize;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Serialize)]
struct HelloMessage {
    message: &'static str,
}

struct Techempower;

impl HttpService for Techempower {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        match req.path() {
            "/json" => {
                rsp.header("Content-Type: application/json");
                HelloMessage {
                    message: "Hello, World!",
                }
                .to_bytes_mut(rsp.body_mut());
            }
            "/plaintext" => {
                rsp.header("Content-Type: text/plain").body("Hello, World!");
            }
            _ => {
                rsp.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

struct Factory;

impl HttpServiceFactory for Factory {
    type Service = Techempower;

    fn new_service(&self, _: usize) -> Self::Service {
        Techempower
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8081);
    let workers: usize = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    may::config()
        .set_workers(workers)
        .set_pool_capacity(500)
        .set_stack_size(0x1000);
    eprintln!("may_minihttp peer listening on 0.0.0.0:{port} with {workers} worker(s)");
    let server = Factory.start(("0.0.0.0", port)).expect("peer binds");
    server.join().expect("peer runs");
}
