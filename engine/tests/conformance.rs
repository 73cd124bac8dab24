//! HTTP/1.1 request conformance over raw sockets: one case per rule, each naming its RFC
//! section, each sent whole and again byte by byte. The table of decisions is
//! docs/conformance.md; this file is its executable form.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use strela::{Request, Response};

/// Echoes the body length and the method, so a test sees what framing the server decided.
fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    res.content_type("text/plain")
        .body_string(format!("{} {}", req.method(), req.body().len()));
}

struct Case {
    rfc: &'static str,
    what: &'static str,
    req: &'static [u8],
    status: u16,
    /// The server closes the connection after answering.
    close: bool,
    /// Expected body of a 200 (method and body length), if checked.
    body: Option<&'static str>,
}

const fn ok(rfc: &'static str, what: &'static str, req: &'static [u8], body: &'static str) -> Case {
    Case {
        rfc,
        what,
        req,
        status: 200,
        close: false,
        body: Some(body),
    }
}
const fn bad(rfc: &'static str, what: &'static str, req: &'static [u8], status: u16) -> Case {
    Case {
        rfc,
        what,
        req,
        status,
        close: true,
        body: None,
    }
}

const CASES: &[Case] = &[
    // --- request line (RFC 9112 §3) ---
    ok("9112 §3", "plain GET", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET 0"),
    ok("9112 §3", "extension method", b"PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", "PURGE 0"),
    ok("9112 §3.2", "origin-form with query", b"GET /a/b?c=d&e HTTP/1.1\r\nHost: a\r\n\r\n", "GET 0"),
    ok("9112 §3.2.4", "asterisk-form (OPTIONS *)", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS 0"),
    ok("9112 §3.2.2", "absolute-form", b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", "GET 0"),
    ok("9112 §2.2", "leading empty lines are ignored", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET 0"),
    bad("9112 §2.2", "bare LF line endings (refused unless lf_only_heads)", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    bad("9112 §2.2", "a bare LF inside a CRLF head (the desync shape)", b"POST / HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 5\r\n\r\nhello", 400),
    bad("9112 §2.2", "a bare LF ending the request line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    // --- request target (RFC 9112 §3.2, RFC 3986) ---
    ok("3986 §3.3", "every pchar and pct-encoding", b"GET /a-._~!$&'()*+,;=:@%20/b?c=/?d HTTP/1.1\r\nHost: a\r\n\r\n", "GET 0"),
    ok("9112 §3.2.2", "absolute-form without a path", b"GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", "GET 0"),
    ok("9112 §3.2.2", "absolute-form https, port and query", b"GET HTTPS://a.example:8443/x?y HTTP/1.1\r\nHost: a\r\n\r\n", "GET 0"),
    bad("3986 §3.3", "target with a double quote", b"GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("3986 §3.3", "target with braces", b"GET /a{b} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("3986 §3.3", "target with a backslash", b"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("3986 §3.3", "target with a raw non-ASCII byte", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("3986 §3.5", "target with a fragment", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("3986 §2.1", "bad percent-encoding", b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("3986 §2.1", "truncated percent-encoding", b"GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3.2", "target not starting with / (not absolute-form)", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3.2.4", "asterisk-form with GET", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3.2.2", "absolute-form of another scheme", b"GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9110 §4.2.4", "absolute-form with userinfo", b"GET http://u:p@a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3.2.2", "absolute-form with a bad port", b"GET http://a:x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9110 §4.2.1", "absolute-form with an empty host", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3", "two spaces between method and target", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3", "no version", b"GET /\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3", "lowercase version name", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9110 §9.1", "method with a separator", b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9110 §9.1", "method with a control byte", b"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3.2", "target with a control byte", b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3.2", "target with a space", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §3.2", "target with DEL", b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §2.2", "bare CR in the request line", b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    bad("9112 §2.3", "HTTP/2.0 in an HTTP/1 request line", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    bad("9112 §2.3", "HTTP/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
    bad("9112 §2.3", "HTTP/0.9 style", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    bad("9112 §2.3", "garbage version", b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
    bad("9112 §2.2", "binary garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    // --- header fields (RFC 9112 §5, RFC 9110 §5) ---
    ok("9110 §5.1", "field names are case-insensitive", b"GET / HTTP/1.1\r\nhOsT: a\r\n\r\n", "GET 0"),
    ok("9110 §5.5", "OWS around the value is trimmed", b"GET / HTTP/1.1\r\nHost:   a  \r\nX:\tv\t\r\n\r\n", "GET 0"),
    ok("9110 §5.5", "obs-text in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n", "GET 0"),
    ok("9110 §5.5", "empty value", b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", "GET 0"),
    bad("9112 §5.1", "whitespace before the colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    bad("9112 §5.2", "obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  b\r\n\r\n", 400),
    bad("9112 §5", "space before the first field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    bad("9110 §5.5", "bare CR in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
    bad("9110 §5.5", "NUL in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400),
    bad("9110 §5.5", "other control byte in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x0bb\r\n\r\n", 400),
    bad("9110 §5.1", "field name with a separator", b"GET / HTTP/1.1\r\nHost: a\r\nX(Y): v\r\n\r\n", 400),
    bad("9110 §5.1", "empty field name", b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400),
    bad("9112 §5", "line without a colon", b"GET / HTTP/1.1\r\nHost: a\r\nJunk\r\n\r\n", 400),
    // --- Host (RFC 9112 §3.2) ---
    bad("9112 §3.2", "HTTP/1.1 without Host", b"GET / HTTP/1.1\r\nX: y\r\n\r\n", 400),
    bad("9112 §3.2", "two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ok("9112 §3.2", "Host with a port", b"GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", "GET 0"),
    ok("9112 §3.2", "Host as an IPv6 literal", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "GET 0"),
    ok("9112 §3.2", "empty Host (a URI without authority)", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET 0"),
    bad("9112 §3.2", "Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    bad("9112 §3.2", "Host with a path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    bad("9112 §3.2", "Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    bad("9112 §3.2", "Host with a non-numeric port", b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400),
    bad("9112 §3.2", "Host with an unclosed IPv6 literal", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    bad("9112 §3.2", "Host with two colons", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400),
    Case { rfc: "9112 §3.2", what: "HTTP/1.0 may omit Host (and closes)", req: b"GET / HTTP/1.0\r\n\r\n", status: 200, close: true, body: Some("GET 0") },
    // --- Content-Length (RFC 9112 §6.2, RFC 9110 §8.6) ---
    ok("9112 §6.2", "Content-Length body", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "POST 5"),
    ok("9112 §6.2", "Content-Length: 0", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST 0"),
    ok("9110 §8.6", "identical duplicate Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", "POST 2"),
    ok("9110 §8.6", "leading zeros", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 002\r\n\r\nab", "POST 2"),
    bad("9110 §8.6", "differing duplicate Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400),
    bad("9110 §8.6", "Content-Length list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nab", 400),
    bad("9110 §8.6", "signed Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab", 400),
    bad("9110 §8.6", "negative Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    bad("9110 §8.6", "hex Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x2\r\n\r\nab", 400),
    bad("9110 §8.6", "Content-Length with inner space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
    bad("9110 §8.6", "empty Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
    bad("9110 §8.6", "overflowing Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
    bad("9110 §15.5.14", "body over the limit", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n", 413),
    // --- Transfer-Encoding and chunked (RFC 9112 §6.1, §6.3, §7.1) ---
    ok("9112 §7.1", "chunked body", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "POST 5"),
    ok("9112 §7.1.1", "chunk extensions ignored", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=\"y\"\r\nabc\r\n0;z\r\n\r\n", "POST 3"),
    ok("9112 §7.1.2", "trailers ignored", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\n", "POST 1"),
    ok("9112 §6.1", "coding names are case-insensitive", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", "POST 0"),
    ok("9112 §7.1", "uppercase hex size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n", "POST 10"),
    bad("9112 §6.3", "Content-Length and Transfer-Encoding", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    bad("9112 §6.3", "chunked not the final coding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    bad("9112 §6.1", "chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    bad("9112 §6.1", "unknown coding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n", 501),
    bad("9110 §5.6.1", "empty list element in Transfer-Encoding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n", 400),
    bad("9112 §6.1", "quoted coding", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400),
    bad("9112 §6.1", "chunked with a parameter", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400),
    bad("9112 §6.1", "chunked in two fields", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    bad("9112 §6.1", "unimplemented coding before chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    bad("9112 §6.1", "Transfer-Encoding on HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    bad("9112 §7.1", "chunk size with inner space (\"5 0\")", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 0\r\nhello\r\n0\r\n\r\n", 400),
    bad("9112 §7.1", "chunk size not hex", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400),
    bad("9112 §7.1", "0x prefix", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1", "chunk size overflow", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400),
    bad("9112 §7.1", "missing CRLF after chunk data", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400),
    bad("9112 §7.1", "bare LF after chunk size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1", "bare CR in chunk framing", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1.1", "CR inside a chunk extension", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n", 400),
    ok("9112 §7.1.1", "chunk extensions with BWS, tokens and quoted-pairs", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 ; a = b ;c;d=\"x\\\"y\"\r\nabc\r\n0\r\n\r\n", "POST 3"),
    bad("9112 §7.1.1", "chunk extension without a name", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;=b\r\nabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1.1", "chunk extension: empty after ;", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1.1", "chunk extension value with a space", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b c\r\nabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1.1", "unterminated quoted chunk extension", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\r\nabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1.1", "control byte in a quoted chunk extension", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"\x01\"\r\nabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1.1", "whitespace after the size without an extension", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400),
    bad("9112 §7.1.2", "trailer line without a colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nJunk\r\n\r\n", 400),
    bad("9112 §7.1.2", "trailer with a space before the colon", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : 1\r\n\r\n", 400),
    bad("9110 §15.5.14", "chunked body over the limit", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413),
    // --- connection management (RFC 9112 §9) ---
    Case { rfc: "9112 §9.6", what: "Connection: close", req: b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", status: 200, close: true, body: Some("GET 0") },
    Case { rfc: "9112 §9.3", what: "HTTP/1.0 keep-alive stays open", req: b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", status: 200, close: false, body: Some("GET 0") },
    // --- limits (RFC 9110 §15.5.15, RFC 6585 §5) ---
    bad("9110 §15.5.15", "target over the URI limit", LONG_URI, 414),
    bad("6585 §5", "head over the size limit", BIG_HEAD, 431),
];

const LONG_URI: &[u8] = concat!(
    "GET /",
    include_str!("data/a9000.txt"),
    " HTTP/1.1\r\nHost: a\r\n\r\n"
)
.as_bytes();
const BIG_HEAD: &[u8] = concat!(
    "GET / HTTP/1.1\r\nHost: a\r\nX: ",
    include_str!("data/a17000.txt"),
    "\r\n\r\n"
)
.as_bytes();

fn run(case: &Case, addr: std::net::SocketAddr, byte_by_byte: bool) {
    let label = format!(
        "RFC {} — {} ({})",
        case.rfc,
        case.what,
        if byte_by_byte {
            "byte by byte"
        } else {
            "whole"
        }
    );
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if byte_by_byte {
        for b in case.req {
            if s.write_all(std::slice::from_ref(b)).is_err() {
                break; // the server may answer and close before the last byte
            }
        }
    } else {
        let _ = s.write_all(case.req);
    }
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let resp = loop {
        if let Some((r, _)) = parse_one(&buf, false) {
            break r;
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => panic!(
                "{label}: no complete response, got {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    assert_eq!(resp.status, case.status, "{label}");
    if let Some(b) = case.body {
        assert_eq!(resp.body_str(), b, "{label}");
    }
    let closed = {
        s.set_read_timeout(Some(Duration::from_millis(if case.close {
            2000
        } else {
            150
        })))
        .unwrap();
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    };
    assert_eq!(closed, case.close, "{label}: connection closed = {closed}");
    if case.close {
        assert_eq!(resp.header("connection"), Some("close"), "{label}");
    }
}

/// The decision table of docs/conformance.md, generated from `CASES`.
fn table() -> String {
    let mut t = String::from("| RFC section | case | status | connection |\n|---|---|---|---|\n");
    for c in CASES {
        let status = if c.status == 200 {
            "200 (handled)".to_string()
        } else {
            c.status.to_string()
        };
        let conn = if c.close { "closed" } else { "kept open" };
        t.push_str(&format!(
            "| {} | {} | {status} | {conn} |\n",
            c.rfc,
            c.what.replace('|', "\\|")
        ));
    }
    t
}

/// docs/conformance.md shows exactly these cases (`UPDATE_DOCS=1` rewrites its table).
#[test]
fn the_documented_table_is_these_cases() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/conformance.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let (begin, end) = ("<!-- cases:", "<!-- /cases -->");
    let b = doc
        .find(begin)
        .expect("docs/conformance.md has a <!-- cases: … --> marker");
    let b = b + doc[b..].find("-->").unwrap() + 4;
    let e = doc.find(end).expect("and a <!-- /cases --> marker");
    let want = table();
    if doc[b..e] != want {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, format!("{}{want}{}", &doc[..b], &doc[e..])).unwrap();
            return;
        }
        panic!("docs/conformance.md's table is out of date: UPDATE_DOCS=1 cargo test -p strela --test conformance");
    }
}

#[test]
fn conformance_whole_and_byte_by_byte() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let srv = start_with(echo, 1, strela::Limits::default());
    for case in CASES {
        run(case, srv.local_addr(), false);
        run(case, srv.local_addr(), true);
    }
    // Nothing leaked after 2 × CASES.len() connections.
    assert!(
        eventually(Duration::from_secs(5), || srv.stats().connections == 0
            && srv.stats().buffers_in_use == 0),
        "{:?}",
        srv.stats()
    );
    let _ = TcpStream::connect(srv.local_addr()).unwrap();
}
