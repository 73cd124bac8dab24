//! Chunked request bodies (RFC 9112 §7.1): an incremental, strict decoder with an explicit
//! state enum, and in-place decoding once the whole message is there.
//!
//! The decoder is fed the bytes after the head as they arrive and resumes where it stopped, so
//! a trickled body costs O(n) in total. It validates as it goes and accepts only:
//!
//! | rule | decision |
//! |---|---|
//! | chunk-size | 1–16 hex digits (`5 0`, `0x5`, `+5`, empty are errors); overflow is an error |
//! | line ends in chunk framing | CRLF only: a bare LF or a bare CR is an error (no leniency inside framing) |
//! | chunk extensions | `;name[=value]` after the size: skipped, but CR, LF and NUL inside are errors |
//! | data | exactly chunk-size bytes, then CRLF (anything else is an error) |
//! | trailers | header-like lines after the last chunk, skipped; at most 8 KiB in total |
//! | body limit | decoded bytes beyond `max_body_bytes` → 413; encoded bytes beyond twice that plus 64 KiB → 413 |
//!
//! When the last chunk and the trailers are complete, [`decode_in_place`] moves the data of all
//! chunks together at the start of the body region (data only ever moves backwards, so no byte
//! is overwritten before it is read) and the request body is that contiguous slice: no copy out
//! of the read buffer, no allocation.

use crate::error::RequestError;

const MAX_SIZE_DIGITS: u8 = 16;
const MAX_TRAILER_BYTES: u32 = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size (`digits` so far).
    Size { digits: u8 },
    /// After the size: in `;ext` bytes until CR.
    Ext,
    /// Saw the CR ending a size line; LF must follow.
    SizeLf,
    /// Inside chunk data, `left` bytes to go.
    Data { left: u64 },
    /// After chunk data: CR must follow.
    DataCr,
    /// After chunk data and CR: LF must follow.
    DataLf,
    /// After the last (0) chunk's size line: at the start of a trailer line or the final CRLF.
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// Saw the CR ending a trailer line; LF must follow.
    TrailerLf,
    /// Saw the CR of the final empty line; LF must follow.
    EndLf,
    /// Complete.
    Done,
}

/// Incremental chunked-body validator. 32 bytes.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Size being read.
    size: u64,
    /// Bytes of the encoded body consumed so far.
    pos: u32,
    /// Trailer bytes seen.
    trailer: u32,
    /// Decoded body bytes so far.
    decoded: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
            pos: 0,
            trailer: 0,
            decoded: 0,
        }
    }
}

/// What the decoder knows after a call to [`ChunkedDecoder::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed.
    Partial,
    /// The body is complete: `encoded` bytes of framing and data, `decoded` bytes of data.
    Done {
        /// Bytes of the encoded body (up to and including the final CRLF).
        encoded: usize,
        /// Bytes of data.
        decoded: u64,
    },
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of data seen so far.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Validates `body` (all body bytes received so far, from the body's first byte) from where
    /// the last call stopped. `limit` is the largest decoded body allowed.
    pub fn advance(&mut self, body: &[u8], limit: u64) -> Result<Progress, RequestError> {
        let mut i = self.pos as usize;
        let bad = RequestError::Malformed;
        while i < body.len() {
            let b = body[i];
            match self.state {
                State::Size { digits } => {
                    if let Some(d) = (b as char).to_digit(16) {
                        if digits == MAX_SIZE_DIGITS {
                            return Err(bad);
                        }
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(d)))
                            .ok_or(bad)?;
                        self.state = State::Size { digits: digits + 1 };
                    } else if digits == 0 {
                        return Err(bad);
                    } else if b == b'\r' {
                        self.state = State::SizeLf;
                    } else if b == b';' {
                        self.state = State::Ext;
                    } else {
                        return Err(bad); // includes spaces, bare LF, "0x"
                    }
                    i += 1;
                }
                State::Ext => {
                    match b {
                        b'\r' => self.state = State::SizeLf,
                        b'\n' | 0 => return Err(bad),
                        _ => {}
                    }
                    i += 1;
                }
                State::SizeLf => {
                    if b != b'\n' {
                        return Err(bad);
                    }
                    i += 1;
                    if self.size == 0 {
                        self.state = State::TrailerStart;
                    } else {
                        self.decoded = self
                            .decoded
                            .checked_add(self.size)
                            .ok_or(RequestError::BodyTooLarge)?;
                        if self.decoded > limit {
                            return Err(RequestError::BodyTooLarge);
                        }
                        self.state = State::Data { left: self.size };
                        self.size = 0;
                    }
                }
                State::Data { left } => {
                    let take = (body.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { left }
                    };
                }
                State::DataCr => {
                    if b != b'\r' {
                        return Err(bad);
                    }
                    self.state = State::DataLf;
                    i += 1;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return Err(bad);
                    }
                    self.state = State::Size { digits: 0 };
                    i += 1;
                }
                State::TrailerStart => {
                    match b {
                        b'\r' => self.state = State::EndLf,
                        b'\n' | 0 | b' ' | b'\t' => return Err(bad), // bare LF; obs-fold
                        _ => self.state = State::Trailer,
                    }
                    i += 1;
                    self.count_trailer()?;
                }
                State::Trailer => {
                    match b {
                        b'\r' => self.state = State::TrailerLf,
                        b'\n' | 0 => return Err(bad),
                        _ => {}
                    }
                    i += 1;
                    self.count_trailer()?;
                }
                State::TrailerLf => {
                    if b != b'\n' {
                        return Err(bad);
                    }
                    self.state = State::TrailerStart;
                    i += 1;
                }
                State::EndLf => {
                    if b != b'\n' {
                        return Err(bad);
                    }
                    i += 1;
                    self.state = State::Done;
                }
                State::Done => break,
            }
            if self.state == State::Done {
                break;
            }
        }
        // Framing is bounded too: tiny chunks or endless extensions cannot make the buffered
        // encoded body more than twice the data limit plus 64 KiB.
        if i as u64 > limit.saturating_mul(2) + 64 * 1024 {
            return Err(RequestError::BodyTooLarge);
        }
        self.pos = u32::try_from(i).map_err(|_| RequestError::BodyTooLarge)?;
        Ok(if self.state == State::Done {
            Progress::Done {
                encoded: i,
                decoded: self.decoded,
            }
        } else {
            Progress::Partial
        })
    }

    fn count_trailer(&mut self) -> Result<(), RequestError> {
        self.trailer += 1;
        if self.trailer > MAX_TRAILER_BYTES {
            return Err(RequestError::HeadTooLarge);
        }
        Ok(())
    }
}

