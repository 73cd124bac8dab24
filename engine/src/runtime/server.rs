//! Starting and stopping a server: the builder, worker threads, the stop handle, and the rule
//! that one worker's failure stops them all.
//!
//! Every worker gets its own listener bound to the same address with `SO_REUSEPORT` (the kernel
//! spreads new connections), its own epoll and an eventfd waker. Listeners are bound before any
//! thread starts, so a bad address is an error from `start`/`run`, not a dead thread. A worker
//! that returns an error or panics sets the shared stop flag and wakes the others on its way out
//! (a drop guard), so `run` returns as soon as any worker fails.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::app::middleware::Middleware;
use crate::app::AppBuilder;
use crate::ops::{Ops, Slot};
use crate::proto::limits::Limits;
use crate::proto::stats::Counter;
use crate::runtime::shared::Shared;
use crate::runtime::worker::Worker;
use crate::service::handler::Handler;
use crate::sys;

/// A snapshot of a running server's figures, summed over its workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Open connections.
    pub connections: usize,
    /// Pooled buffers currently held by connections (0 when every connection is idle).
    pub buffers_in_use: usize,
    /// Requests answered since start (by handlers or by the protocol core's error responses).
    pub requests: u64,
    /// Connections closed by a header, idle or write timeout.
    pub timeouts: u64,
    /// Deferred requests waiting for their completion.
    pub deferred_in_flight: usize,
    /// Deferred-response handles and slots alive (0 once all are answered and dropped: a leak
    /// check).
    pub deferred_live: usize,
}

/// Configures a server: address, workers, limits, routes, middleware. Finish with
/// [`ServerBuilder::run`] (blocking) or [`ServerBuilder::start`] (background threads and a handle).
///
/// ```no_run
/// use strela::{Request, Response, Server};
/// use strela::middleware::{Recover, Timing};
///
/// fn user(req: &Request<'_>, res: &mut Response<'_>) {
///     let id = req.param("id").unwrap_or("?");
///     res.json(&serde_json::json!({ "id": id }));
/// }
///
/// Server::builder()
///     .bind("127.0.0.1:8080".parse().unwrap())
///     .get("/users/{id}", user)
///     .wrap(Recover::new())
///     .wrap(Timing)
///     .run()
///     .unwrap();
/// ```
pub struct ServerBuilder {
    addrs: Vec<SocketAddr>,
    takeover: bool,
    workers: usize,
    limits: Limits,
    backlog: i32,
    drain_timeout: std::time::Duration,
    drain_idle_grace: std::time::Duration,
    shutdown_delay: std::time::Duration,
    app: AppBuilder,
    ops: Ops,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("addrs", &self.addrs)
            .field("takeover", &self.takeover)
            .field("workers", &self.workers)
            .field("limits", &self.limits)
            .field("backlog", &self.backlog)
            .finish_non_exhaustive()
    }
}

/// Entry point: `Server::builder()`.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder listening on `0.0.0.0:8080` with one worker per core and default limits.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            addrs: vec![SocketAddr::from(([0, 0, 0, 0], 8080))],
            takeover: false,
            workers: default_workers(),
            limits: Limits::default(),
            backlog: 4096,
            drain_timeout: std::time::Duration::from_secs(10),
            drain_idle_grace: std::time::Duration::ZERO,
            shutdown_delay: std::time::Duration::ZERO,
            app: AppBuilder::new(),
            ops: Ops::default(),
        }
    }
}

