//! Byte spans into a request head: what the grammar scanner records and the [`Head`] and the
//! request view read back. 16-bit offsets and lengths (heads are at most 64 KiB), so a field
//! costs 8 bytes.
//!
//! [`Head`]: crate::proto::head::Head

/// A byte range of the head: offset and length, both 16-bit (heads are at most 64 KiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub(crate) off: u16,
    pub(crate) len: u16,
}

impl Span {
    /// `buf[start..end]` of a head (offsets below 64 KiB: the head limit is at most that).
    #[inline]
    pub(crate) fn at(start: usize, end: usize) -> Span {
        debug_assert!(start <= end && end <= u16::MAX as usize);
        Span {
            off: start as u16,
            len: (end - start) as u16,
        }
    }

    /// Where it starts.
    #[inline]
    pub(crate) fn start(self) -> usize {
        self.off as usize
    }

    #[inline]
    pub(crate) fn get(self, buf: &[u8]) -> &[u8] {
        &buf[self.off as usize..self.off as usize + self.len as usize]
    }
}

/// One header field: spans of its name and value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderSpan {
    pub(crate) name: Span,
    pub(crate) value: Span,
}
