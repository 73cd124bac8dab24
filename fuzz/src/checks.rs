//! Fuzz properties for strela. Each function panics when a property is violated; a panic is
//! what the fuzzer reports and what the corpus replay test turns into a failure.
//!
//! Depends only on `strela` (and `arbitrary` for the structured router input), so the engine's
//! corpus-replay test can include this file as a module.

use strela::proto::body::{decode_in_place, BodySink, ChunkedDecoder, Progress};
use strela::proto::conn::{Answer, Conn, Context, Step};
use strela::proto::grammar::Scan;
use strela::proto::head::{parse_head, parse_head_general, resume, HeaderScratch, Parsed};
use strela::router::{Lookup, Router};
use strela::service::request::head_view;
use strela::testing::Driver;
use strela::{Limits, Request, Response};

/// The verdict on a head at the start of `data` in a comparable form: the head, its path,
/// query and fields through the public view, or "partial", or the error.
fn verdict(
    data: &[u8],
    r: Result<Parsed, strela::RequestError>,
    scratch: &HeaderScratch,
) -> String {
    match r {
        Ok(Parsed::Complete(h)) => {
            let meta = strela::RequestMeta::default();
            let req = head_view(data, &h, scratch, &meta);
            let fields: Vec<(String, Vec<u8>)> = req
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_vec()))
                .collect();
            format!("complete {h:?} {} {} {fields:?}", req.path(), req.query())
        }
        Ok(Parsed::Partial(_)) => "partial".into(),
        Err(e) => format!("error {e:?}"),
    }
}

/// request: parsing never panics; the fast path and the general scanner agree on every input;
/// the verdict on a prefix never changes once decided (an error stays that error, a complete
/// head stays that head) and resuming a partial scan at any split gives the whole input's
/// verdict; and whenever strela accepts a head, httparse agrees on method, target, version and
/// every header.
pub fn request(data: &[u8]) {
    let limits = Limits::default();
    let mut scratch = HeaderScratch::default();
    let r = parse_head(data, &mut scratch, &limits);
    let whole = verdict(data, r, &scratch);
    let r = parse_head_general(data, &mut scratch, &limits);
    let general = verdict(data, r, &scratch);
    assert_eq!(whole, general, "fast path and general scanner disagree");
    // Prefixes (bounded: the property is quadratic).
    let mut decided: Option<String> = None;
    for k in 1..=data.len().min(300) {
        let r = parse_head(&data[..k], &mut scratch, &limits);
        let v = verdict(&data[..k], r, &scratch);
        if let Some(d) = &decided {
            assert_eq!(&v, d, "the verdict changed at prefix {k}");
        } else if v != "partial" {
            decided = Some(v.clone());
        }
        // Resume from this split over the rest.
        if let Ok(Parsed::Partial(c)) = parse_head(&data[..k], &mut scratch, &limits) {
            let resumed = match resume(data, c, &limits) {
                Ok(Scan::Partial(_)) => "partial".to_string(),
                Ok(Scan::Complete(_)) => {
                    let r = parse_head(data, &mut scratch, &limits);
                    verdict(data, r, &scratch)
                }
                Err(e) => format!("error {e:?}"),
            };
            assert_eq!(
                resumed, whole,
                "resuming at {k} differs from the whole input"
            );
        }
    }
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
    let want_method = r.method.unwrap().to_string();
    // strela routes an absolute-form target by its path (`/` when it has none): compare that.
    let want_target = {
        let t = r.path.unwrap();
        if t.starts_with('/')
            || t == "*"
            || strela::Method::from_bytes(r.method.unwrap().as_bytes()) == strela::Method::Connect
        {
            t.to_string()
        } else {
            let after = &t[t.find("//").map_or(0, |i| i + 2)..];
            let rest = &after[after.find(['/', '?']).unwrap_or(after.len())..];
            if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            }
        }
    };
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
    let mut d = Driver::with_limits(checker, &limits);
    d.feed(&data[..n]);
}

