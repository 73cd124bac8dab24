#![no_main]
//! Deferred responses through the sans-IO connection: the first 16 bytes steer read sizes and
//! which handles are completed or dropped when; the rest is the stream. Answers must keep request
//! order and nothing may stay in flight.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (control, stream) = data.split_at(data.len().min(16));
    strela_fuzz::checks::deferred(control, stream)
});
