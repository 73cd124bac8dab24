//! The properties the fuzz targets check, as plain functions so that a regular `cargo test`
//! (engine/tests/fuzz_corpus.rs) replays every corpus file through the same checks on stable.

pub mod checks;
