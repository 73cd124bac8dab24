//! Fuzz properties for strela. Each function panics when a property is violated; a panic is
//! what the fuzzer reports and what the corpus replay test turns into a failure.
//!
//! Depends only on `strela` (and `arbitrary` for the structured router input), so the engine's
//! corpus-replay test can include this file as a module.

use strela::proto::body::{decode_in_place, ChunkedDecoder, Progress};
use strela::proto::conn::{Conn, Context};
use strela::proto::head::{parse_head, HeaderScratch, Parsed};
use strela::router::{Lookup, Router};
use strela::{Limits, Request, Response};

/// request: parsing never panics, and whenever strela accepts a head, httparse agrees on
/// method, target, version and every header.
pub fn request(data: &[u8]) {
    let limits = Limits::default();
    let mut scratch = HeaderScratch::default();
    let Ok(Parsed::Complete(head)) = parse_head(data, &mut scratch, &limits) else {
        return;
    };
    let mut hs = [httparse::EMPTY_HEADER; 128];
    let mut r = httparse::Request::new(&mut hs);
    let n = match r.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!("strela accepted a head httparse did not: {other:?}"),
    };
    assert_eq!(n, head.head_len(), "head length");
    // Run the head through the public sans-IO path and compare the view field by field.
    let mut cx = Context::new(&limits);
    let mut conn = Conn::new();
    let want_method = r.method.unwrap().to_string();
    let want_target = r.path.unwrap().to_string();
    let want_version = r.version.unwrap();
    let want_headers: Vec<(String, Vec<u8>)> = r
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let checker = move |req: &Request<'_>, res: &mut Response<'_>| {
        assert_eq!(req.method(), want_method);
        let target = if req.has_query() {
            format!("{}?{}", req.path(), req.query())
        } else {
            req.path().to_string()
        };
        assert_eq!(target, want_target);
        assert_eq!(req.version() == strela::Version::Http11, want_version == 1);
        let got: Vec<(String, Vec<u8>)> = req
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        assert_eq!(got, want_headers);
        res.body_static(b"");
    };
    // Only this head goes in (not what follows it, which may be another request); with a body
    // declared the request is incomplete and the handler does not run, which is fine.
    conn.feed(&data[..n], &mut cx);
    conn.process(&checker, &mut cx);
}

