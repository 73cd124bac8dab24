//! Output beyond the write buffer: bodies written by reference instead of copied.
//!
//! Small answers are encoded straight into the connection's write buffer, and one write sends a
//! whole pipelined batch. A large body is not copied there: the write buffer so far is sealed
//! into a [`Piece::Buf`], the body follows as a [`Piece::Bytes`] (a shared `Bytes`, a `&'static`
//! slice, an owned buffer) or a [`Piece::File`] (a range of an open file, for `sendfile`), and
//! later answers go into a fresh write buffer behind them. The caller writes the pieces in order
//! — memory pieces gathered into one vectored write (`Conn::gather`), a file piece on its own
//! — and reports how far it got (`Conn::consume`); a partial write resumes where it stopped.
//! No I/O happens here.

use std::collections::VecDeque;
use std::fs::File;
use std::io::IoSlice;

use bytes::Bytes;

use crate::proto::pool::BufPool;

/// Bodies at least this long are written by reference ([`Piece::Bytes`]) rather than copied
/// into the write buffer: below it one copy is cheaper than a vectored write's bookkeeping.
pub const ZERO_COPY_MIN: usize = 16 * 1024;

/// A range of an open file sent as a body (with `sendfile`).
#[derive(Debug)]
pub struct FileBody {
    /// The file, owned by the response: closed when the body is sent or the connection closes.
    pub file: File,
    /// Where the body starts in the file.
    pub offset: u64,
    /// Bytes to send from `offset`.
    pub len: u64,
}

/// One part of the output, in order.
#[derive(Debug)]
pub enum Piece {
    /// A sealed pooled write buffer, unwritten from `pos` (goes back to the pool once written).
    Buf {
        /// The buffer.
        buf: Vec<u8>,
        /// Bytes of it already written.
        pos: usize,
    },
    /// Memory written without a copy; what was written is dropped from the front.
    Bytes(Bytes),
    /// A file range; `offset` and `len` advance as it is sent.
    File(FileBody),
}

impl Piece {
    /// Bytes of it left to write.
    pub fn remaining(&self) -> u64 {
        match self {
            Piece::Buf { buf, pos } => (buf.len() - pos) as u64,
            Piece::Bytes(b) => b.len() as u64,
            Piece::File(f) => f.len,
        }
    }

    fn memory(&self) -> Option<&[u8]> {
        match self {
            Piece::Buf { buf, pos } => Some(&buf[*pos..]),
            Piece::Bytes(b) => Some(b),
            Piece::File(_) => None,
        }
    }
}

/// What to write next.
#[derive(Debug)]
pub enum Front<'a> {
    /// These bytes (the first memory piece, or the write buffer).
    Bytes(&'a [u8]),
    /// `len` bytes of `file` from `offset`.
    File {
        /// The file.
        file: &'a File,
        /// Where to read from.
        offset: u64,
        /// How many bytes are left of this piece.
        len: u64,
    },
    /// Nothing is waiting.
    Nothing,
}

/// The queue of pieces ahead of a write buffer, with the bytes they hold.
#[derive(Debug, Default)]
pub(crate) struct Pieces {
    q: VecDeque<Piece>,
    /// Bytes left to write in `q`.
    bytes: u64,
}

impl Pieces {
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Bytes left to write in the queued pieces.
    #[inline]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends `p` (an empty piece is dropped).
    pub(crate) fn push(&mut self, p: Piece, pool: &mut BufPool) {
        let n = p.remaining();
        if n == 0 {
            release(p, pool);
            return;
        }
        self.bytes += n;
        self.q.push_back(p);
    }

    /// Moves every piece of `other` behind these.
    pub(crate) fn append(&mut self, other: &mut Pieces) {
        self.bytes += other.bytes;
        other.bytes = 0;
        self.q.append(&mut other.q);
    }