/// Checks a chunk-extension string (everything between the size and the CR) against RFC 9112
/// §7.1.1 by recursive descent: `Ok(true)` valid, `Ok(false)` a valid prefix that ended early
/// (only when `complete` is false), `Err` invalid.
fn reference_ext(ext: &[u8], complete: bool) -> Result<bool, ()> {
    let tchar = |b: u8| strela::router::is_tchar(b);
    let ws = |b: u8| b == b' ' || b == b'\t';
    let mut i = 0;
    // Out of input: fine as a prefix, an error for a complete line unless at an element's end.
    macro_rules! eof {
        ($at_end_ok:expr) => {
            if i >= ext.len() {
                return if complete {
                    if $at_end_ok {
                        Ok(true)
                    } else {
                        Err(())
                    }
                } else {
                    Ok(false)
                };
            }
        };
    }
    loop {
        // An element: BWS ";" BWS name [ BWS "=" BWS value ]
        eof!(true);
        while i < ext.len() && ws(ext[i]) {
            i += 1;
        }
        eof!(false);
        if ext[i] != b';' {
            return Err(());
        }
        i += 1;
        while i < ext.len() && ws(ext[i]) {
            i += 1;
        }
        eof!(false);
        let name_start = i;
        while i < ext.len() && tchar(ext[i]) {
            i += 1;
        }
        if i == name_start {
            eof!(false);
            return Err(());
        }
        eof!(true);
        let after_name = i;
        while i < ext.len() && ws(ext[i]) {
            i += 1;
        }
        eof!(false);
        if ext[i] != b'=' {
            i = after_name; // no value: the next element (or an error) starts here
            continue;
        }
        i += 1;
        while i < ext.len() && ws(ext[i]) {
            i += 1;
        }
        eof!(false);
        if ext[i] == b'"' {
            i += 1;
            loop {
                eof!(false);
                match ext[i] {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        i += 1;
                        eof!(false);
                        let b = ext[i];
                        if !(ws(b) || (0x21..=0x7e).contains(&b) || b >= 0x80) {
                            return Err(());
                        }
                        i += 1;
                    }
                    b if ws(b)
                        || b == 0x21
                        || (0x23..=0x5b).contains(&b)
                        || (0x5d..=0x7e).contains(&b)
                        || b >= 0x80 =>
                    {
                        i += 1
                    }
                    _ => return Err(()),
                }
            }
        } else {
            let v = i;
            while i < ext.len() && tchar(ext[i]) {
                i += 1;
            }
            if i == v {
                return Err(());
            }
        }
    }
}

