//! Looks paths up in the GitHub API route set with strela-router or raw matchit, for instruction
//! counts under callgrind (the criterion `router` bench is the wall-clock view):
//!
//! ```sh
//! cargo build --release -p strela-benches --example router_loop
//! valgrind --tool=callgrind target/release/examples/router_loop strela param1 100000
//! valgrind --tool=callgrind target/release/examples/router_loop matchit param1 100000
//! ```
//! Subtract a run with 0 iterations and divide by the iterations for instructions per lookup.

use std::hint::black_box;
use strela_router::{Lookup, Router};

use strela_benches::{CASES, ROUTES};

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "strela".into());
    let case = args.next().unwrap_or_else(|| "static".into());
    let iters: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let path = CASES.iter().find(|c| c.0 == case).expect("known case").1;
    let mut ours = Router::new();
    let mut raw = matchit::Router::new();
    for (i, r) in ROUTES.iter().enumerate() {
        ours.insert("GET", r, i).unwrap();
        raw.insert(*r, i).unwrap();
    }
    let mut acc = 0usize;
    for _ in 0..iters {
        acc += if which == "strela" {
            match ours.lookup(black_box("GET"), black_box(path)) {
                Lookup::Found(f) => *f.value + f.params.len(),
                _ => 1,
            }
        } else {
            match raw.at(black_box(path)) {
                Ok(m) => *m.value + m.params.len(),
                Err(_) => 1,
            }
        };
    }
    println!("{acc}");
}
