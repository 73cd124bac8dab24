//! Per-worker buffer pool: the idea of Go's `sync.Pool`, without a garbage collector or locks.
//!
//! A worker hands buffers to connections while they have bytes in flight and takes them back when
//! the connection goes idle, so an idle keep-alive connection owns no buffer. The pool is bounded:
//! buffers beyond `max_pooled` are freed, and buffers that grew past four times the standard size
//! (a large body, say) are freed instead of pooled so one big request does not pin memory forever.

/// A bounded stack of reusable byte buffers, owned by one worker (not `Sync` by design).
#[derive(Debug)]
pub struct BufPool {
    free: Vec<Vec<u8>>,
    buf_size: usize,
    max_pooled: usize,
    /// Buffers allocated by `get` and buffers `put` freed instead of keeping: what is handed
    /// out is the difference less the idle ones, so the hot paths (a pop, a push) count
    /// nothing themselves.
    created: usize,
    discarded: usize,
}

impl BufPool {
    /// A pool of buffers of `buf_size` bytes keeping at most `max_pooled` idle ones.
    pub fn new(buf_size: usize, max_pooled: usize) -> Self {
        BufPool {
            free: Vec::with_capacity(max_pooled.min(4096)),
            buf_size,
            max_pooled,
            created: 0,
            discarded: 0,
        }
    }

    /// An empty buffer with at least the standard capacity: a pooled one when available.
    #[inline]
    pub fn get(&mut self) -> Vec<u8> {
        match self.free.pop() {
            Some(b) => b,
            None => self.create(),
        }
    }

    #[cold]
    fn create(&mut self) -> Vec<u8> {
        self.created += 1;
        Vec::with_capacity(self.buf_size)
    }

    /// Returns a buffer. It is cleared and kept if the pool has room and it is not oversized.
    #[inline]
    pub fn put(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() < self.buf_size {
            // Never came from the pool (an empty `Vec::new()`, a connection's small leftover
            // buffer): nothing to give back; pool buffers only ever grow.
            return;
        }
        if self.free.len() < self.max_pooled && buf.capacity() <= self.buf_size * 4 {
            buf.clear();
            self.free.push(buf);
        } else {
            self.discarded += 1;
        }
    }

    /// Buffers handed out and not yet returned (a leak check for tests and metrics).
    pub fn outstanding(&self) -> usize {
        self.created
            .saturating_sub(self.discarded)
            .saturating_sub(self.free.len())
    }

    /// Idle buffers currently held by the pool.
    pub fn idle(&self) -> usize {
        self.free.len()
    }

    /// The standard buffer size.
    #[inline]
    pub fn buf_size(&self) -> usize {
        self.buf_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_bounds() {
        let mut p = BufPool::new(1024, 2);
        let a = p.get();
        let ptr = a.as_ptr();
        assert!(a.capacity() >= 1024);
        p.put(a);
        let b = p.get();
        assert_eq!(b.as_ptr(), ptr, "the pooled buffer is handed out again");
        let c = p.get();
        let d = p.get();
        assert_eq!(p.outstanding(), 3);
        p.put(b);
        p.put(c);
        p.put(d);
        assert_eq!(p.idle(), 2, "pool keeps at most max_pooled idle buffers");
        assert_eq!(p.outstanding(), 0);
    }

    #[test]
    fn drops_oversized_and_ignores_empty() {
        let mut p = BufPool::new(1024, 8);
        let mut big = p.get();
        big.reserve(64 * 1024);
        p.put(big);
        assert_eq!(p.idle(), 0);
        p.put(Vec::new());
        assert_eq!(p.outstanding(), 0);
    }
}