/// One worker per available core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl ServerBuilder {
    /// The address to listen on (port 0 picks a free port; see [`ServerHandle::local_addr`]).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addrs = vec![addr];
        self
    }

    /// Several addresses to listen on, e.g. everything a host name resolves to (`localhost`:
    /// `127.0.0.1` and `::1`). Every worker listens on each. Port 0 in the first address picks
    /// a free port, which the others with port 0 then share. An empty list keeps the current
    /// addresses.
    pub fn bind_all(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        let mut list: Vec<SocketAddr> = Vec::new();
        for a in addrs {
            if !list.contains(&a) {
                list.push(a);
            }
        }
        if !list.is_empty() {
            self.addrs = list;
        }
        self
    }

    /// Whether to share the port with listeners another process already has on it (default
    /// `false`). Every worker's listener uses `SO_REUSEPORT`, which would also let a second
    /// server start silently on a port in use and split the traffic with it; so by default
    /// `start` first checks that nothing else listens there and fails with `AddrInUse` if
    /// something does. Set it for a zero-downtime hand-over: start the new process with
    /// `takeover(true)` on the old one's port, then stop the old one.
    pub fn takeover(mut self, yes: bool) -> Self {
        self.takeover = yes;
        self
    }

    /// Number of worker threads (at least 1).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Limits for every connection.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long a graceful stop waits for in-flight requests before closing everything
    /// (default 10 s).
    pub fn drain_timeout(mut self, d: std::time::Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// How long a graceful stop keeps idle keep-alive connections open (default 0: closed at
    /// once). During the grace a request on one is answered with `Connection: close`, so a
    /// client that reuses its connection just as the stop begins is not failed; connections
    /// already in the listen queue are accepted and served too. Use it for zero-downtime
    /// restarts (a new process on the same port with `SO_REUSEPORT`, then stop the old one).
    pub fn drain_idle_grace(mut self, d: std::time::Duration) -> Self {
        self.drain_idle_grace = d;
        self
    }

    /// How long [`Stopper::shutdown`] keeps the server running but not ready before it drains
    /// (default 0): long enough for load balancers to see `/readyz` fail and stop sending.
    pub fn shutdown_delay(mut self, d: std::time::Duration) -> Self {
        self.shutdown_delay = d;
        self
    }

    /// The listen backlog of each worker's listener.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog.max(1);
        self
    }

    /// Routes `method` + `pattern` (strela-router syntax: `/users/{id}`, `/static/{*path}`).
    pub fn route(mut self, method: &str, pattern: &str, handler: impl Handler) -> Self {
        self.app.route(method, pattern, handler);
        self
    }

    /// Serves the directory of `files` under `prefix` (which ends with `/`, e.g. `/static/`):
    /// `GET` and `HEAD` of `prefix` (the index file, if set) and of every path below it. See
    /// [`crate::app::files`] for what is answered.
    ///
    /// # Panics
    /// If `prefix` does not start and end with `/`.
    pub fn files(self, prefix: &str, files: crate::app::files::StaticFiles) -> Self {
        assert!(
            prefix.starts_with('/') && prefix.ends_with('/'),
            "a files prefix starts and ends with '/': {prefix:?}"
        );
        let below = format!("{prefix}{{*path}}");
        self.get(prefix, files.clone()).get(&below, files)
    }

    /// Routes GET (and so HEAD) for `pattern`.
    pub fn get(self, pattern: &str, handler: impl Handler) -> Self {
        self.route("GET", pattern, handler)
    }

    /// Routes POST for `pattern`.
    pub fn post(self, pattern: &str, handler: impl Handler) -> Self {
        self.route("POST", pattern, handler)
    }

    /// Routes PUT for `pattern`.
    pub fn put(self, pattern: &str, handler: impl Handler) -> Self {
        self.route("PUT", pattern, handler)
    }

    /// Routes DELETE for `pattern`.
    pub fn delete(self, pattern: &str, handler: impl Handler) -> Self {
        self.route("DELETE", pattern, handler)
    }

    /// Adds middleware around everything; the first added sees each request first.
    pub fn wrap(mut self, m: impl Middleware) -> Self {
        self.app.wrap(m);
        self
    }

    /// The handler for requests no route matches; with no routes at all it serves every request.
    pub fn handler(mut self, h: impl Handler) -> Self {
        self.app.fallback(h);
        self
    }

    /// The server's operations handle (metrics, debug vars, readiness); usable before start,
    /// it reads the figures once the server runs.
    pub fn ops(&self) -> Ops {
        self.ops.clone()
    }

    /// Serves the Prometheus metrics at `path` (e.g. `/metrics`).
    pub fn metrics(self, path: &str) -> Self {
        let h = self.ops.metrics_handler();
        self.get(path, h)
    }

    /// Serves the debug vars (JSON) at `path` (e.g. `/debug/vars`) to loopback clients only:
    /// they show the whole configuration. Others get 404, as if there were no such path.
    pub fn debug_vars(self, path: &str) -> Self {
        let h = self.ops.debug_vars_handler(false);
        self.get(path, h)
    }

    /// Serves the debug vars at `path` to every client (put it behind auth or a private
    /// network).
    pub fn debug_vars_public(self, path: &str) -> Self {
        let h = self.ops.debug_vars_handler(true);
        self.get(path, h)
    }

    /// Serves readiness at `path` (e.g. `/readyz`): 200 while serving, 503 once draining or
    /// marked unready ([`Stopper::set_ready`]).
    pub fn readiness(self, path: &str) -> Self {
        let h = self.ops.readiness_handler();
        self.get(path, h)
    }

    /// Router options: redirects, automatic OPTIONS, HEAD from GET.
    pub fn router_options(mut self, o: strela_router::Options) -> Self {
        self.app.options(o);
        self
    }

    /// Binds, starts the workers in background threads, and returns a handle to the server.
    /// Route errors (conflicts, bad patterns) are returned here as `InvalidInput`, all of them,
    /// each naming the routes involved.
    pub fn start(mut self) -> io::Result<ServerHandle> {
        let app = std::mem::take(&mut self.app);
        let (handler, counters) = app.build_counted(self.workers).map_err(|errs| {
            let msg: Vec<String> = errs.iter().map(ToString::to_string).collect();
            io::Error::new(io::ErrorKind::InvalidInput, msg.join("; "))
        })?;
        self.ops.attach_routes(counters);
        let handler: Arc<dyn Handler> = Arc::from(handler);
        self.start_handler(handler)
    }

    /// Starts serving `handler` directly: no router, no middleware (what [`ServerBuilder::start`]
    /// does after building the app).
    pub fn start_handler<H: Handler + ?Sized>(self, handler: Arc<H>) -> io::Result<ServerHandle> {
        // Bind each address's first listener, learn the real port (port 0 → ephemeral, shared
        // by the later addresses asking for port 0), then each worker's listeners to it.
        let mut addrs = Vec::with_capacity(self.addrs.len());
        let mut picked = 0u16;
        let mut listeners: Vec<Vec<std::os::fd::OwnedFd>> =
            (0..self.workers).map(|_| Vec::new()).collect();
        for want in &self.addrs {
            let mut want = *want;
            if want.port() == 0 && picked != 0 {
                want.set_port(picked);
            }
            if !self.takeover && want.port() != 0 {
                sys::check_port_free(want).map_err(|e| in_use(want, e))?;
            }
            let first = sys::listener(want, self.backlog).map_err(|e| in_use(want, e))?;
            let addr = sys::local_addr(std::os::fd::AsFd::as_fd(&first))?;
            if picked == 0 {
                picked = addr.port();
            }
            listeners[0].push(first);
            for l in listeners.iter_mut().skip(1) {
                l.push(sys::listener(addr, self.backlog)?);
            }
            addrs.push(addr);
        }
        let wakers = (0..self.workers)
            .map(|_| sys::Waker::new())
            .collect::<io::Result<Vec<_>>>()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            drain_timeout: self.drain_timeout,
            drain_idle_grace: self.drain_idle_grace,
            wakers,
            limits: Mutex::new(Arc::new(self.limits.normalized())),
            limits_gen: AtomicU64::new(0),
            unready: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            shutdown_delay_ms: AtomicU64::new(duration_ms(self.shutdown_delay)),
            slots: (0..self.workers).map(|_| Slot::default()).collect(),
        });
        self.ops.attach_slots(shared.slots.clone());
        let ready = shared.clone();
        self.ops.attach_ready(Arc::new(move || ready.is_ready()));

        let mut threads = Vec::with_capacity(self.workers);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for (id, listeners) in listeners.into_iter().enumerate() {
            let worker = Worker {
                id,
                listeners,
                shared: shared.clone(),
                handler: handler.clone(),
            };
            let guard = StopOnExit(shared.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("strela-w{id}"))
                .spawn({
                    let ready = ready_tx.clone();
                    move || {
                        let _guard = guard;
                        worker.run(ready)
                    }
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shared.stop();
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        drop(ready_tx);
        let mut handle = ServerHandle {
            addrs,
            shared,
            threads,
        };
        for _ in 0..handle.threads.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    handle.shared.stop();
                    let _ = handle.join_all();
                    return Err(e);
                }
                Err(_) => break, // a worker ended before reporting: join() will say why
            }
        }
        Ok(handle)
    }

    /// Binds and serves until the server stops; returns the first worker error, if any.
    pub fn run(self) -> io::Result<()> {
        self.start()?.join()
    }
}

