//! What a worker counts, as plain integers (one thread owns them; no atomics): counters with
//! typed indices, responses by status class, refusals by kind, timeouts by kind, and the
//! latency histogram. [`COUNTERS`] is the one table that names every counter — summing,
//! the Prometheus exposition and the JSON debug vars all read it, so adding a counter is one
//! variant and one table row.

use std::ops::{Index, IndexMut};

use crate::proto::error::RequestError;

/// A counter's index in [`Stats::counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Requests answered by a handler.
    Requests,
    /// Requests refused by the protocol core (4xx/5xx before any handler ran).
    Rejected,
    /// Handlers that panicked (each answered 500, connection closed, worker unharmed).
    Panics,
    /// Times a head was parsed from its first byte (a trickled head is not re-parsed per read).
    HeadParses,
    /// Requests whose handler deferred the response.
    DeferredStarted,
    /// Deferred requests answered `504` because their deadline passed.
    DeferredExpired,
    /// Deferrals refused with `503` because `Limits::max_deferred` were in flight.
    DeferredRefused,
    /// Deferred requests cancelled because their connection closed first.
    DeferredCancelled,
    /// Connections accepted.
    Accepted,
    /// Connections closed.
    Closed,
    /// Bytes read from clients.
    BytesIn,
    /// Bytes written to clients.
    BytesOut,
    /// Responses whose body was streamed (chunked, or close-delimited to HTTP/1.0).
    StreamsStarted,
    /// Streamed bodies cut short (the producer aborted or panicked, a writer was dropped
    /// unfinished): the connection was closed after what was sent.
    StreamsAborted,
    /// Connections closed lingering: reading had stopped early (a refusal, a body nobody
    /// reads), so the sending side was shut first and input discarded for a while.
    Lingered,
}

/// How many [`Counter`]s there are.
pub const COUNTER_COUNT: usize = Counter::Lingered as usize + 1;

/// A timeout's kind, the index into [`Stats::timeouts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum TimeoutKind {
    /// A head not complete within `header_timeout`.
    Header,
    /// An idle keep-alive connection past `idle_timeout`.
    Idle,
    /// Responses unread for `write_timeout`.
    Write,
    /// A body slower than `min_body_rate`.
    BodyRate,
}

impl TimeoutKind {
    /// Every kind, in index order.
    pub const ALL: [TimeoutKind; 4] = [
        TimeoutKind::Header,
        TimeoutKind::Idle,
        TimeoutKind::Write,
        TimeoutKind::BodyRate,
    ];

    /// A short, stable name (metric label, log field).
    pub const fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::Header => "header",
            TimeoutKind::Idle => "idle",
            TimeoutKind::Write => "write",
            TimeoutKind::BodyRate => "body_rate",
        }
    }
}

/// One row of [`COUNTERS`]: where a counter shows up.
#[derive(Debug, Clone, Copy)]
pub struct CounterInfo {
    /// The counter.
    pub counter: Counter,
    /// The Prometheus metric it is a sample of (rows with the same metric form one family).
    pub metric: &'static str,
    /// The sample's labels, `key="value"`, or "" for none.
    pub labels: &'static str,
    /// The family's help text (read from the family's first row).
    pub help: &'static str,
    /// Where it goes in the debug vars JSON: `section.key`, or `key` at the top level.
    pub json: &'static str,
}

macro_rules! row {
    ($c:ident, $metric:literal, $labels:literal, $json:literal, $help:literal) => {
        CounterInfo {
            counter: Counter::$c,
            metric: $metric,
            labels: $labels,
            help: $help,
            json: $json,
        }
    };
}

/// Every counter, in exposition order.
pub const COUNTERS: &[CounterInfo] = &[
    row!(Panics, "strela_handler_panics_total", "", "handler_panics", "Handlers that panicked (answered 500)."),
    row!(Accepted, "strela_connections_accepted_total", "", "connections.accepted", "Connections accepted."),
    row!(Closed, "strela_connections_closed_total", "", "connections.closed", "Connections closed."),
    row!(Lingered, "strela_connections_lingered_total", "", "connections.lingered", "Connections closed lingering: sending side shut first, input discarded (reading had stopped early)."),
    row!(BytesIn, "strela_bytes_received_total", "", "bytes.received", "Bytes read from clients."),
    row!(BytesOut, "strela_bytes_sent_total", "", "bytes.sent", "Bytes written to clients."),
    row!(DeferredStarted, "strela_deferred_total", "outcome=\"started\"", "deferred.started", "Deferred requests, by outcome (started, expired: 504, refused: 503, cancelled)."),
    row!(DeferredExpired, "strela_deferred_total", "outcome=\"expired\"", "deferred.expired", ""),
    row!(DeferredRefused, "strela_deferred_total", "outcome=\"refused\"", "deferred.refused", ""),
    row!(DeferredCancelled, "strela_deferred_total", "outcome=\"cancelled\"", "deferred.cancelled", ""),
    row!(StreamsStarted, "strela_streamed_responses_total", "outcome=\"started\"", "streams.started", "Responses with a streamed body, by outcome (started, aborted: cut short and the connection closed)."),
    row!(StreamsAborted, "strela_streamed_responses_total", "outcome=\"aborted\"", "streams.aborted", ""),
    row!(Requests, "strela_handled_requests_total", "", "requests.handled", "Requests answered by a handler."),
    row!(Rejected, "strela_refused_requests_total", "", "requests.refused", "Requests the protocol core answered itself (4xx/5xx before any handler ran)."),
    row!(HeadParses, "strela_head_parses_total", "", "requests.head_parses", "Request heads parsed from their first byte (a trickled head is parsed twice, not once per read)."),
];

