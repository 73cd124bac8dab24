//! Socket I/O and `LD_PRELOAD`: the `strela` binary runs with a shim (tests/data/interpose.c)
//! that counts calls to libc's `recv`, `send` and `sendmsg` by name. Built with the
//! `interposable-io` feature its reads and writes must go through them (a kernel-bypass stack
//! or a tracing shim sees every one); built without it they must not (they take glibc's
//! `syscall()` entry, which skips the cancellation-point bookkeeping). `.ci/run` runs this test
//! both ways.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Compiles the shim into a fresh directory; returns (shim, directory).
fn build_shim() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("strela-interpose-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let so = dir.join("interpose.so");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/interpose.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(cc)
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(src)
        .arg("-ldl")
        .status()
        .expect("a C compiler (cc) for the preload shim");
    assert!(st.success(), "the shim compiles");
    (so, dir)
}

#[test]
fn socket_io_goes_through_libc_by_name_exactly_when_interposable() {
    let (so, dir) = build_shim();
    let out = dir.join("counts");
    let prelude = format!(
        "LD_PRELOAD={} INTERPOSE_OUT={}",
        so.display(),
        out.display()
    );
    let (mut child, port, _line) = common::spawn_binary(&prelude, 1);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..10 {
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 512];
        while !got.ends_with(b"Hello, World!") {
            let n = s.read(&mut b).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&b[..n]);
        }
    }
    drop(s);
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let counts = std::fs::read_to_string(&out).expect("the shim reports at exit");
    let n: Vec<u64> = counts
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    let (recvs, sends) = (n[0], n[1] + n[2]);
    if cfg!(feature = "interposable-io") {
        assert!(
            recvs >= 10,
            "the shim saw {recvs} recv calls for 10 requests"
        );
        assert!(
            sends >= 10,
            "the shim saw {sends} send calls for 10 responses"
        );
    } else {
        assert_eq!(
            (recvs, sends),
            (0, 0),
            "socket I/O bypasses recv/send by name"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
