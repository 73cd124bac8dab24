#![no_main]
//! The flagship: a byte stream through the sans-IO connection, whole vs split vs byte by byte.
//! The first 8 bytes choose the split points (and the room figures of a stingy body sink); the
//! rest is the stream.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (splits, stream) = data.split_at(data.len().min(8));
    strela_fuzz::checks::connection(stream, splits);
    strela_fuzz::checks::streamed(stream, splits);
    strela_fuzz::checks::stingy_sink(stream, splits)
});
