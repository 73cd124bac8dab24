//! Metrics: what the server counts and how it is exposed.
//!
//! Counting happens where the work happens, in plain per-worker integers (the protocol core's
//! [`Stats`], the worker's connection and byte counts, the
//! application's per-route table); no atomic is contended on the request path. Each worker
//! publishes a copy of its figures once per event-loop turn (one uncontended lock of its own
//! slot); a scrape sums the slots. Request latency is the time from the read that brought a
//! request's bytes to the end of the processing of that read's requests: two clock reads per
//! read (pipelined requests read together share the second one), so it measures the server's
//! work on the request, not time queued behind other connections in the same loop turn.
//!
//! [`Ops`] renders `GET /metrics` (Prometheus text format 0.0.4) and `GET /debug/vars` (JSON, the
//! expvar idea: the same numbers plus configuration and runtime facts), and answers readiness.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::proto::error::RequestError;
use crate::proto::fields::{status_class, STATUS_CLASSES};
use crate::proto::stats::{Stats, TimeoutKind, COUNTERS};
use crate::service::request::Request;
use crate::service::response::Response;

pub use crate::proto::stats::{Latency, LATENCY_BOUNDS_NS};

/// What one worker publishes: the protocol core's counters plus the worker's own.
#[derive(Debug, Clone, Default)]
pub struct WorkerFigures {
    /// The protocol core's counters.
    pub stats: Stats,
    /// Connections open.
    pub connections: u64,
    /// Pooled buffers held by connections.
    pub buffers: u64,
    /// Deferred requests in flight.
    pub deferred: u64,
    /// Deferred completion cells alive (handles or slots not yet dropped).
    pub deferred_live: u64,
}

impl WorkerFigures {
    fn add(&mut self, o: &WorkerFigures) {
        self.stats.add(&o.stats);
        self.connections += o.connections;
        self.buffers += o.buffers;
        self.deferred += o.deferred;
        self.deferred_live += o.deferred_live;
    }
}

/// Sums the published figures of `slots`.
pub(crate) fn sum(slots: &[Slot]) -> WorkerFigures {
    let mut total = WorkerFigures::default();
    for slot in slots {
        total.add(&crate::sync::lock(&slot.0));
    }
    total
}

/// One worker's published figures (its own cache line; locked once per loop turn by its worker
/// and briefly by a scrape).
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct Slot(pub(crate) Mutex<WorkerFigures>);

/// Per-route request counters of an application: `[worker][route][class]`, one writer per
/// worker row (relaxed load + store, no read-modify-write), summed on scrape. Class 5 counts
/// handlers that deferred their answer (its status is counted when it is written).
pub struct RouteCounters {
    routes: Vec<(String, String)>,
    width: usize,
    cells: Box<[AtomicU64]>,
}

/// Class slots per route: the five status classes plus "deferred".
const ROUTE_CLASSES: usize = 6;

impl RouteCounters {
    /// Counters for `routes` (method, pattern; the last entry is the unmatched bucket) and
    /// `workers` workers.
    pub fn new(routes: Vec<(String, String)>, workers: usize) -> Self {
        // Round each worker's row up to whole cache lines so rows never share one.
        let width = (routes.len() * ROUTE_CLASSES).div_ceil(8) * 8;
        let cells = (0..width * workers.max(1))
            .map(|_| AtomicU64::new(0))
            .collect();
        RouteCounters {
            routes,
            width,
            cells,
        }
    }