/// Upper bounds of the latency histogram buckets, in nanoseconds (the last bucket is `+Inf`).
pub const LATENCY_BOUNDS_NS: [u64; 16] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
];

/// A latency histogram: counts per bucket (not cumulative; the last is `+Inf`) and the sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    /// Observations per bucket of [`LATENCY_BOUNDS_NS`], then `+Inf`.
    pub buckets: [u64; 17],
    /// Sum of the observations, in nanoseconds.
    pub sum_ns: u64,
}

impl Latency {
    /// Records `n` observations of `ns` nanoseconds.
    #[inline]
    pub fn observe(&mut self, ns: u64, n: u64) {
        let i = LATENCY_BOUNDS_NS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(LATENCY_BOUNDS_NS.len());
        self.buckets[i] += n;
        self.sum_ns = self.sum_ns.wrapping_add(ns.saturating_mul(n));
    }

    /// Observations in total.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    fn add(&mut self, o: &Latency) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets.iter()) {
            *a += b;
        }
        self.sum_ns = self.sum_ns.wrapping_add(o.sum_ns);
    }
}

/// One worker's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Counters by [`Counter`] (index with `stats[Counter::Requests]`).
    pub counters: [u64; COUNTER_COUNT],
    /// Responses written, by status class (1xx … 5xx; [`crate::proto::fields::status_class`]).
    pub status: [u64; 5],
    /// Requests refused by the core, by [`RequestError::index`].
    pub errors: [u64; RequestError::ALL.len()],
    /// Connections closed by a timeout, by [`TimeoutKind`].
    pub timeouts: [u64; TimeoutKind::ALL.len()],
    /// Time from reading a request's bytes to its response being ready.
    pub latency: Latency,
}

impl Index<Counter> for Stats {
    type Output = u64;
    #[inline]
    fn index(&self, c: Counter) -> &u64 {
        &self.counters[c as usize]
    }
}

impl IndexMut<Counter> for Stats {
    #[inline]
    fn index_mut(&mut self, c: Counter) -> &mut u64 {
        &mut self.counters[c as usize]
    }
}

impl Stats {
    /// Adds `o` to these figures, every array element by element.
    pub fn add(&mut self, o: &Stats) {
        fn sum<const N: usize>(a: &mut [u64; N], b: &[u64; N]) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        sum(&mut self.counters, &o.counters);
        sum(&mut self.status, &o.status);
        sum(&mut self.errors, &o.errors);
        sum(&mut self.timeouts, &o.timeouts);
        self.latency.add(&o.latency);
    }

    /// Connections closed by a timeout, all kinds together.
    pub fn timeouts_total(&self) -> u64 {
        self.timeouts.iter().sum()
    }

    /// Counts one timeout of `kind`.
    #[inline]
    pub fn timeout(&mut self, kind: TimeoutKind) {
        self.timeouts[kind as usize] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_in_the_table_once() {
        let mut seen = [0usize; COUNTER_COUNT];
        for row in COUNTERS {
            seen[row.counter as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    }

    #[test]
    fn latency_buckets_by_upper_bound() {
        let mut l = Latency::default();
        l.observe(50_000, 1); // on the bound → that bucket
        l.observe(50_001, 2);
        l.observe(u64::MAX / 4, 1); // → +Inf
        assert_eq!(l.buckets[0], 1);
        assert_eq!(l.buckets[1], 2);
        assert_eq!(l.buckets[16], 1);
        assert_eq!(l.count(), 4);
    }

    #[test]
    fn sums_add_every_field() {
        let mut a = Stats::default();
        a[Counter::Requests] = 2;
        a.status[1] = 3;
        a.timeout(TimeoutKind::BodyRate);
        let mut b = a.clone();
        b.add(&a);
        assert_eq!(b[Counter::Requests], 4);
        assert_eq!(b.status[1], 6);
        assert_eq!(b.timeouts_total(), 2);
    }
}
