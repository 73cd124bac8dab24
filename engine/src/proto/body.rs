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
//! | chunk extensions | exactly `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )` with `ext-name` a token and `ext-val` a token or a quoted-string (RFC 9112 §7.1.1): validated and skipped; anything else is an error |
//! | data | exactly chunk-size bytes, then CRLF (anything else is an error) |
//! | trailers | field lines (`token ":" field-value`, RFC 9112 §7.1.2) after the last chunk, validated and skipped; a line without a colon, obs-fold or a control byte is an error; at most 8 KiB in total |
//! | body limit | decoded bytes beyond `max_body_bytes` → 413; encoded bytes beyond twice that plus 64 KiB → 413 |
//!
//! When the last chunk and the trailers are complete, [`decode_in_place`] moves the data of all
//! chunks together at the start of the body region (data only ever moves backwards, so no byte
//! is overwritten before it is read) and the request body is that contiguous slice: no copy out
//! of the read buffer, no allocation.

use crate::proto::error::RequestError;

const MAX_SIZE_DIGITS: u8 = 16;
const MAX_TRAILER_BYTES: u32 = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size (`digits` so far).
    Size { digits: u8 },
    /// In a chunk extension (RFC 9112 §7.1.1); see [`Ext`].
    Ext(Ext),
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
    /// In a trailer line's field name.
    TrailerName,
    /// In a trailer line's value (after the colon).
    TrailerValue,
    /// Saw the CR ending a trailer line; LF must follow.
    TrailerLf,
    /// Saw the CR of the final empty line; LF must follow.
    EndLf,
    /// Complete.
    Done,
}

/// Where a chunk extension is: what may come next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// Whitespace after the size or a value: only more of it or `;` may follow.
    SemiWs,
    /// After `;`: whitespace, then a name.
    NameStart,
    /// In a name.
    Name,
    /// Whitespace after a name: `=`, `;` or more whitespace.
    NameWs,
    /// After `=`: whitespace, then a token or a quoted string.
    ValueStart,
    /// In a token value.
    Token,
    /// In a quoted string.
    Quoted,
    /// After a backslash in a quoted string.
    QuotedPair,
    /// After a quoted string's closing quote.
    AfterQuoted,
}

fn is_tchar(b: u8) -> bool {
    strela_router::is_tchar(b)
}

/// qdtext: HTAB, SP, `!`, `#`–`[`, `]`–`~`, obs-text.
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

impl Ext {
    /// The next state after `b`, `Ok(None)` at the CR that ends the size line, or an error.
    fn next(self, b: u8) -> Result<Option<Ext>, RequestError> {
        let ws = matches!(b, b' ' | b'\t');
        let next = match self {
            Ext::SemiWs if ws => Ext::SemiWs,
            Ext::SemiWs if b == b';' => Ext::NameStart,
            Ext::NameStart if ws => Ext::NameStart,
            Ext::NameStart if is_tchar(b) => Ext::Name,
            Ext::Name if is_tchar(b) => Ext::Name,
            Ext::Name | Ext::Token | Ext::AfterQuoted if b == b'\r' => return Ok(None),
            Ext::Name | Ext::NameWs | Ext::Token | Ext::AfterQuoted if b == b';' => Ext::NameStart,
            Ext::Name | Ext::NameWs if ws => Ext::NameWs,
            Ext::Name | Ext::NameWs if b == b'=' => Ext::ValueStart,
            Ext::ValueStart if ws => Ext::ValueStart,
            Ext::ValueStart if b == b'"' => Ext::Quoted,
            Ext::ValueStart if is_tchar(b) => Ext::Token,
            Ext::Token if is_tchar(b) => Ext::Token,
            Ext::Token | Ext::AfterQuoted if ws => Ext::SemiWs,
            Ext::Quoted if b == b'"' => Ext::AfterQuoted,
            Ext::Quoted if b == b'\\' => Ext::QuotedPair,
            Ext::Quoted if is_qdtext(b) => Ext::Quoted,
            Ext::QuotedPair
                if b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80 =>
            {
                Ext::Quoted
            }
            _ => return Err(RequestError::Malformed),
        };
        Ok(Some(next))
    }
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

