//! The properties the fuzz targets check, as plain functions so that a regular `cargo test`
//! (engine/tests/fuzz_corpus.rs) replays every corpus file through the same checks on stable.
//! `ffi_checks` holds the C ABI's (replayed by the same test through the ffi source).

extern crate strela as engine;

pub mod checks;
pub mod ffi_checks;
