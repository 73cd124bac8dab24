//! Helpers shared by the integration tests: a strict client-side response parser, a sans-IO
//! driver, and socket helpers for servers on 127.0.0.1 with ephemeral ports.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use strela::{Handler, Limits, ServerHandle};

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// Parses one response at the start of `buf`: Some((response, bytes used)) or None if incomplete.
/// `head_request`: the response to a HEAD carries no body whatever its Content-Length says.
pub fn parse_one(buf: &[u8], head_request: bool) -> Option<(Resp, usize)> {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut hs);
    let n = match r.parse(buf).expect("server sent a malformed response") {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let status = r.code.unwrap();
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8(h.value.to_vec()).unwrap(),
            )
        })
        .collect();
    let cl = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().expect("numeric content-length"))
        .unwrap_or(0);
    let no_body = head_request || status < 200 || status == 204 || status == 304;
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked && !no_body {
        assert_eq!(cl, 0, "chunked and a Content-Length");
        let (body, used) = strela::testing::dechunk(&buf[n..])?;
        return Some((
            Resp {
                status,
                headers,
                body,
            },
            n + used,
        ));
    }
    let body_len = if no_body { 0 } else { cl };
    if buf.len() < n + body_len {
        return None;
    }
    Some((
        Resp {
            status,
            headers,
            body: buf[n..n + body_len].to_vec(),
        },
        n + body_len,
    ))
}

/// Parses every complete response in `buf`; panics on trailing garbage.
pub fn parse_all(mut buf: &[u8]) -> Vec<Resp> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (r, used) = parse_one(buf, false).expect("incomplete trailing response");
        out.push(r);
        buf = &buf[used..];
    }
    out
}

/// The sans-IO harness (`strela::testing::Driver`), with responses parsed by this file's strict
/// parser.
pub struct Driver<H: Handler>(pub strela::testing::Driver<H>);

impl<H: Handler> Driver<H> {
    pub fn new(handler: H) -> Self {
        Driver(strela::testing::Driver::new(handler))
    }
    pub fn with_limits(handler: H, limits: &Limits) -> Self {
        Driver(strela::testing::Driver::with_limits(handler, limits))
    }
    pub fn responses(&self) -> Vec<Resp> {
        parse_all(&self.0.out)
    }
}

impl<H: Handler> std::ops::Deref for Driver<H> {
    type Target = strela::testing::Driver<H>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<H: Handler> std::ops::DerefMut for Driver<H> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

// ---- sockets ----------------------------------------------------------------------------------

pub fn start<H: Handler>(handler: H, workers: usize) -> ServerHandle {
    start_with(handler, workers, Limits::default())
}

pub fn start_with<H: Handler>(handler: H, workers: usize, limits: Limits) -> ServerHandle {
    strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(workers)
        .limits(limits)
        .handler(handler)
        .start()
        .expect("server starts")
}

/// The `strela` binary's configuration: the core endpoints as routes on the application API.
pub fn start_core(workers: usize) -> ServerHandle {
    strela::endpoints::routes(
        strela::Server::builder()
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .workers(workers),
    )
    .start()
    .expect("server starts")
}

/// A server from a builder function, on 127.0.0.1 with an ephemeral port and one worker.
pub fn start_app(f: impl FnOnce(strela::ServerBuilder) -> strela::ServerBuilder) -> ServerHandle {
    f(strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1))
    .start()
    .expect("server starts")
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads exactly `n` responses from `s` (HEAD responses flagged by index in `head`).
pub fn read_responses(s: &mut TcpStream, n: usize) -> Vec<Resp> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut tmp = [0u8; 64 * 1024];
    while out.len() < n {
        while let Some((r, used)) = parse_one(&buf, false) {
            out.push(r);
            buf.drain(..used);
            if out.len() == n {
                break;
            }
        }
        if out.len() == n {
            break;
        }
        let k = s.read(&mut tmp).expect("read response");
        assert!(k > 0, "server closed after {} of {n} responses", out.len());
        buf.extend_from_slice(&tmp[..k]);
    }
    assert!(buf.is_empty(), "unexpected extra bytes after {n} responses");
    out
}

/// Sends `req` and reads one response.
pub fn roundtrip(s: &mut TcpStream, req: &[u8]) -> Resp {
    s.write_all(req).unwrap();
    read_responses(s, 1).pop().unwrap()
}

/// True if the server closed the connection (EOF, or reset) within the read timeout.
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

pub const GET_PLAIN: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
pub const GET_JSON: &[u8] = b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n";

/// Starts the `strela` binary through `sh` (so `prelude` can set limits first) on 127.0.0.1
/// with an ephemeral port; returns the child, its port and its startup line.
pub fn spawn_binary(prelude: &str, workers: usize) -> (std::process::Child, u16, String) {
    use std::io::BufRead;
    let cmd = format!(
        "{prelude} exec {} --bind 127.0.0.1 --port 0 --workers {workers}",
        env!("CARGO_BIN_EXE_strela")
    );
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the strela binary runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    // `ts=… level=info target=strela msg="listening" addr=127.0.0.1:PORT workers=N fd_limit=L …`
    let port = line
        .split(" addr=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok());
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("unexpected startup line: {line}");
    };
    (child, port, line)
}

// ---- the binary -------------------------------------------------------------------------------

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};

/// The `strela` binary with no `STRELA_*` settings inherited from the test's environment.
pub fn strela_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strela"));
    // A clean environment for settings: only what a test sets.
    for (k, _) in std::env::vars() {
        if k.starts_with("STRELA_") {
            c.env_remove(k);
        }
    }
    c
}

/// A child process killed if the test ends without stopping it (e.g. on a failed assertion).
pub struct Proc(pub Child);

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A child already waited for is not signalled again (std keeps its exit status).
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args`; returns it, its port, and its stderr lines as they come.
pub fn spawn(
    args: &[&str],
    env: &[(&str, &str)],
) -> (Proc, u16, std::sync::mpsc::Receiver<String>) {
    let mut cmd = strela_cmd();
    cmd.args(args).stderr(Stdio::piped()).stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no startup line");
        };
        if let Some(rest) = line.split(" addr=").nth(1) {
            let port = rest
                .split_whitespace()
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
                .expect("a port");
            return (Proc(child), port, rx);
        }
    }
}

pub fn wait_for_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no log line with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

pub fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}