    /// Counts one request of route `route` answered with `status` (`None`: deferred) on the
    /// worker that issued request id `id`.
    #[inline]
    pub fn count(&self, id: u64, route: usize, status: Option<u16>) {
        let worker = (id >> 48) as usize;
        let class = status.map_or(ROUTE_CLASSES - 1, status_class);
        let i = worker * self.width + route * ROUTE_CLASSES + class;
        if let Some(c) = self.cells.get(i) {
            c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }

    /// `(method, pattern, class label, count)` for every non-zero cell, summed over workers.
    pub fn totals(&self) -> Vec<(&str, &str, &'static str, u64)> {
        let workers = self.cells.len() / self.width.max(1);
        let mut out = Vec::new();
        for (r, (m, p)) in self.routes.iter().enumerate() {
            for class in 0..ROUTE_CLASSES {
                let n: u64 = (0..workers)
                    .map(|w| {
                        self.cells[w * self.width + r * ROUTE_CLASSES + class]
                            .load(Ordering::Relaxed)
                    })
                    .sum();
                if n > 0 {
                    let label = STATUS_CLASSES.get(class).copied().unwrap_or("deferred");
                    out.push((m.as_str(), p.as_str(), label, n));
                }
            }
        }
        out
    }
}

/// Static facts shown by `/debug/vars` (configuration and the like), set by the embedding
/// program.
pub type Facts = serde_json::Map<String, serde_json::Value>;

struct OpsInner {
    slots: OnceLock<Arc<[Slot]>>,
    routes: OnceLock<Arc<RouteCounters>>,
    ready: OnceLock<Arc<dyn Fn() -> bool + Send + Sync>>,
    facts: Mutex<Facts>,
    started: Instant,
}

/// The operations side of a server: metrics, debug vars and readiness. Cheap to clone; the
/// server attaches its figures when it starts (before that every figure reads 0).
#[derive(Clone)]
pub struct Ops(Arc<OpsInner>);

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").finish_non_exhaustive()
    }
}

impl Default for Ops {
    fn default() -> Self {
        Ops(Arc::new(OpsInner {
            slots: OnceLock::new(),
            routes: OnceLock::new(),
            ready: OnceLock::new(),
            facts: Mutex::new(Facts::new()),
            started: Instant::now(),
        }))
    }
}

/// The figures of a whole server at one moment, summed over workers.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Summed worker figures.
    pub total: WorkerFigures,
    /// Workers.
    pub workers: usize,
}

impl Ops {
    pub(crate) fn attach_slots(&self, slots: Arc<[Slot]>) {
        let _ = self.0.slots.set(slots);
    }

    pub(crate) fn attach_routes(&self, routes: Arc<RouteCounters>) {
        let _ = self.0.routes.set(routes);
    }

    pub(crate) fn attach_ready(&self, ready: Arc<dyn Fn() -> bool + Send + Sync>) {
        let _ = self.0.ready.set(ready);
    }

    /// Replaces the facts `/debug/vars` shows under `"config"`.
    pub fn set_facts(&self, facts: Facts) {
        *crate::sync::lock(&self.0.facts) = facts;
    }

    /// Whether the server accepts traffic: started, not draining, not marked unready.
    pub fn is_ready(&self) -> bool {
        self.0.ready.get().is_some_and(|f| f())
    }

