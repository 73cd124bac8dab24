//! The `strela` binary: serves the core endpoints (`/plaintext`, `/json`, `/healthz`).
//! A thin user of the library; mimalloc is its global allocator (feature `mimalloc`).
//!
//! Exit codes: 0 stopped cleanly (SIGINT/SIGTERM, drained); 1 could not listen, or a worker
//! failed; 2 bad command line; 130 a second signal cut the drain short.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};

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
    // Every connection is a descriptor: take the hard limit, not the usual 1,024 soft limit.
    let fds = strela::sys::raise_fd_limit();
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
    // SIGINT/SIGTERM: drain (stop accepting, finish requests in progress, close idle
    // connections, exit 0); a second signal exits at once with 130.
    let stopper = handle.stopper();
    match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                let mut seen = 0;
                for sig in signals.forever() {
                    seen += 1;
                    if seen == 1 {
                        eprintln!("strela: signal {sig}: draining (send it again to exit at once)");
                        stopper.stop();
                    } else {
                        eprintln!("strela: second signal: exiting now");
                        std::process::exit(130);
                    }
                }
            });
        }
        Err(e) => eprintln!("strela: cannot install signal handlers ({e})"),
    }
    eprintln!(
        "strela {} listening on http://{} with {workers} worker(s), fd limit {fds}",
        env!("CARGO_PKG_VERSION"),
        handle.local_addr()
    );
    match handle.join() {
        Ok(()) => {
            eprintln!("strela: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("strela: worker failed: {e}");
            ExitCode::from(1)
        }
    }
}
