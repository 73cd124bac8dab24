//! Deferred responses: order under out-of-order completion, completion from many threads,
//! dropped handles, deadlines, cancellation on disconnect, the concurrency limit, the blocking
//! pool, and a 100,000-request leak check. Sans-IO where the core alone shows it, sockets for
//! the worker's part (eventfd wake-ups, deadline timer, disconnects).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use strela::middleware::{layer, Deadline};
use strela::proto::stats::Counter;
use strela::{BlockingPool, CancelToken, Deferred, Limits, Reply, Request, Response};

/// The number at the end of the path (`/d/7` → 7).
fn index(req: &Request<'_>) -> usize {
    req.path().rsplit('/').next().unwrap().parse().unwrap()
}

/// A handler that defers `/d/N` and sends `(N, handle)` to the test; `/s/N` answers at once.
fn deferring(tx: mpsc::Sender<(usize, Deferred)>) -> impl strela::Handler {
    let tx = Mutex::new(tx);
    move |req: &Request<'_>, res: &mut Response<'_>| {
        let n = index(req);
        if req.path().starts_with("/d/") {
            let d = res.defer();
            tx.lock().unwrap().send((n, d)).unwrap();
        } else {
            res.body(format!("sync {n}").as_bytes());
        }
    }
}

fn pipelined(paths: &[String]) -> Vec<u8> {
    let mut b = Vec::new();
    for p in paths {
        b.extend_from_slice(format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    b
}

/// Delivers every completion waiting in the driver's inbox and collects the output.
fn deliver<H: strela::Handler>(d: &mut Driver<H>) -> usize {
    let mut done = Vec::new();
    d.svc.take_completions(&mut done);
    let n = done.len();
    let inner = &mut d.0;
    for c in done {
        strela::service::dispatch::complete(
            &mut inner.conn,
            c.seq,
            c.reply,
            &mut inner.cx,
            &mut inner.svc,
        );
    }
    inner.take_output();
    n
}

#[test]
fn sixteen_pipelined_completed_in_reverse_are_answered_in_order() {
    let (tx, rx) = mpsc::channel();
    let mut d = Driver::new(deferring(tx));
    // Deferred and synchronous requests interleaved: every third one answers at once.
    let paths: Vec<String> = (0..16)
        .map(|i| {
            if i % 3 == 2 {
                format!("/s/{i}")
            } else {
                format!("/d/{i}")
            }
        })
        .collect();
    d.feed(&pipelined(&paths));
    let mut handles: Vec<(usize, Deferred)> = rx.try_iter().collect();
    assert_eq!(handles.len(), 11);
    assert!(
        d.out.is_empty(),
        "nothing may overtake the first deferred response"
    );
    assert!(d.conn.has_pending());

    // Complete in reverse: nothing is written until the first one is done.
    handles.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    let first = handles.pop().unwrap();
    for (i, h) in handles {
        h.complete(Reply::ok().body(format!("deferred {i}")));
        deliver(&mut d);
        assert!(
            d.out.is_empty(),
            "response {i} was written before response 0"
        );
    }
    first.1.complete(Reply::ok().body("deferred 0"));
    deliver(&mut d);
    let r = d.responses();
    assert_eq!(r.len(), 16);
    for (i, resp) in r.iter().enumerate() {
        let want = if i % 3 == 2 {
            format!("sync {i}")
        } else {
            format!("deferred {i}")
        };
        assert_eq!(resp.body_str(), want, "response {i}");
        assert_eq!(resp.header("date"), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
    }
    assert!(!d.conn.has_pending());
    assert_eq!(d.svc.deferred, 0);
    assert_eq!(d.svc.inbox.live(), 0);
}

#[test]
fn earlier_responses_are_not_delayed_by_later_deferred_ones() {
    let (tx, rx) = mpsc::channel();
    let mut d = Driver::new(deferring(tx));
    d.feed(&pipelined(&["/d/0".into(), "/d/1".into(), "/d/2".into()]));
    let mut h: Vec<(usize, Deferred)> = rx.try_iter().collect();
    let h2 = h.pop().unwrap().1;
    let h1 = h.pop().unwrap().1;
    let h0 = h.pop().unwrap().1;
    h0.complete(Reply::ok().body("0"));
    deliver(&mut d);
    assert_eq!(
        d.responses().len(),
        1,
        "the first response goes out at once"
    );
    h2.complete(Reply::ok().body("2"));
    deliver(&mut d);
    assert_eq!(d.responses().len(), 1, "the third waits for the second");
    h1.complete(Reply::ok().body("1"));
    deliver(&mut d);
    let bodies: Vec<String> = d
        .responses()
        .iter()
        .map(|r| r.body_str().to_string())
        .collect();
    assert_eq!(bodies, ["0", "1", "2"]);
}

#[test]
fn head_request_and_closing_reply_cancel_what_follows() {
    let (tx, rx) = mpsc::channel();
    let mut d = Driver::new(deferring(tx));
    d.feed(b"HEAD /d/0 HTTP/1.1\r\nHost: t\r\n\r\nGET /d/1 HTTP/1.1\r\nHost: t\r\n\r\nGET /d/2 HTTP/1.1\r\nHost: t\r\n\r\n");
    let h: Vec<(usize, Deferred)> = rx.try_iter().collect();
    let mut h = h.into_iter().map(|(_, d)| d);
    let (h0, h1, h2) = (h.next().unwrap(), h.next().unwrap(), h.next().unwrap());
    let t2 = h2.cancel_token();
    h0.complete(Reply::ok().body("not sent for HEAD"));
    h1.complete(Reply::new(200).body("bye").close());
    deliver(&mut d);
    assert!(
        t2.is_cancelled(),
        "a request after a closing reply is cancelled"
    );
    h2.complete(Reply::ok());
    assert_eq!(
        deliver(&mut d),
        0,
        "a cancelled completion is discarded before it is posted"
    );
    let out = String::from_utf8(d.out.clone()).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(out.contains("Content-Length: 17\r\n"));
    assert!(!out.contains("not sent"));
    assert!(out.ends_with("Connection: close\r\n\r\nbye"));
    assert!(d.conn.is_done());
}

#[test]
fn limit_reached_answers_503_with_retry_after() {
    let (tx, rx) = mpsc::channel();
    let limits = Limits {
        max_deferred: 2,
        ..Limits::default()
    };
    let mut d = Driver::with_limits(deferring(tx), &limits);
    d.feed(&pipelined(&["/d/0".into(), "/d/1".into(), "/d/2".into()]));
    let h: Vec<(usize, Deferred)> = rx.try_iter().collect();
    assert_eq!(h.len(), 3);
    assert!(h[2].1.is_cancelled(), "the refused handle is inert");
    assert_eq!(d.cx.stats[Counter::DeferredRefused], 1);
    for (i, hd) in h {
        hd.complete(Reply::ok().body(format!("{i}")));
    }
    deliver(&mut d);
    let r = d.responses();
    assert_eq!(r.len(), 3);
    assert_eq!((r[0].status, r[0].body_str()), (200, "0"));
    assert_eq!((r[1].status, r[1].body_str()), (200, "1"));
    assert_eq!(r[2].status, 503);
    assert_eq!(r[2].header("retry-after"), Some("1"));
    assert_eq!(d.svc.deferred, 0);
}

#[test]
fn queued_responses_are_bounded_then_reading_resumes() {
    let (tx, rx) = mpsc::channel();
    let limits = Limits {
        write_high_water: 1024,
        ..Limits::default()
    };
    let mut d = Driver::with_limits(deferring(tx), &limits);
    // One deferred request then 300 synchronous ones: only about 1 KiB of responses is queued
    // while the first waits, the rest stays in the read buffer.
    let mut paths = vec!["/d/0".to_string()];
    paths.extend((1..=300).map(|i| format!("/s/{i}")));
    d.feed(&pipelined(&paths));
    assert!(
        !d.conn.wants_read(&d.cx.limits),
        "a full queue stops reading"
    );
    assert!(
        d.conn.mid_request(),
        "undispatched requests wait in the read buffer"
    );
    let (_, h0) = rx.try_recv().unwrap();
    h0.complete(Reply::ok().body("first"));
    deliver(&mut d);
    // The worker dispatches the rest after a completion, a high-water mark of output at a
    // time, writing in between; do the same.
    let mut rounds = 0;
    while d.conn.mid_request() {
        d.process();
        let n = d.conn.output().len();
        assert!(
            n <= 1024 + 256,
            "at most the high-water mark plus one response: {n}"
        );
        d.take_output();
        rounds += 1;
        assert!(rounds < 1000);
    }
    assert!(rounds > 3, "the output was bounded: {rounds} rounds");
    let r = d.responses();
    assert_eq!(r.len(), 301);
    assert_eq!(r[0].body_str(), "first");
    assert_eq!(r[300].body_str(), "sync 300");
}

/// Every completion cell is gone (handles dropped on both sides), then the server stops cleanly.
fn stop_leaving_nothing(srv: strela::ServerHandle) {
    assert!(
        eventually(Duration::from_secs(2), || srv.stats().deferred_live == 0),
        "{:?}",
        srv.stats()
    );
    srv.stop();
    srv.join().unwrap();
}

// ---- over sockets ------------------------------------------------------------------------------

fn server_with(handler: impl strela::Handler, limits: Limits) -> strela::ServerHandle {
    strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(2)
        .limits(limits)
        .handler(handler)
        .start()
        .expect("server starts")
}

#[test]
fn out_of_order_completion_from_8_threads_over_8_connections() {
    let (tx, rx) = mpsc::channel::<(usize, Deferred)>();
    let srv = server_with(deferring(tx), Limits::default());
    // 8 completer threads, each finishing its handles after a pseudo-random short delay, so
    // completions arrive out of order and concurrently.
    let (work_tx, work_rx) = crossbeam_channel::unbounded::<(usize, Deferred)>();
    let feeder = std::thread::spawn(move || {
        for item in rx {
            work_tx.send(item).unwrap();
        }
    });
    let completers: Vec<_> = (0..8)
        .map(|t| {
            let rx = work_rx.clone();
            std::thread::spawn(move || {
                for (i, d) in rx {
                    let delay = (i * 7 + t * 13) % 5;
                    std::thread::sleep(Duration::from_millis(delay as u64));
                    d.complete(Reply::ok().content_type("text/plain").body(format!("r{i}")));
                }
            })
        })
        .collect();
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let addr = srv.local_addr();
            std::thread::spawn(move || {
                let mut s = connect(addr);
                for round in 0..4 {
                    let paths: Vec<String> = (0..16)
                        .map(|i| format!("/d/{}", c * 1000 + round * 16 + i))
                        .collect();
                    s.write_all(&pipelined(&paths)).unwrap();
                    let r = read_responses(&mut s, 16);
                    for (i, resp) in r.iter().enumerate() {
                        assert_eq!(resp.status, 200);
                        assert_eq!(resp.body_str(), format!("r{}", c * 1000 + round * 16 + i));
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert!(eventually(Duration::from_secs(5), || {
        let st = srv.stats();
        st.deferred_in_flight == 0 && st.deferred_live == 0
    }));
    srv.stop();
    srv.join().unwrap();
    feeder.join().unwrap();
    for c in completers {
        c.join().unwrap();
    }
}

#[test]
fn dropped_handle_answers_500_and_the_connection_lives_on() {
    let srv = server_with(
        |req: &Request<'_>, res: &mut Response<'_>| {
            if req.path() == "/drop" {
                let d = res.defer();
                std::thread::spawn(move || drop(d));
            } else {
                res.body_static(b"ok");
            }
        },
        Limits::default(),
    );
    let mut s = connect(srv.local_addr());
    let r = roundtrip(&mut s, b"GET /drop HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 500);
    assert_eq!(r.body_str(), "Internal Server Error\n");
    let r = roundtrip(&mut s, b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.body_str()), (200, "ok"));
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn missed_deadline_answers_504_cancels_and_discards_the_late_completion() {
    let (tx, rx) = mpsc::channel::<(usize, Deferred)>();
    let limits = Limits {
        deferred_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let srv = server_with(deferring(tx), limits);
    let mut s = connect(srv.local_addr());
    let t0 = Instant::now();
    s.write_all(b"GET /d/1 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (_, h) = rx.recv().unwrap();
    assert!(!h.is_cancelled());
    let r = read_responses(&mut s, 1).pop().unwrap();
    let took = t0.elapsed();
    assert_eq!(r.status, 504);
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    assert!(h.is_cancelled(), "the deadline sets the cancellation flag");
    h.complete(Reply::ok().body("late"));
    let r = roundtrip(&mut s, b"GET /s/2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body_str(), "sync 2", "the late completion was discarded");
    stop_leaving_nothing(srv);
}

#[test]
fn per_route_deadline_overrides_the_default() {
    let keep: Arc<Mutex<Vec<Deferred>>> = Arc::default();
    let k1 = keep.clone();
    let k2 = keep.clone();
    let srv = start_app(|b| {
        b.get(
            "/quick",
            layer(
                Deadline(Duration::from_millis(200)),
                move |_: &Request<'_>, res: &mut Response<'_>| k1.lock().unwrap().push(res.defer()),
            ),
        )
        .get(
            "/default",
            move |_: &Request<'_>, res: &mut Response<'_>| k2.lock().unwrap().push(res.defer()),
        )
    });
    let mut slow = connect(srv.local_addr());
    slow.write_all(b"GET /default HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut s = connect(srv.local_addr());
    let t0 = Instant::now();
    let r = roundtrip(&mut s, b"GET /quick HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 504);
    assert!(t0.elapsed() < Duration::from_millis(1500));
    // The default (30 s) request is still waiting: complete it now.
    let d = {
        let mut v = keep.lock().unwrap();
        let i = v
            .iter()
            .position(|d| !d.is_cancelled())
            .expect("one still live");
        v.remove(i)
    };
    d.complete(Reply::ok().body("in time"));
    let r = read_responses(&mut slow, 1).pop().unwrap();
    assert_eq!((r.status, r.body_str()), (200, "in time"));
    keep.lock().unwrap().clear();
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn client_disconnect_sets_the_cancel_flag() {
    let (tx, rx) = mpsc::channel::<CancelToken>();
    let keep: Arc<Mutex<Vec<Deferred>>> = Arc::default();
    let k = keep.clone();
    let tx = Mutex::new(tx);
    let srv = server_with(
        move |_: &Request<'_>, res: &mut Response<'_>| {
            let d = res.defer();
            tx.lock().unwrap().send(d.cancel_token()).unwrap();
            k.lock().unwrap().push(d);
        },
        Limits::default(),
    );
    let mut s = connect(srv.local_addr());
    s.write_all(b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let token = rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        !token.is_cancelled(),
        "not cancelled while the client waits"
    );
    drop(s);
    assert!(
        eventually(Duration::from_secs(3), || token.is_cancelled()),
        "closing the connection cancels its deferred request"
    );
    assert!(eventually(Duration::from_secs(2), || srv
        .stats()
        .connections
        == 0));
    assert_eq!(srv.stats().deferred_in_flight, 0);
    keep.lock().unwrap().clear(); // dropping cancelled handles posts nothing
    drop(token);
    stop_leaving_nothing(srv);
}

#[test]
fn limit_reached_over_sockets_answers_503() {
    let keep: Arc<Mutex<Vec<Deferred>>> = Arc::default();
    let k = keep.clone();
    let limits = Limits {
        max_deferred: 3,
        ..Limits::default()
    };
    let srv = strela::Server::builder()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .limits(limits)
        .handler(move |_: &Request<'_>, res: &mut Response<'_>| k.lock().unwrap().push(res.defer()))
        .start()
        .unwrap();
    let mut waiting: Vec<_> = (0..3)
        .map(|_| {
            let mut s = connect(srv.local_addr());
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            s
        })
        .collect();
    assert!(eventually(Duration::from_secs(2), || srv
        .stats()
        .deferred_in_flight
        == 3));
    let mut extra = connect(srv.local_addr());
    let r = roundtrip(&mut extra, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    for d in keep.lock().unwrap().drain(..) {
        d.complete(Reply::ok().body("done"));
    }
    for s in &mut waiting {
        let r = read_responses(s, 1).pop().unwrap();
        assert_eq!((r.status, r.body_str()), (200, "done"));
    }
    srv.stop();
    srv.join().unwrap();
}

#[test]
fn stop_waits_for_deferred_answers_then_closes() {
    let (tx, rx) = mpsc::channel::<(usize, Deferred)>();
    let srv = server_with(deferring(tx), Limits::default());
    let mut s = connect(srv.local_addr());
    s.write_all(b"GET /d/5 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (_, h) = rx.recv().unwrap();
    srv.stop();
    std::thread::sleep(Duration::from_millis(100));
    h.complete(Reply::ok().body("after stop"));
    let r = read_responses(&mut s, 1).pop().unwrap();
    assert_eq!(r.body_str(), "after stop");
    assert_eq!(r.header("connection"), Some("close"));
    srv.join().unwrap();
}

/// 100,000 deferred requests through a BlockingPool (pipelined 16 deep on 10 connections),
/// then every handle, slot and buffer is accounted for.
#[test]
fn no_leak_after_100k_deferred_requests() {
    let pool = Arc::new(BlockingPool::new(4, 1024).unwrap());
    let p = pool.clone();
    let srv = server_with(
        move |req: &Request<'_>, res: &mut Response<'_>| {
            let n = index(req);
            p.run(res.defer(), move |_| Reply::ok().body(format!("{n}")));
        },
        Limits::default(),
    );
    let total = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for c in 0..10 {
            let addr = srv.local_addr();
            let total = &total;
            sc.spawn(move || {
                let mut s = connect(addr);
                for round in 0..625 {
                    let base = round * 16;
                    let paths: Vec<String> = (0..16).map(|i| format!("/p/{}", base + i)).collect();
                    s.write_all(&pipelined(&paths)).unwrap();
                    let r = read_responses(&mut s, 16);
                    for (i, resp) in r.iter().enumerate() {
                        assert_eq!(resp.status, 200, "connection {c}");
                        assert_eq!(resp.body_str(), format!("{}", base + i));
                    }
                    total.fetch_add(16, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(total.into_inner(), 100_000);
    // Figures are published once per loop turn, so the last turn may lag the last response.
    assert!(
        eventually(Duration::from_secs(5), || {
            let st = srv.stats();
            st.requests >= 100_000
                && st.deferred_in_flight == 0
                && st.deferred_live == 0
                && st.connections == 0
                && st.buffers_in_use == 0
        }),
        "leak: {:?}",
        srv.stats()
    );
    assert_eq!(pool.queued(), 0);
    srv.stop();
    srv.join().unwrap();
}
