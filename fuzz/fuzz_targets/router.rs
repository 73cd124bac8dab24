#![no_main]
//! Arbitrary route sets and paths (structured); static routes compared with a plain map.
libfuzzer_sys::fuzz_target!(
    |input: strela_fuzz::checks::RouterInput| strela_fuzz::checks::router(&input)
);
