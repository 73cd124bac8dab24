//! strela-router: a method-aware radix-tree router on matchit.
//!
//! This crate owns URL-to-value routing and nothing else: no I/O and no HTTP types, so it can be
//! tested, benchmarked and fuzzed on its own. The router issue grows it; for now it is a stub that
//! names the crate in the workspace.

/// Placeholder re-export so the crate is usable as a dependency before the router lands.
pub use matchit;