    /// Validates `body` (all body bytes received so far, from the body's first byte) from where
    /// the last call stopped. `limit` is the largest decoded body allowed.
    pub fn advance(&mut self, body: &[u8], limit: u64) -> Result<Progress, RequestError> {
        let i = self.run(body, self.pos as usize, limit, u64::MAX, |_, _| {})?;
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

    /// Decodes a body that is streamed rather than buffered: `input` is the bytes received
    /// since the last call (from where that call stopped consuming). Hands at most `max_data`
    /// bytes of data to `on_data` (as subslices of `input`) and returns how many bytes of
    /// `input` it consumed and whether the body is complete. `limit` bounds the decoded total.
    pub fn stream(
        &mut self,
        input: &[u8],
        limit: u64,
        max_data: u64,
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<(usize, bool), RequestError> {
        let used = self.run(input, 0, limit, max_data, |at, n| {
            on_data(&input[at..at + n])
        })?;
        Ok((used, self.state == State::Done))
    }

    /// The state machine: consumes `body` from `i`, reports each run of data as
    /// `(start, len)` (at most `max_data` bytes in all) and returns where it stopped.
    #[inline]
    fn run(
        &mut self,
        body: &[u8],
        mut i: usize,
        limit: u64,
        mut max_data: u64,
        mut on_data: impl FnMut(usize, usize),
    ) -> Result<usize, RequestError> {
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
                        self.state = State::Ext(Ext::NameStart);
                    } else if b == b' ' || b == b'\t' {
                        // BWS: only before a `;` ("5 0" is not a size).
                        self.state = State::Ext(Ext::SemiWs);
                    } else {
                        return Err(bad); // bare LF, "0x", other bytes
                    }
                    i += 1;
                }
                State::Ext(e) => {
                    self.state = match e.next(b)? {
                        Some(e) => State::Ext(e),
                        None => State::SizeLf,
                    };
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
                    let take = ((body.len() - i) as u64).min(left).min(max_data) as usize;
                    if take == 0 {
                        break; // the consumer has no room for more data now
                    }
                    on_data(i, take);
                    max_data -= take as u64;
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
                        b if is_tchar(b) => self.state = State::TrailerName,
                        _ => return Err(bad), // bare LF, obs-fold, a line that is no field
                    }
                    i += 1;
                    self.count_trailer()?;
                }
                State::TrailerName => {
                    match b {
                        b':' => self.state = State::TrailerValue,
                        b if is_tchar(b) => {}
                        _ => return Err(bad), // no colon, whitespace before it
                    }
                    i += 1;
                    self.count_trailer()?;
                }
                State::TrailerValue => {
                    match b {
                        b'\r' => self.state = State::TrailerLf,
                        b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => {}
                        _ => return Err(bad), // CTL, DEL, bare LF
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
        Ok(i)
    }

    fn count_trailer(&mut self) -> Result<(), RequestError> {
        self.trailer += 1;
        if self.trailer > MAX_TRAILER_BYTES {
            return Err(RequestError::HeadTooLarge);
        }
        Ok(())
    }
}

/// Why a streamed request body could not be completed: what its reader is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The chunked framing is malformed.
    Malformed,
    /// The body is larger than the route's limit.
    TooLarge,
    /// The connection closed before the end: the client left, or the server closed it.
    Closed,
    /// The body came in slower than `Limits::min_body_rate`; the connection closed.
    TimedOut,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::Malformed => "the request body's framing is malformed",
            BodyError::TooLarge => "the request body is larger than the route's limit",
            BodyError::Closed => "the connection closed before the end of the request body",
            BodyError::TimedOut => "the request body came in too slowly",
        })
    }
}

impl std::error::Error for BodyError {}

impl From<RequestError> for BodyError {
    /// What a framing error of the chunked decoder means to the reader.
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::BodyTooLarge => BodyError::TooLarge,
            _ => BodyError::Malformed,
        }
    }
}

/// Where a streamed request body goes, part by part, as it arrives (the service layer's body
/// reader implements it). The connection never hands it more than [`BodySink::room`]; while
/// that is zero, reading from the socket pauses. A sink that reports no room, or is filled by
/// a push, wakes the connection once it has room again (the rest of the body may already be
/// buffered, with no socket event to come). Having used up a non-zero `room()` obliges
/// nobody: the connection asks again and stops only at zero, since a reader on another thread
/// may have emptied the window in between.
pub trait BodySink: std::fmt::Debug {
    /// Bytes it takes now.
    fn room(&self) -> usize;
    /// The largest body it accepts (more is refused: the body ends with an error).
    fn limit(&self) -> u64;
    /// The next decoded bytes of the body (at most `room()`).
    fn push(&mut self, data: &[u8]);
    /// The body ended: `Ok` at its end, an error when it cannot be completed (malformed, too
    /// large, the connection closed or timed out). Called at most once.
    fn end(&mut self, result: Result<(), BodyError>);
    /// Whether nobody reads any more: the rest of the body is drained or the connection closed.
    fn abandoned(&self) -> bool;
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
    fn streamed_decoding_equals_whole_at_every_cap() {
        let input = b"5;a=b\r\nhello\r\n1\r\n \r\nb\r\nworld again\r\n0\r\nX: y\r\n\r\n";
        for cap in [1u64, 2, 3, 7, 64] {
            for step in [1usize, 2, 5, input.len()] {
                let mut dec = ChunkedDecoder::new();
                let (mut fed, mut got, mut done) = (0usize, Vec::new(), false);
                let mut buffered = 0usize; // bytes received but not consumed
                while !done {
                    buffered = (buffered + step).min(input.len() - fed);
                    let (used, d) = dec
                        .stream(&input[fed..fed + buffered], 1 << 20, cap, |b| {
                            got.extend_from_slice(b)
                        })
                        .unwrap();
                    assert!(used <= buffered);
                    fed += used;
                    buffered -= used;
                    done = d;
                    assert!(
                        fed < input.len() || done,
                        "stalled at cap {cap} step {step}"
                    );
                }
                assert_eq!(fed, input.len());
                assert_eq!(got, b"hello world again");
            }
        }
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.stream(b"10\r\n", 15, 64, |_| {}),
            Err(RequestError::BodyTooLarge)
        );
        let mut dec = ChunkedDecoder::new();
        assert_eq!(
            dec.stream(b"5\n", 15, 64, |_| {}),
            Err(RequestError::Malformed)
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
