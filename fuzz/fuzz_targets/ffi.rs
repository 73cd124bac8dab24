#![no_main]
//! Arbitrary bytes through the C ABI: the standalone parser (checked against the engine) and
//! router lookups on a fixed route set.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strela_fuzz::ffi_checks::parse(data);
    strela_fuzz::ffi_checks::router_lookup(data);
});