/// A plain reference decoder for chunked bodies: the same strict rules, written as simply as
/// possible over a complete input. `Ok(Some((encoded_len, data)))`, `Ok(None)` = incomplete.
pub fn reference_chunked(input: &[u8], limit: u64) -> Result<Option<(usize, Vec<u8>)>, ()> {
    let mut i = 0;
    let mut out = Vec::new();
    let line = |i: usize| -> Result<Option<usize>, ()> {
        // index of the CR of the next CRLF at or after i; bare LF or CR are errors
        let mut j = i;
        while j < input.len() {
            match input[j] {
                b'\r' => {
                    return match input.get(j + 1) {
                        Some(b'\n') => Ok(Some(j)),
                        Some(_) => Err(()),
                        None => Ok(None),
                    }
                }
                b'\n' | 0 => return Err(()),
                _ => j += 1,
            }
        }
        Ok(None)
    };
    loop {
        let Some(cr) = line(i)? else {
            // incomplete, but a bad byte in what is there is still an error
            let digits = input[i..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if digits > 16 || (digits == 0 && i < input.len()) {
                return Err(());
            }
            if let Some(&b) = input.get(i + digits) {
                if b != b';' && b != b'\r' {
                    return Err(());
                }
            }
            return Ok(None);
        };
        let size_line = &input[i..cr];
        let digits = size_line
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if digits == 0 || digits > 16 || (digits < size_line.len() && size_line[digits] != b';') {
            return Err(());
        }
        let size = u64::from_str_radix(std::str::from_utf8(&size_line[..digits]).unwrap(), 16)
            .map_err(|_| ())?;
        i = cr + 2;
        if size == 0 {
            // trailers until an empty line
            loop {
                if matches!(input.get(i), Some(b' ' | b'\t')) {
                    return Err(()); // obs-fold in trailers
                }
                let Some(cr) = line(i)? else { return Ok(None) };
                if cr == i {
                    return Ok(Some((cr + 2, out)));
                }
                i = cr + 2;
            }
        }
        if (out.len() as u64).saturating_add(size) > limit {
            return Err(());
        }
        let size = size as usize;
        if input.len() < i + size + 2 {
            if input.len() > i + size && input[i + size] != b'\r' {
                return Err(());
            }
            return Ok(None);
        }
        out.extend_from_slice(&input[i..i + size]);
        i += size;
        if &input[i..i + 2] != b"\r\n" {
            return Err(());
        }
        i += 2;
    }
}

/// chunked: the decoder never panics, agrees with the reference decoder on complete valid
/// bodies and on refusing invalid ones, and gives the same answer fed whole or byte by byte.
pub fn chunked(data: &[u8]) {
    let limit = 1 << 16;
    let mut whole = ChunkedDecoder::new();
    let got = whole.advance(data, limit);
    let mut step = ChunkedDecoder::new();
    let mut stepped = Ok(Progress::Partial);
    for end in 0..=data.len() {
        stepped = step.advance(&data[..end], limit);
        if !matches!(stepped, Ok(Progress::Partial)) {
            break;
        }
    }
    assert_eq!(got, stepped, "whole vs byte by byte");
    let reference = reference_chunked(data, limit);
    match (&got, &reference) {
        (Ok(Progress::Done { encoded, decoded }), Ok(Some((r_enc, r_data)))) => {
            assert_eq!(encoded, r_enc, "encoded length");
            assert_eq!(*decoded as usize, r_data.len());
            let mut buf = data[..*encoded].to_vec();
            let n = decode_in_place(&mut buf);
            assert_eq!(&buf[..n], &r_data[..], "decoded data");
        }
        (Ok(Progress::Partial), Ok(None)) => {}
        (Err(_), Err(())) => {}
        // The decoder also bounds trailers (8 KiB) and the encoded size; the reference doesn't.
        (Err(strela::RequestError::HeadTooLarge | strela::RequestError::BodyTooLarge), _) => {}
        other => panic!("decoder and reference disagree: {other:?}"),
    }
}

/// Structured router input.
#[derive(Debug, arbitrary::Arbitrary)]
pub struct RouterInput {
    /// (method index, pattern) pairs to insert.
    pub routes: Vec<(u8, String)>,
    /// Paths to look up.
    pub paths: Vec<String>,
}

const METHODS: [&str; 4] = ["GET", "POST", "PUT", "X-CUSTOM-LONG-METHOD"];

/// router: insert never panics (conflicts are errors), lookup never panics, and for static
/// routes the result equals a plain map lookup.
pub fn router(input: &RouterInput) {
    let mut r = Router::new();
    let mut statics = std::collections::HashMap::new();
    for (i, (m, pattern)) in input.routes.iter().enumerate().take(64) {
        let method = METHODS[*m as usize % METHODS.len()];
        if r.insert(method, pattern, i).is_ok() && !pattern.contains(['{', '}']) {
            statics.insert((method, pattern.clone()), i);
        }
    }
    for path in input.paths.iter().take(64) {
        for method in METHODS {
            let got = match r.lookup(method, path) {
                Lookup::Found(f) => {
                    for (_, v) in f.params.iter() {
                        assert!(path.contains(v), "a param is a view of the path");
                    }
                    Some(*f.value)
                }
                _ => None,
            };
            if let Some(&want) = statics.get(&(method, path.clone())) {
                assert_eq!(got, Some(want), "static route {method} {path}");
            }
        }
    }
}

fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    res.header("X-Method", req.method());
    res.header("X-Path", req.path());
    res.body(req.body());
}

fn run_conn(chunks: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut cx = Context::new(&Limits {
        max_body_bytes: 1 << 16,
        ..Limits::default()
    });
    cx.date.refresh(0);
    let mut conn = Conn::new();
    let mut out = Vec::new();
    for c in chunks {
        if conn.is_closing() {
            break;
        }
        conn.feed(c, &mut cx);
        conn.process(&echo, &mut cx);
        let n = conn.output().len();
        out.extend_from_slice(conn.output());
        conn.consume(n);
        conn.release_idle(&mut cx.pool);
    }
    (strip_interim(&out), conn.is_closing())
}

/// Removes `100 Continue` interim responses: whether one is sent depends, by design, on whether
/// the body had already arrived, i.e. on how the bytes were split. Final responses may not.
fn strip_interim(out: &[u8]) -> Vec<u8> {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut v = Vec::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        if out[i..].starts_with(CONTINUE) {
            i += CONTINUE.len();
        } else {
            v.push(out[i]);
            i += 1;
        }
    }
    v
}

/// connection split-invariance: the same bytes fed in one piece and in arbitrary pieces give
/// byte-identical output (interim `100 Continue` responses aside) and the same close decision.
/// `splits` picks the cut points.
pub fn connection(data: &[u8], splits: &[u8]) {
    let whole = run_conn(&[data]);
    let mut cuts: Vec<usize> = splits
        .iter()
        .map(|&s| s as usize * data.len() / 256)
        .collect();
    cuts.push(data.len());
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut at = 0;
    for c in cuts {
        if c > at {
            pieces.push(&data[at..c]);
            at = c;
        }
    }
    let split = run_conn(&pieces);
    assert_eq!(
        whole.0,
        split.0,
        "output differs between one piece and {} pieces",
        pieces.len()
    );
    assert_eq!(whole.1, split.1, "close decision differs");
    // Byte by byte is the extreme split.
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    let one = run_conn(&bytes);
    assert_eq!(whole, one, "output differs fed byte by byte");
}
