//! The `strela` binary: serves the core endpoints (`/plaintext`, `/json`, `/healthz`).
//! A thin user of the library; mimalloc is its global allocator (feature `mimalloc`).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// strela: a high-performance HTTP/1.1 server serving /plaintext, /json and /healthz.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let workers = args
        .workers
        .unwrap_or_else(strela::server::default_workers)
        .max(1);
    let server = strela::Server::builder()
        .bind(SocketAddr::new(args.bind, args.port))
        .workers(workers);
    let handle = match strela::endpoints::routes(server).start() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("strela: cannot listen on {}:{}: {e}", args.bind, args.port);
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "strela {} listening on http://{} with {workers} worker(s)",
        env!("CARGO_PKG_VERSION"),
        handle.local_addr()
    );
    match handle.join() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("strela: worker failed: {e}");
            ExitCode::from(1)
        }
    }
}