/// Moves the data of a complete, already validated chunked body to the front of `body`;
/// returns the data length. `body` must be exactly the encoded body ([`Progress::Done`]'s
/// `encoded` bytes) and must have passed [`ChunkedDecoder::advance`].
pub fn decode_in_place(body: &mut [u8]) -> usize {
    let (mut r, mut w) = (0usize, 0usize);
    loop {
        // Size line: hex digits, then extensions up to CRLF.
        let mut size = 0usize;
        while let Some(d) = body.get(r).and_then(|&b| (b as char).to_digit(16)) {
            size = size * 16 + d as usize;
            r += 1;
        }
        while r < body.len() && body[r] != b'\n' {
            r += 1;
        }
        r += 1; // past LF
        if size == 0 || r >= body.len() {
            return w;
        }
        body.copy_within(r..r + size, w);
        w += size;
        r += size + 2; // data, CRLF
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(input: &[u8]) -> Result<Vec<u8>, RequestError> {
        let mut d = ChunkedDecoder::new();
        match d.advance(input, 1 << 20)? {
            Progress::Done { encoded, decoded } => {
                let mut buf = input[..encoded].to_vec();
                let n = decode_in_place(&mut buf);
                assert_eq!(n as u64, decoded);
                buf.truncate(n);
                Ok(buf)
            }
            Progress::Partial => Err(RequestError::NotImplemented), // marker for "incomplete"
        }
    }

    #[test]
    fn valid_bodies() {
        assert_eq!(decode(b"0\r\n\r\n").unwrap(), b"");
        assert_eq!(
            decode(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").unwrap(),
            b"hello world"
        );
        assert_eq!(
            decode(b"A\r\n0123456789\r\n0\r\n\r\n").unwrap(),
            b"0123456789"
        );
        assert_eq!(
            decode(b"a;ext=1;x\r\n0123456789\r\n0;last\r\n\r\n").unwrap(),
            b"0123456789"
        );
        assert_eq!(
            decode(b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n").unwrap(),
            b"abc"
        );
        assert_eq!(
            decode(b"000003\r\nabc\r\n0\r\n\r\n").unwrap(),
            b"abc",
            "leading zeros are hex digits"
        );
    }

    #[test]
    fn invalid_framing_is_refused() {
        for bad in [
            &b"5 0\r\nhello\r\n0\r\n\r\n"[..], // the pekko-http bug: "5 0" is not 0x50
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"\r\nhello\r\n0\r\n\r\n",
            b"g\r\n",
            b"5\nhello\r\n0\r\n\r\n",        // bare LF after size
            b"5\rhello\r\n0\r\n\r\n",        // bare CR after size
            b"5\r\nhelloXX0\r\n\r\n",        // no CRLF after data
            b"5\r\nhello\n0\r\n\r\n",        // bare LF after data
            b"5;a\rb\r\nhello\r\n0\r\n\r\n", // bare CR in an extension
            b"5;a\nb\r\nhello\r\n0\r\n\r\n",
            b"0\r\n\n",               // bare LF ending the body
            b"0\r\nX: 1\n\r\n",       // bare LF ending a trailer
            b"0\r\n folded\r\n\r\n",  // obs-fold in trailers
            b"11111111111111111\r\n", // 17 digits
            b"ffffffffffffffff\r\n",  // fits in u64 but above the limit
        ] {
            let r = decode(bad);
            assert!(
                matches!(
                    r,
                    Err(RequestError::Malformed) | Err(RequestError::BodyTooLarge)
                ),
                "{:?} gave {r:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn limits() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.advance(b"b\r\n", 10), Err(RequestError::BodyTooLarge));
        let mut body = b"1\r\na\r\n0\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'X', 9000));
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.advance(&body, 100),
            Err(RequestError::HeadTooLarge),
            "trailers are bounded"
        );
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let input =
            b"4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\nNEXT";
        let mut d = ChunkedDecoder::new();
        let mut done = None;
        for end in 1..=input.len() {
            if let Progress::Done { encoded, decoded } = d.advance(&input[..end], 1 << 20).unwrap()
            {
                done = Some((encoded, decoded));
                break;
            }
        }
        let (encoded, decoded) = done.expect("completes");
        assert_eq!(
            &input[encoded..],
            b"NEXT",
            "stops exactly at the end of the body"
        );
        let mut buf = input[..encoded].to_vec();
        let n = decode_in_place(&mut buf);
        assert_eq!(
            (n as u64, &buf[..n]),
            (decoded, &b"Wikipedia in\r\n\r\nchunks."[..])
        );
    }
}
