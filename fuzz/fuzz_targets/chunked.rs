#![no_main]
//! Arbitrary bytes into the chunked decoder; compared with a plain reference decoder.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strela_fuzz::checks::chunked(data));