/// An `AddrInUse` error that says what to do about it.
fn in_use(addr: SocketAddr, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::AddrInUse {
        io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{addr} is already in use by another socket (to hand over from a running \
                 strela on purpose, start this one with takeover)"
            ),
        )
    } else {
        e
    }
}

/// Sets the stop flag when a worker thread ends for any reason (return, error or panic).
struct StopOnExit(Arc<Shared>);

impl Drop for StopOnExit {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A running server. Dropping it stops the server and waits for its workers.
pub struct ServerHandle {
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// The (first) address the server listens on, with the real port when port 0 was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every address the server listens on (see [`ServerBuilder::bind_all`]).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Open connections, buffers in use and requests answered, as last published by the workers
    /// (each publishes after every event-loop turn, so figures lag by at most one turn).
    pub fn stats(&self) -> ServerStats {
        let f = crate::ops::sum(&self.shared.slots);
        ServerStats {
            connections: f.connections as usize,
            buffers_in_use: f.buffers as usize,
            requests: f.stats[Counter::Requests] + f.stats[Counter::Rejected],
            timeouts: f.stats.timeouts_total(),
            deferred_in_flight: f.deferred as usize,
            deferred_live: f.deferred_live as usize,
        }
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.shared.wakers.len()
    }

    /// The limits in force now.
    pub fn limits(&self) -> Limits {
        (*self.shared.limits()).clone()
    }