    /// Sums the workers' last published figures.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        if let Some(slots) = self.0.slots.get() {
            s.workers = slots.len();
            s.total = sum(slots);
        }
        s
    }

    /// The Prometheus text exposition of every metric.
    pub fn prometheus(&self) -> String {
        let s = self.snapshot();
        let t = &s.total.stats;
        let mut o = String::with_capacity(4096);
        let family = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut o,
            "strela_build_info",
            "gauge",
            "Build information (always 1).",
        );
        let _ = writeln!(
            o,
            "strela_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            env!("BUILD_STRELA_GIT")
        );
        process_metrics(&mut o, &crate::sys::process_facts());
        family(
            &mut o,
            "strela_uptime_seconds",
            "gauge",
            "Seconds since the server was configured.",
        );
        let _ = writeln!(
            o,
            "strela_uptime_seconds {:.3}",
            self.0.started.elapsed().as_secs_f64()
        );
        family(&mut o, "strela_workers", "gauge", "Worker threads.");
        let _ = writeln!(o, "strela_workers {}", s.workers);

        family(
            &mut o,
            "strela_responses_total",
            "counter",
            "Responses written, by status class (core errors included).",
        );
        for (i, c) in STATUS_CLASSES.iter().enumerate() {
            let _ = writeln!(o, "strela_responses_total{{class=\"{c}\"}} {}", t.status[i]);
        }
        family(&mut o, "strela_requests_total", "counter", "Requests that reached a route, by method, route pattern and status class (\"deferred\": answered later).");
        if let Some(r) = self.0.routes.get() {
            for (m, p, c, n) in r.totals() {
                let _ = writeln!(
                    o,
                    "strela_requests_total{{method=\"{}\",route=\"{}\",class=\"{c}\"}} {n}",
                    escape(m),
                    escape(p)
                );
            }
        }
        family(
            &mut o,
            "strela_parse_errors_total",
            "counter",
            "Requests refused by the protocol core, by kind.",
        );
        for e in RequestError::ALL {
            let _ = writeln!(
                o,
                "strela_parse_errors_total{{kind=\"{}\"}} {}",
                e.as_str(),
                t.errors[e.index()]
            );
        }
        family(
            &mut o,
            "strela_request_duration_seconds",
            "histogram",
            "Time from reading a request's bytes to its response being ready (requests read together share the batch's end).",
        );
        let mut cum = 0;
        for (i, b) in LATENCY_BOUNDS_NS.iter().enumerate() {
            cum += t.latency.buckets[i];
            let _ = writeln!(
                o,
                "strela_request_duration_seconds_bucket{{le=\"{}\"}} {cum}",
                *b as f64 / 1e9
            );
        }
        cum += t.latency.buckets[LATENCY_BOUNDS_NS.len()];
        let _ = writeln!(
            o,
            "strela_request_duration_seconds_bucket{{le=\"+Inf\"}} {cum}"
        );
        let _ = writeln!(
            o,
            "strela_request_duration_seconds_sum {}",
            t.latency.sum_ns as f64 / 1e9
        );
        let _ = writeln!(o, "strela_request_duration_seconds_count {cum}");
        family(
            &mut o,
            "strela_connections_open",
            "gauge",
            "Open connections.",
        );
        let _ = writeln!(o, "strela_connections_open {}", s.total.connections);
        family(
            &mut o,
            "strela_timeouts_total",
            "counter",
            "Connections closed by a timeout, by kind.",
        );
        for k in TimeoutKind::ALL {
            let _ = writeln!(
                o,
                "strela_timeouts_total{{kind=\"{}\"}} {}",
                k.as_str(),
                t.timeouts[k as usize]
            );
        }
        family(
            &mut o,
            "strela_buffers_in_use",
            "gauge",
            "Pooled buffers held by connections.",
        );
        let _ = writeln!(o, "strela_buffers_in_use {}", s.total.buffers);
        family(
            &mut o,
            "strela_deferred_in_flight",
            "gauge",
            "Deferred requests waiting for their completion.",
        );
        let _ = writeln!(o, "strela_deferred_in_flight {}", s.total.deferred);
        // Every plain counter, from the one table that names them.
        let mut last = "";
        for row in COUNTERS {
            if row.metric != last {
                family(&mut o, row.metric, "counter", row.help);
                last = row.metric;
            }
            let labels = if row.labels.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", row.labels)
            };
            let _ = writeln!(o, "{}{labels} {}", row.metric, t[row.counter]);
        }
        family(
            &mut o,
            "strela_ready",
            "gauge",
            "1 while the server accepts traffic, 0 once draining or marked unready.",
        );
        let _ = writeln!(o, "strela_ready {}", u8::from(self.is_ready()));
        o
    }

    /// The same figures as JSON, plus configuration facts and runtime details.
    pub fn debug_vars(&self) -> serde_json::Value {
        use serde_json::json;
        let s = self.snapshot();
        let t = &s.total.stats;
        let errors: serde_json::Map<String, serde_json::Value> = RequestError::ALL
            .iter()
            .map(|e| (e.as_str().to_string(), json!(t.errors[e.index()])))
            .collect();
        let status: serde_json::Map<String, serde_json::Value> = STATUS_CLASSES
            .iter()
            .enumerate()
            .map(|(i, c)| (c.to_string(), json!(t.status[i])))
            .collect();
        let routes: Vec<serde_json::Value> = self
            .0
            .routes
            .get()
            .map(|r| {
                r.totals()
                    .into_iter()
                    .map(|(m, p, c, n)| json!({"method": m, "route": p, "class": c, "count": n}))
                    .collect()
            })
            .unwrap_or_default();
        let lat = &t.latency;
        let count = lat.count();
        let p = crate::sys::process_facts();
        let mut v = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": env!("BUILD_STRELA_GIT"),
            "process": {
                "cpu_seconds": p.cpu_seconds,
                "resident_memory_bytes": p.resident_bytes,
                "virtual_memory_bytes": p.virtual_bytes,
                "open_fds": p.open_fds,
                "max_fds": p.max_fds,
                "start_time_seconds": p.start_time_seconds,
            },
            "pid": std::process::id(),
            "uptime_seconds": self.0.started.elapsed().as_secs_f64(),
            "workers": s.workers,
            "ready": self.is_ready(),
            "config": *crate::sync::lock(&self.0.facts),
            "responses": status,
            "requests_by_route": routes,
            "parse_errors": errors,
            "timeouts": TimeoutKind::ALL
                .iter()
                .map(|k| (k.as_str().to_string(), json!(t.timeouts[*k as usize])))
                .collect::<serde_json::Map<_, _>>(),
            "latency": {
                "count": count,
                "mean_seconds": if count > 0 { lat.sum_ns as f64 / count as f64 / 1e9 } else { 0.0 },
                "bucket_bounds_seconds": LATENCY_BOUNDS_NS.iter().map(|b| *b as f64 / 1e9).collect::<Vec<_>>(),
                "buckets": lat.buckets.to_vec(),
            },
            "buffers_in_use": s.total.buffers,
        });
        // Every plain counter, from the one table that names them.
        for row in COUNTERS {
            let (section, key) = row.json.split_once('.').unwrap_or(("", row.json));
            let slot = if section.is_empty() {
                &mut v
            } else {
                v.as_object_mut()
                    .expect("an object")
                    .entry(section)
                    .or_insert_with(|| json!({}))
            };
            slot[key] = json!(t[row.counter]);
        }
        v["deferred"]["in_flight"] = json!(s.total.deferred);
        v["connections"]["open"] = json!(s.total.connections);
        v
    }

    /// A handler answering the Prometheus text.
    pub fn metrics_handler(
        &self,
    ) -> impl Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static {
        let ops = self.clone();
        move |_req: &Request<'_>, res: &mut Response<'_>| {
            res.content_type("text/plain; version=0.0.4; charset=utf-8")
                .body_string(ops.prometheus());
        }
    }

    /// A handler answering the debug vars as JSON; unless `public`, only to loopback clients
    /// (others get 404).
    pub fn debug_vars_handler(
        &self,
        public: bool,
    ) -> impl Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static {
        let ops = self.clone();
        move |req: &Request<'_>, res: &mut Response<'_>| {
            let local = req.peer_addr().is_some_and(|p| p.ip().is_loopback());
            if !public && !local {
                res.status(404)
                    .content_type("text/plain")
                    .body_static(b"Not Found\n");
                return;
            }
            let v = ops.debug_vars();
            res.json(&v);
        }
    }

    /// A handler answering `200 ready` or, once draining or marked unready, `503 draining`.
    pub fn readiness_handler(
        &self,
    ) -> impl Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static {
        let ops = self.clone();
        move |_req: &Request<'_>, res: &mut Response<'_>| {
            if ops.is_ready() {
                res.content_type("text/plain").body_static(b"ready\n");
            } else {
                res.status(503)
                    .header("Retry-After", "1")
                    .content_type("text/plain")
                    .body_static(b"draining\n");
            }
        }
    }
}

/// The `process_*` families, named and typed as the Prometheus client libraries export them.
fn process_metrics(o: &mut String, p: &crate::sys::ProcessFacts) {
    let rows: [(&str, &str, &str, Option<f64>); 6] = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes.map(|v| v as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes.map(|v| v as f64),
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            p.open_fds.map(|v| v as f64),
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            p.max_fds.map(|v| v as f64),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        ),
    ];
    for (name, kind, help, v) in rows {
        if let Some(v) = v {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
    }
}

/// Escapes a Prometheus label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl std::fmt::Debug for RouteCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteCounters")
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_counters_sum_over_workers() {
        let r = RouteCounters::new(
            vec![("GET".into(), "/a".into()), ("*".into(), "".into())],
            2,
        );
        r.count(0, 0, Some(200));
        r.count(1 << 48, 0, Some(201));
        r.count(1 << 48, 0, None);
        r.count(0, 1, Some(404));
        r.count(7 << 48, 0, Some(200)); // no such worker: ignored, never a panic
        let t = r.totals();
        assert_eq!(
            t,
            vec![
                ("GET", "/a", "2xx", 2),
                ("GET", "/a", "deferred", 1),
                ("*", "", "4xx", 1)
            ]
        );
    }
}
