#![no_main]
//! `Range` parsing and URL-path normalisation of the static-file server.
libfuzzer_sys::fuzz_target!(|data: &[u8]| strela_fuzz::checks::files(data));
