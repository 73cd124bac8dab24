//! Request and connection limits: one struct, safe defaults, checked by the protocol core and the
//! workers. Every limit that a hostile client could push against lives here.

/// Hard upper bound on header count; the per-worker scratch array has this many slots.
pub const MAX_HEADERS_CAP: usize = 128;
/// Hard upper bound on the head size: request spans are 16-bit offsets into the head.
pub const MAX_HEAD_CAP: usize = u16::MAX as usize;
/// Hard upper bound on a buffered request body: the connection's buffer offsets are 32-bit, and
/// the head and framing share them.
pub const MAX_BODY_CAP: usize = (u32::MAX as usize) - MAX_HEAD_CAP - 64 * 1024;

/// Limits applied to every connection of a server. Construct with [`Limits::default`] and adjust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line + headers + blank line), in bytes. Beyond → 431 and close.
    /// Clamped to 65,535.
    pub max_head_bytes: usize,
    /// Most header fields in one request. Beyond → 431 and close. Clamped to 128.
    pub max_headers: usize,
    /// Longest request target, in bytes. Beyond → 414 and close.
    pub max_uri_bytes: usize,
    /// Largest request body, in bytes. Beyond → 413 and close.
    pub max_body_bytes: usize,
    /// Most open connections per worker; a connection beyond it is accepted, answered
    /// `503 Service Unavailable` with `Retry-After: 1`, and closed.
    pub max_conns_per_worker: usize,
    /// Once this many response bytes wait unsent on a connection, strela stops answering and
    /// reading its pipelined requests until the client has read them (backpressure for clients
    /// that pipeline but never read): what such a client can make the server hold.
    pub write_high_water: usize,
    /// Size of a pooled read/write buffer, in bytes.
    pub buffer_size: usize,
    /// Most idle buffers each worker keeps for reuse; more are freed.
    pub pooled_buffers: usize,
    /// Time a client has to send a complete request head once it started one (slowloris guard:
    /// trickling bytes does not extend it). Expiry → `408` and close. Whole seconds, ≥ 1.
    pub header_timeout: std::time::Duration,
    /// Time an idle keep-alive connection is kept open. Whole seconds, ≥ 1.
    pub idle_timeout: std::time::Duration,
    /// Time a client may leave written responses unread (no write progress) before the
    /// connection is closed. Whole seconds, ≥ 1.
    pub write_timeout: std::time::Duration,
    /// Default deadline of a deferred request, counted from when its bytes were read; per route
    /// with the `Deadline` middleware. Expiry → `504` and the completion is discarded. ≥ 1 ms.
    pub deferred_timeout: std::time::Duration,
    /// Most deferred requests in flight per worker; beyond it a deferral is refused with `503`
    /// and `Retry-After: 1`. ≥ 1.
    pub max_deferred: usize,
    /// Accept request heads whose every line ends in a bare LF (legacy clients). Off by default:
    /// a bare LF anywhere in a head is a 400 and close, since a proxy and an origin that read
    /// line ends differently can be made to disagree on where a request ends. Mixed line ends
    /// are refused either way.
    pub lf_only_heads: bool,
    /// Slowest acceptable request body, in bytes per second, averaged over each
    /// `body_rate_grace` window once the body has started (Kestrel's minimum data rate): a
    /// client below it gets `408` and close. 0 turns the check off.
    pub min_body_rate: usize,
    /// The window of the body-rate check, and the grace before its first check. Whole seconds,
    /// ≥ 1.
    pub body_rate_grace: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_headers: 64,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
            max_conns_per_worker: 100_000,
            write_high_water: 64 * 1024,
            buffer_size: 8 * 1024,
            pooled_buffers: 1024,
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(60),
            write_timeout: std::time::Duration::from_secs(30),
            deferred_timeout: std::time::Duration::from_secs(30),
            max_deferred: 10_000,
            lf_only_heads: false,
            min_body_rate: 240,
            body_rate_grace: std::time::Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// Returns a copy with every field clamped into the range the engine supports.
    pub fn normalized(&self) -> Limits {
        let mut l = self.clone();
        l.max_head_bytes = l.max_head_bytes.clamp(64, MAX_HEAD_CAP);
        l.max_headers = l.max_headers.clamp(1, MAX_HEADERS_CAP);
        l.max_uri_bytes = l.max_uri_bytes.clamp(16, l.max_head_bytes);
        l.max_conns_per_worker = l.max_conns_per_worker.max(1);
        l.write_high_water = l.write_high_water.max(1024);
        l.buffer_size = l.buffer_size.clamp(512, 1 << 20);
        let secs = |d: std::time::Duration| std::time::Duration::from_secs(d.as_secs().max(1));
        l.header_timeout = secs(l.header_timeout);
        l.idle_timeout = secs(l.idle_timeout);
        l.write_timeout = secs(l.write_timeout);
        l.deferred_timeout = l.deferred_timeout.max(std::time::Duration::from_millis(1));
        l.max_deferred = l.max_deferred.max(1);
        // Buffer offsets are 32-bit: a body beyond 4 GiB could not be addressed.
        l.max_body_bytes = l.max_body_bytes.min(MAX_BODY_CAP);
        l.body_rate_grace = secs(l.body_rate_grace);
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_clamps_to_engine_caps() {
        let l = Limits {
            max_head_bytes: 1 << 30,
            max_headers: 10_000,
            max_uri_bytes: 1 << 30,
            ..Limits::default()
        }
        .normalized();
        assert_eq!(l.max_head_bytes, MAX_HEAD_CAP);
        assert_eq!(l.max_headers, MAX_HEADERS_CAP);
        assert_eq!(l.max_uri_bytes, MAX_HEAD_CAP);
        assert_eq!(Limits::default().normalized(), Limits::default());
        let l = Limits {
            max_body_bytes: usize::MAX,
            ..Limits::default()
        }
        .normalized();
        assert_eq!(l.max_body_bytes, MAX_BODY_CAP);
        assert!(l.max_body_bytes as u64 + MAX_HEAD_CAP as u64 <= u64::from(u32::MAX));
    }
}
