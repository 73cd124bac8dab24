//! A slab of slots addressed by 64-bit tokens (generation << 32 | index), stored in fixed-size
//! chunks that are never moved or reallocated.
//!
//! Chunks instead of one growing `Vec`: growth never copies live entries (no latency spike while
//! thousands of connections are open), and memory grows by one chunk at a time rather than by
//! doubling, so the allocator is not left holding the discarded smaller generations of a vector.
//! The generation in the token makes a stale readiness event for a reused slot miss harmlessly.

const CHUNK_BITS: usize = 10;
const CHUNK: usize = 1 << CHUNK_BITS; // slots per chunk

struct Slot<T> {
    gen: u32,
    value: Option<T>,
}

/// Slots for values of type `T`, with O(1) insert, lookup and remove.
pub struct Slab<T> {
    chunks: Vec<Box<[Slot<T>]>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Number of occupied slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn slot(&mut self, idx: usize) -> Option<&mut Slot<T>> {
        self.chunks
            .get_mut(idx >> CHUNK_BITS)?
            .get_mut(idx & (CHUNK - 1))
    }

    /// Stores `value`; returns its token.
    pub fn insert(&mut self, value: T) -> u64 {
        let idx = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                let idx = self.chunks.len() * CHUNK;
                self.chunks.push(
                    (0..CHUNK)
                        .map(|_| Slot {
                            gen: 0,
                            value: None,
                        })
                        .collect(),
                );
                // Hand out the new chunk's slots lowest first.
                self.free
                    .extend((idx as u32 + 1..(idx + CHUNK) as u32).rev());
                idx
            }
        };
        self.len += 1;
        let slot = self
            .slot(idx)
            .expect("index from the free list is in range");
        slot.value = Some(value);
        (u64::from(slot.gen) << 32) | idx as u64
    }

    /// The value for `token`, unless it was removed (or its slot reused) since.
    #[inline]
    pub fn get_mut(&mut self, token: u64) -> Option<&mut T> {
        let (idx, gen) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
        match self.slot(idx) {
            Some(s) if s.gen == gen => s.value.as_mut(),
            _ => None,
        }
    }

    /// Shared access to the value for `token` (see [`Slab::get_mut`]).
    #[inline]
    pub fn get(&self, token: u64) -> Option<&T> {
        let (idx, gen) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
        let s = self.chunks.get(idx >> CHUNK_BITS)?.get(idx & (CHUNK - 1))?;
        if s.gen == gen {
            s.value.as_ref()
        } else {
            None
        }
    }

    /// Removes and returns the value for `token`.
    pub fn remove(&mut self, token: u64) -> Option<T> {
        let (idx, gen) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
        let slot = self.slot(idx)?;
        if slot.gen != gen {
            return None;
        }
        let v = slot.value.take()?;
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(idx as u32);
        self.len -= 1;
        Some(v)
    }

    /// Tokens of every occupied slot.
    pub fn tokens(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.len);
        for (c, chunk) in self.chunks.iter().enumerate() {
            for (i, s) in chunk.iter().enumerate() {
                if s.value.is_some() {
                    out.push((u64::from(s.gen) << 32) | (c * CHUNK + i) as u64);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_stale_tokens() {
        let mut s = Slab::default();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.len(), 2);
        assert_eq!(s.get_mut(a), Some(&mut "a"));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.get_mut(a), None);
        let c = s.insert("c"); // reuses a's slot with a new generation
        assert_eq!(c & 0xffff_ffff, a & 0xffff_ffff);
        assert_ne!(c, a);
        assert_eq!(s.get_mut(a), None, "a stale token misses the reused slot");
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get_mut(c), Some(&mut "c"));
        assert_eq!(s.get_mut(b), Some(&mut "b"));
        let mut t = s.tokens();
        t.sort();
        let mut want = vec![b, c];
        want.sort();
        assert_eq!(t, want);
    }

    #[test]
    fn grows_by_chunks_without_moving_values() {
        let mut s = Slab::default();
        let first = s.insert(0usize);
        let p = s.get_mut(first).unwrap() as *mut usize;
        let toks: Vec<u64> = (1..3 * CHUNK + 5).map(|i| s.insert(i)).collect();
        assert_eq!(
            s.get_mut(first).unwrap() as *mut usize,
            p,
            "growth does not move entries"
        );
        for (i, t) in toks.iter().enumerate() {
            assert_eq!(*s.get_mut(*t).unwrap(), i + 1);
        }
        assert_eq!(s.chunks.len(), 4);
        for t in toks {
            s.remove(t);
        }
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.get_mut(u64::MAX >> 1),
            None,
            "out-of-range index is a miss"
        );
    }
}