    /// The first piece to write.
    pub(crate) fn front(&self) -> Front<'_> {
        match self.q.front() {
            Some(Piece::File(f)) => Front::File {
                file: &f.file,
                offset: f.offset,
                len: f.len,
            },
            Some(p) => Front::Bytes(p.memory().unwrap_or_default()),
            None => Front::Nothing,
        }
    }

    /// Fills `iov` with the memory pieces from the front, up to the first file piece; returns
    /// how many it filled and whether it reached the end of the queue (so bytes behind the
    /// queue may follow in the same write).
    pub(crate) fn gather<'a>(&'a self, iov: &mut [IoSlice<'a>]) -> (usize, bool) {
        let mut k = 0;
        for p in &self.q {
            if k == iov.len() {
                return (k, false);
            }
            match p.memory() {
                Some(m) => {
                    iov[k] = IoSlice::new(m);
                    k += 1;
                }
                None => return (k, false),
            }
        }
        (k, true)
    }

    /// Marks `n` bytes as written, from the front; returns how many of them were beyond the
    /// queue (they belong to what follows it). Written buffers go back to `pool`.
    pub(crate) fn consume(&mut self, mut n: u64, pool: &mut BufPool) -> u64 {
        while n > 0 {
            let Some(p) = self.q.front_mut() else {
                return n;
            };
            let left = p.remaining();
            let k = n.min(left);
            n -= k;
            self.bytes -= k;
            if k == left {
                if let Some(p) = self.q.pop_front() {
                    release(p, pool);
                }
                continue;
            }
            match p {
                Piece::Buf { pos, .. } => *pos += k as usize,
                Piece::Bytes(b) => {
                    let _ = b.split_to(k as usize);
                }
                Piece::File(f) => {
                    f.offset += k;
                    f.len -= k;
                }
            }
        }
        0
    }

    /// Drops every piece (the connection is closing); buffers go back to `pool`.
    pub(crate) fn clear(&mut self, pool: &mut BufPool) {
        for p in self.q.drain(..) {
            release(p, pool);
        }
        self.bytes = 0;
    }
}

fn release(p: Piece, pool: &mut BufPool) {
    if let Piece::Buf { buf, .. } = p {
        pool.put(buf);
    }
}

/// Output held behind an answer that is not given yet: pieces, then bytes being appended.
#[derive(Debug, Default)]
pub(crate) struct Held {
    pub(crate) pieces: Pieces,
    pub(crate) tail: Vec<u8>,
}

impl Held {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.pieces.bytes() + self.tail.len() as u64
    }

    /// Appends `p` behind the bytes appended so far.
    pub(crate) fn push(&mut self, p: Piece, pool: &mut BufPool) {
        if !self.tail.is_empty() {
            // Never pooled (answers held behind a waiting one get their own small buffer).
            let tail = std::mem::take(&mut self.tail);
            self.pieces.push(Piece::Bytes(Bytes::from(tail)), pool);
        }
        self.pieces.push(p, pool);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_walks_pieces_and_reports_the_rest() {
        let mut pool = BufPool::new(64, 4);
        let mut q = Pieces::default();
        let mut buf = pool.get();
        buf.extend_from_slice(b"head");
        q.push(Piece::Buf { buf, pos: 1 }, &mut pool);
        q.push(Piece::Bytes(Bytes::from_static(b"body!")), &mut pool);
        assert_eq!(q.bytes(), 8);
        let mut iov = [IoSlice::new(&[]); 4];
        let (k, all) = q.gather(&mut iov);
        assert_eq!((k, all), (2, true));
        assert_eq!(&*iov[0], b"ead");
        assert_eq!(&*iov[1], b"body!");
        assert_eq!(q.consume(5, &mut pool), 0);
        assert_eq!(pool.outstanding(), 0, "the sealed buffer went back");
        match q.front() {
            Front::Bytes(b) => assert_eq!(b, b"dy!"),
            other => panic!("{other:?}"),
        }
        assert_eq!(q.consume(10, &mut pool), 7);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn gather_stops_at_a_file() {
        let mut pool = BufPool::new(64, 4);
        let mut q = Pieces::default();
        q.push(Piece::Bytes(Bytes::from_static(b"a")), &mut pool);
        let file = File::open("/proc/self/exe").unwrap();
        q.push(
            Piece::File(FileBody {
                file,
                offset: 10,
                len: 5,
            }),
            &mut pool,
        );
        q.push(Piece::Bytes(Bytes::from_static(b"b")), &mut pool);
        let mut iov = [IoSlice::new(&[]); 4];
        assert_eq!(q.gather(&mut iov), (1, false));
        q.consume(1, &mut pool);
        match q.front() {
            Front::File { offset, len, .. } => assert_eq!((offset, len), (10, 5)),
            other => panic!("{other:?}"),
        }
        q.consume(3, &mut pool);
        match q.front() {
            Front::File { offset, len, .. } => assert_eq!((offset, len), (13, 2)),
            other => panic!("{other:?}"),
        }
        q.consume(2, &mut pool);
        assert!(matches!(q.front(), Front::Bytes(b"b")));
    }

    #[test]
    fn empty_pieces_are_dropped() {
        let mut pool = BufPool::new(64, 4);
        let mut q = Pieces::default();
        q.push(Piece::Bytes(Bytes::new()), &mut pool);
        assert!(q.is_empty());
        let mut h = Held::default();
        h.tail.extend_from_slice(b"xy");
        h.push(Piece::Bytes(Bytes::from_static(b"z")), &mut pool);
        assert_eq!(h.bytes(), 3);
        assert!(h.tail.is_empty());
    }
}