/// Checks one trailer field line (without its CRLF): `token ":" *( HTAB / SP / VCHAR /
/// obs-text )`. `complete: false` accepts a valid prefix.
fn reference_trailer(line: &[u8], complete: bool) -> Result<(), ()> {
    let name = line
        .iter()
        .take_while(|&&b| strela::router::is_tchar(b))
        .count();
    if name == line.len() {
        return if complete || name == 0 && line.is_empty() {
            Err(())
        } else {
            Ok(())
        };
    }
    if name == 0 || line[name] != b':' {
        return Err(());
    }
    let value_ok = line[name + 1..]
        .iter()
        .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80);
    if value_ok {
        Ok(())
    } else {
        Err(())
    }
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
    // A size line: 1-16 hex digits, then a valid chunk-ext.
    let size_line = |l: &[u8], complete: bool| -> Result<Option<u64>, ()> {
        let digits = l.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits > 16 || (digits == 0 && (complete || !l.is_empty())) {
            return Err(());
        }
        if reference_ext(&l[digits..], complete)? && complete {
            return u64::from_str_radix(std::str::from_utf8(&l[..digits]).unwrap(), 16)
                .map(Some)
                .map_err(|_| ());
        }
        Ok(None)
    };
    loop {
        let Some(cr) = line(i)? else {
            // Incomplete, but a bad byte in what is there is still an error; a CR at the very
            // end can only end the line, so the line before it must be whole.
            if input.last() == Some(&b'\r') {
                size_line(&input[i..input.len() - 1], true)?;
            } else {
                size_line(&input[i..], false)?;
            }
            return Ok(None);
        };
        let size = size_line(&input[i..cr], true)?.ok_or(())?;
        i = cr + 2;
        if size == 0 {
            // trailers until an empty line
            loop {
                let Some(cr) = line(i)? else {
                    if input.last() == Some(&b'\r') {
                        if input.len() - 1 > i {
                            reference_trailer(&input[i..input.len() - 1], true)?;
                        }
                    } else if input.len() > i {
                        reference_trailer(&input[i..], false)?;
                    }
                    return Ok(None);
                };
                if cr == i {
                    return Ok(Some((cr + 2, out)));
                }
                reference_trailer(&input[i..cr], true)?;
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
    // Streamed decoding (a body handed to a reader as it arrives), with a reader whose room
    // varies from 1 byte up: the same verdict, and the same data when complete.
    let cap = 1 + (data.first().copied().unwrap_or(0) as u64 % 17);
    let mut dec = ChunkedDecoder::new();
    let (mut at, mut out, mut verdict) = (0usize, Vec::new(), None);
    while verdict.is_none() {
        match dec.stream(&data[at..], limit, cap, |d| out.extend_from_slice(d)) {
            Ok((_, true)) => verdict = Some(Ok(true)),
            Ok((0, false)) => verdict = Some(Ok(false)), // needs more bytes than there are
            Ok((used, false)) => at += used,
            Err(e) => verdict = Some(Err(e)),
        }
    }
    match (&got, verdict.unwrap()) {
        (Ok(Progress::Done { decoded, .. }), Ok(true)) => {
            assert_eq!(out.len() as u64, *decoded, "streamed data length")
        }
        (Ok(Progress::Partial), Ok(false)) => {}
        (Err(a), Err(b)) => assert_eq!(*a, b, "streamed error"),
        // The buffered decoder also bounds the encoded size it holds; a stream holds none.
        (Err(strela::RequestError::BodyTooLarge), _) => {}
        other => panic!("buffered and streamed decoding disagree: {other:?}"),
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
    let mut d = Driver::with_limits(
        echo,
        &Limits {
            max_body_bytes: 1 << 16,
            ..Limits::default()
        },
    );
    for c in chunks {
        if d.is_closing() {
            break;
        }
        d.feed(c);
    }
    (strip_interim(&d.out), d.is_closing())
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
    // Early rejection: once a prefix of the first head is refused by the grammar, the
    // connection has answered and closed on exactly that prefix — it never waits for a blank
    // line or for more bytes.
    if !data.is_empty() && !matches!(data[0], b'\r' | b'\n') {
        let limits = Limits {
            max_body_bytes: 1 << 16,
            ..Limits::default()
        };
        let mut scratch = HeaderScratch::default();
        let first_bad = (1..=data.len().min(512))
            .find(|&k| parse_head(&data[..k], &mut scratch, &limits).is_err());
        if let Some(k) = first_bad {
            let (out, closed) = run_conn(&[&data[..k]]);
            assert!(
                closed
                    && (out.starts_with(b"HTTP/1.1 4")
                        || out.starts_with(b"HTTP/1.1 5")
                        || out.starts_with(b"\0\0\0\x04")),
                "refused by the grammar at byte {k} but the connection had not answered: {:?}",
                String::from_utf8_lossy(&out)
            );
        }
    }
}

/// A sink whose room is never zero (its reader, on another thread in life, keeps taking), in
/// amounts the fuzzer picks.
#[derive(Debug)]
struct Stingy {
    rooms: Vec<usize>,
    asked: std::cell::Cell<usize>,
    /// Room left of the last figure given: pushes never exceed it.
    left: std::cell::Cell<usize>,
}

impl BodySink for Stingy {
    fn room(&self) -> usize {
        let i = self.asked.get();
        self.asked.set(i + 1);
        let room = self.rooms[i % self.rooms.len()];
        self.left.set(room);
        room
    }
    fn limit(&self) -> u64 {
        1 << 20
    }
    fn push(&mut self, data: &[u8]) {
        let left = self.left.get();
        assert!(
            data.len() <= left,
            "pushed {} bytes into {left} of room",
            data.len()
        );
        self.left.set(left - data.len());
    }
    fn end(&mut self, _result: Result<(), strela::proto::body::BodyError>) {}
    fn abandoned(&self) -> bool {
        false
    }
}

/// Feeding streamed bodies: with a sink that always has some room (however little), the
/// connection never stops with body bytes left in its read buffer — only a sink that says it
/// has no room owes it a wake, so stopping earlier would strand them (the bytes may be the
/// last the client sends). `rooms` picks the room figures, `data` is the stream, fed whole.
pub fn stingy_sink(data: &[u8], rooms: &[u8]) {
    let rooms: Vec<usize> = if rooms.is_empty() {
        vec![1]
    } else {
        rooms.iter().map(|&r| 1 + usize::from(r) * 3).collect()
    };
    let limits = Limits {
        max_body_bytes: 64,
        ..Limits::default()
    };
    let mut cx = Context::new(&limits, 0);
    let mut c: Conn = Conn::new();
    c.feed(data, &mut cx);
    let sent = || Answer::Sent {
        status: 200,
        keep_alive: true,
        deferral_refused: false,
    };
    for _ in 0..10_000 {
        let step = c.step(&mut cx, |_| sent());
        match step {
            Step::Head => {
                let sink = Stingy {
                    rooms: rooms.clone(),
                    asked: std::cell::Cell::new(0),
                    left: std::cell::Cell::new(0),
                };
                let _ = c.answer_head(&mut cx, |_| (sent(), Some(Box::new(sink))));
            }
            Step::Sent | Step::Later | Step::Again => {}
            Step::Refused(_) => return,
            Step::Wait => {
                assert!(
                    !(c.streaming_body() && c.mid_request()),
                    "stopped feeding a streamed body with bytes buffered and room in the sink"
                );
                return;
            }
        }
    }
}

/// Streamed request bodies: the same bytes to a route that streams bodies and echoes them
/// (`stream_body` + the binary's `/echo`), in one piece, in the given pieces and byte by byte.
/// Nothing panics, every output is responses, and the echoed bodies of the complete responses
/// agree however the bytes were split (chunk boundaries of the echo may differ; the bytes not).
pub fn streamed(data: &[u8], splits: &[u8]) {
    let run = |chunks: &[&[u8]]| {
        let limits = Limits {
            max_body_bytes: 64,
            ..Limits::default()
        };
        // Which answers are to HEAD (no body, whatever the framing headers say): the echo
        // runs once per answered request, in order.
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = heads.clone();
        let mut d = Driver::with_limits(
            strela::stream_body(1 << 16, move |req: &Request<'_>, res: &mut Response<'_>| {
                seen.lock().unwrap().push(req.method() == "HEAD");
                strela::endpoints::echo(req, res)
            }),
            &limits,
        );
        for c in chunks {
            if d.is_closing() {
                break;
            }
            d.feed(c);
        }
        // Not `strip_interim`: the echoed bodies may hold the bytes of a `100 Continue`, and
        // the echo's chunk framing (which differs with the split) decides whether they lie
        // together in the output. `parse_responses` skips interim responses where they are:
        // between responses.
        let out = std::mem::take(&mut d.out);
        // A client speaking HTTP/2 with prior knowledge is answered in frames (a SETTINGS
        // frame, then GOAWAY), not with a status line.
        let h2 = data.starts_with(b"PRI * HTTP/2.0") && out.starts_with(&[0, 0, 0, 4]);
        assert!(
            out.is_empty() || out.starts_with(b"HTTP/1.1 ") || h2,
            "not a response: {out:?}"
        );
        let open = !d.is_closing()
            && !d.conn.mid_request()
            && !d.conn.streaming_body()
            && !d.conn.has_pending();
        d.close();
        let heads = std::mem::take(&mut *heads.lock().unwrap());
        (out, open, heads)
    };
    let whole = run(&[data]);
    let mut cuts: Vec<usize> = splits
        .iter()
        .map(|&s| s as usize * data.len() / 256)
        .collect();
    cuts.push(data.len());
    cuts.sort_unstable();
    let (mut pieces, mut at) = (Vec::new(), 0);
    for c in cuts {
        if c > at {
            pieces.push(&data[at..c]);
            at = c;
        }
    }
    let split = run(&pieces);
    let bodies = |(out, _, heads): &(Vec<u8>, bool, Vec<bool>)| -> Vec<(u16, Vec<u8>)> {
        strela::testing::parse_responses_to(out, |i| heads.get(i).copied().unwrap_or(false))
            .into_iter()
            .map(|r| (r.status, r.body))
            .collect()
    };
    // Both runs ended between requests, on an open connection (no refusal, nothing cut
    // short): the same requests were answered the same way.
    if whole.1 && split.1 {
        assert_eq!(
            bodies(&whole),
            bodies(&split),
            "echoed bodies differ with the split"
        );
    }
}

thread_local! {
    static HANDLES: std::cell::RefCell<Vec<(u64, strela::Deferred)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Answers `r<id>`; paths containing `d` are deferred (their handle is kept for the check to
/// complete or drop), paths containing `x` defer twice (the second handle is inert).
fn deferring(req: &Request<'_>, res: &mut Response<'_>) {
    let id = req.meta().id;
    if req.path().contains('d') || req.path().contains('x') {
        let d = res.defer();
        if req.path().contains('x') {
            let inert = res.defer();
            assert!(inert.is_cancelled(), "a second deferral must be inert");
        }
        HANDLES.with(|h| h.borrow_mut().push((id, d)));
    } else {
        res.body(format!("r{id}").as_bytes());
    }
}

/// Splits an output stream into (status, body) pairs; interim 1xx responses are skipped.
fn responses(mut out: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut v = Vec::new();
    while !out.is_empty() {
        let end = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("every response has a complete head")
            + 4;
        let head = std::str::from_utf8(&out[..end]).expect("heads are ASCII");
        let status: u16 = head[9..12].parse().expect("status code");
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.trim().parse().expect("length"));
        // A HEAD response declares a length but has no body: the next response (or the end)
        // follows its head directly. Bodies here never start like a status line.
        let rest = &out[end..];
        let len = if rest.len() < len || rest.starts_with(b"HTTP/1.") {
            0
        } else {
            len
        };
        if status >= 200 {
            v.push((status, rest[..len].to_vec()));
        }
        out = &rest[len..];
    }
    v
}

/// deferred: pipelined requests, some deferred and completed (or dropped) in a fuzzer-chosen
/// order between fuzzer-chosen reads. Properties: no panic; every answer to a handled request
/// appears once and in request order (ids ascend); a dropped handle answers 500; once the
/// connection is released nothing is in flight and no completion cell is alive.
pub fn deferred(control: &[u8], stream: &[u8]) {
    HANDLES.with(|h| h.borrow_mut().clear());
    let mut d = Driver::with_limits(
        deferring,
        &Limits {
            max_body_bytes: 1 << 16,
            write_high_water: 1024,
            ..Limits::default()
        },
    );
    let mut ctl = control.iter().copied().cycle().take(control.len() * 4);
    let mut at = 0;
    while at < stream.len() {
        let step = 1 + ctl.next().unwrap_or(255) as usize;
        let end = (at + step).min(stream.len());
        if !d.is_closing() {
            d.push(&stream[at..end]);
            d.process();
        }
        at = end;
        // Complete or drop some handles, in a chosen order.
        let k = ctl.next().unwrap_or(0);
        HANDLES.with(|h| {
            let mut h = h.borrow_mut();
            for _ in 0..(k % 4) {
                if h.is_empty() {
                    break;
                }
                let pick = ctl.next().unwrap_or(0) as usize % h.len();
                let (id, handle) = h.remove(pick);
                if ctl.next().unwrap_or(1) % 8 == 0 {
                    drop(handle); // answers 500
                } else {
                    handle.complete(strela::Reply::ok().body(format!("r{id}")));
                }
            }
        });
        d.deliver(); // what the worker does after completions (and after a write)
    }
    // Complete the rest, last first; requests held back by the high-water mark are answered
    // once the output is taken (as the worker does after a write), and may defer in turn.
    loop {
        let next = HANDLES.with(|h| h.borrow_mut().pop());
        let written = d.out.len();
        match next {
            Some((id, handle)) => handle.complete(strela::Reply::ok().body(format!("r{id}"))),
            None if d.conn.mid_request() && !d.is_closing() => {}
            None => break,
        }
        d.deliver();
        let idle = HANDLES.with(|h| h.borrow().is_empty());
        if d.out.len() == written && idle {
            break; // an incomplete request at the end of the stream: nothing more will come
        }
    }
    d.deliver();
    assert!(!d.conn.has_pending(), "every deferred answer was delivered");
    let out = std::mem::take(&mut d.out);
    let mut last = 0;
    for (status, body) in responses(&out) {
        if let Some(id) = body.strip_prefix(b"r") {
            let id: u64 = std::str::from_utf8(id).unwrap().parse().unwrap();
            assert!(id > last, "answers out of order: r{id} after r{last}");
            last = id;
        } else {
            assert!(
                status >= 400 || body.is_empty(),
                "an untagged answer must be an error or bodiless (HEAD), got {status}"
            );
        }
    }
    d.close();
    assert_eq!(d.svc.deferred, 0, "nothing in flight after release");
    let inbox = d.svc.inbox.clone();
    drop(d);
    assert_eq!(inbox.live(), 0, "no completion cell alive");
}

/// The static-file parsers: `Range` values against a size (first 8 bytes), and URL paths
/// normalised below a root. Invariants: a partial range lies inside the representation and
/// matches what an independent reading of a single spec gives; a normalised path is relative,
/// has no `.`/`..`/empty component, and normalising it again changes nothing.
pub fn files(data: &[u8]) {
    use std::path::Component;
    use strela::app::files::{normalize, parse_range, ByteRange};
    let (size_bytes, rest) = data.split_at(data.len().min(8));
    let mut sb = [0u8; 8];
    sb[..size_bytes.len()].copy_from_slice(size_bytes);
    let size = u64::from_le_bytes(sb) >> (sb[0] % 64); // small sizes are likely too
    match parse_range(rest, size) {
        ByteRange::Part { first, last } => {
            assert!(first <= last && last < size, "{first}-{last} of {size}");
            // A single spec: check it against a plain reading.
            let text = std::str::from_utf8(rest).expect("a range that parsed is ASCII");
            let spec = text
                .trim()
                .get(6..)
                .unwrap()
                .trim()
                .trim_matches(',')
                .trim();
            if !spec.contains(',') {
                let (a, b) = spec.split_once('-').unwrap();
                let (a, b) = (a.trim(), b.trim());
                let expect = if a.is_empty() {
                    let n: u64 = b.parse().unwrap();
                    (size - n.min(size), size - 1)
                } else {
                    let f: u64 = a.parse().unwrap();
                    let l = if b.is_empty() {
                        size - 1
                    } else {
                        b.parse::<u64>().unwrap().min(size - 1)
                    };
                    (f, l)
                };
                assert_eq!((first, last), expect, "{text:?} of {size}");
            }
        }
        ByteRange::Full | ByteRange::Unsatisfiable => {}
    }
    if let Ok(url) = std::str::from_utf8(rest) {
        if let Some(p) = normalize(url) {
            assert!(p.is_relative());
            for c in p.components() {
                assert!(matches!(c, Component::Normal(_)), "{url:?} -> {p:?}");
            }
            let again = normalize(&p.to_string_lossy());
            if let Some(s) = p.to_str() {
                if !s.contains('%') {
                    assert_eq!(again.as_deref(), Some(p.as_path()), "{url:?}");
                }
            }
        }
    }
}
