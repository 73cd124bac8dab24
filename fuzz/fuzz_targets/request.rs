#![no_main]
//! Arbitrary bytes into the request-head parser; differential check against httparse.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strela_fuzz::checks::request(data));