    /// A cloneable handle that can stop the server from any thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.shared.clone())
    }

    /// Stops gracefully; returns at once (use [`ServerHandle::join`] to wait): listeners close,
    /// idle connections close, requests being received are finished and answered with
    /// `Connection: close`, and after the drain timeout whatever is left is closed.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Stops at once: every connection is closed without finishing its request.
    pub fn stop_now(&self) {
        self.shared.stop_now();
    }

    /// Waits until every worker has stopped; returns the first worker error (a panicking
    /// worker is reported as an error too).
    pub fn join(mut self) -> io::Result<()> {
        self.join_all()
    }

    fn join_all(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        for (id, t) in self.threads.drain(..).enumerate() {
            let r = match t.join() {
                Ok(r) => r,
                Err(_) => Err(io::Error::other(format!("worker {id} panicked"))),
            };
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shared.stop_now();
            let _ = self.join_all();
        }
    }
}

/// Stops a server from any thread.
#[derive(Clone)]
pub struct Stopper(Arc<Shared>);

impl Stopper {
    /// Stops gracefully (see [`ServerHandle::stop`]).
    pub fn stop(&self) {
        self.0.stop();
    }

    /// Stops at once (see [`ServerHandle::stop_now`]).
    pub fn stop_now(&self) {
        self.0.stop_now();
    }

    /// Replaces the limits of the running server, atomically as a whole: each worker picks
    /// them up at its next event-loop turn, for new and open connections alike, without
    /// dropping any. The buffer pool's sizes (`buffer_size`, `pooled_buffers`) keep their
    /// start-up values.
    pub fn set_limits(&self, limits: &Limits) {
        self.0.set_limits(limits);
    }

    /// Marks the server ready or not: readiness endpoints answer 503 while not ready (and
    /// always once stopping). Use it for a shutdown delay, so load balancers stop sending
    /// before the listeners close.
    pub fn set_ready(&self, ready: bool) {
        self.0.unready.store(!ready, Ordering::Release);
    }

    /// Replaces the shutdown delay (see [`ServerBuilder::shutdown_delay`]); a shutdown already
    /// begun keeps the delay it started with.
    pub fn set_shutdown_delay(&self, d: std::time::Duration) {
        self.0
            .shutdown_delay_ms
            .store(duration_ms(d), Ordering::Release);
    }

    /// The shutdown delay in force.
    pub fn shutdown_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.shutdown_delay_ms.load(Ordering::Acquire))
    }

    /// Begins the production shutdown sequence and returns at once: the server turns not
    /// ready (readiness answers 503 while requests are still served), after the shutdown delay
    /// it stops gracefully (listeners close, requests in progress are finished, for at most the
    /// drain timeout), and [`ServerHandle::join`] then returns. Returns `false`, and does
    /// nothing, when a shutdown had already begun: callers treat a second request as "stop
    /// now" (the `strela` binary exits with 130; [`Stopper::stop_now`] closes everything).
    pub fn shutdown(&self) -> bool {
        if self.0.shutting_down.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.set_ready(false);
        let delay = self.shutdown_delay();
        if delay.is_zero() {
            self.stop();
        } else {
            let shared = self.0.clone();
            let spawned = std::thread::Builder::new()
                .name("strela-shutdown".into())
                .spawn(move || {
                    std::thread::sleep(delay);
                    shared.stop();
                });
            if spawned.is_err() {
                self.stop(); // no thread for the delay: drain now rather than never
            }
        }
        true
    }

    /// Whether [`Stopper::shutdown`] has been called.
    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::Acquire)
    }

    /// Runs the shutdown sequence on `SIGINT` and `SIGTERM` from a background thread: the first
    /// signal begins [`Stopper::shutdown`], a second one exits the process with status 130
    /// (as a shell reports an interrupted program). Other signals are left to the caller.
    /// Feature `signals`.
    #[cfg(feature = "signals")]
    pub fn stop_on_signals(&self) -> io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
        let stopper = self.clone();
        std::thread::Builder::new()
            .name("strela-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if !stopper.shutdown() {
                        log::warn!("second stop signal: exiting now signal={sig}");
                        std::process::exit(130);
                    }
                    log::info!(
                        "stopping signal={sig} shutdown_delay_ms={} drain_timeout_secs={}",
                        stopper.shutdown_delay().as_millis(),
                        stopper.0.drain_timeout.as_secs()
                    );
                }
            })?;
        Ok(())
    }
}

fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stopper")
    }
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}
