//! The only place with system calls: listeners, accept, socket reads and writes, epoll, eventfd,
//! the coarse clock. Knows nothing of HTTP.
//!
//! Built on rustix (safe, typed wrappers: `OwnedFd`, `Errno`, `spare_capacity` reads) over its
//! libc backend: its raw-syscall backend finds the vDSO through the auxiliary vector, which
//! crashes under valgrind, and a library linked into C programs should go through libc anyway.
//!
//! Except on the hot path. `recv`, `send` and `sendmsg` are cancellation points in glibc: each
//! call enables and disables asynchronous cancellation around the syscall, about half of the
//! 60 instructions glibc's wrapper runs per call (callgrind of the binary, one request per
//! batch, at 2998316: `__pthread_enable_asynccancel` + `__pthread_disable_asynccancel` 62,
//! `recv` + `send` 56 per request; `syscall()` runs 11 a call). Measured whole: 95 fewer per
//! request (docs/lean-hot-path.md, 242febf). strela never cancels a thread (Rust cannot unwind a cancelled one
//! soundly), so those three enter the kernel through glibc's plain `syscall()` instead
//! ([`direct`]): still libc, seen by valgrind, seccomp and strace, but not by an `LD_PRELOAD`
//! library that replaces `recv`/`send` by name (a kernel-bypass stack such as OpenOnload or
//! libvma, a tracing shim). The `interposable-io` feature sends them through the named libc
//! functions again, for those. (`epoll_wait` is a cancellation point too, but one call serves
//! many events: it stays on rustix.)
//!
//! Readiness is edge-triggered: a socket is registered once for `IN | OUT | RDHUP | ET` and never
//! modified again. The caller must therefore drain what it is told about: read until a short read
//! or `EAGAIN` (a short read on a stream socket means the receive queue was empty at that moment;
//! data arriving later raises a new edge), and write until done or `EAGAIN` (the next `OUT` edge
//! comes when the kernel frees send space). Spurious wake-ups are harmless: every handler checks
//! the connection's own state before acting.
//!
//! `unsafe` is allowed by name in one function, [`block_sigpipe`] (libc's `pthread_sigmask`,
//! which rustix does not wrap safely), and in the module [`direct`] (three syscalls).
#![deny(unsafe_code)]

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::epoll;
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, SocketFlags, SocketType};

pub use rustix::event::epoll::Event;

/// Creates a non-blocking listening TCP socket with `SO_REUSEADDR` and `SO_REUSEPORT`, so every
/// worker can bind its own listener to the same address and the kernel spreads connections
/// (an IPv6 address listens for IPv6 only).
pub fn listener(addr: SocketAddr, backlog: i32) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    net::sockopt::set_socket_reuseaddr(&fd, true)?;
    net::sockopt::set_socket_reuseport(&fd, true)?;
    if addr.is_ipv6() {
        // `[::]` means IPv6 only, as in nginx: IPv4 is asked for with its own address.
        net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    net::bind(&fd, &addr)?;
    net::listen(&fd, backlog)?;
    Ok(fd)
}

/// Fails with `AddrInUse` when another socket already holds `addr` (a listener of another
/// process, or of this one): binds a probe socket there *without* `SO_REUSEPORT`, which the
/// kernel refuses if anything is bound to the port, then closes it. `SO_REUSEADDR` on the probe
/// keeps connections in `TIME_WAIT` from counting.
pub fn check_port_free(addr: SocketAddr) -> io::Result<()> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let probe = net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    net::sockopt::set_socket_reuseaddr(&probe, true)?;
    if addr.is_ipv6() {
        net::sockopt::set_ipv6_v6only(&probe, true)?;
    }
    net::bind(&probe, &addr)?;
    Ok(())
}

/// The address a socket is bound to.
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SocketAddr> {
    let any = net::getsockname(fd)?;
    SocketAddr::try_from(any).map_err(|_| io::Error::other("listener has a non-IP address"))
}

/// Accepts one connection: non-blocking, close-on-exec, `TCP_NODELAY` set (responses are
/// written whole, so Nagle would only add latency), with the peer's address.
/// `Ok(None)` means no connection is waiting.
#[inline]
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<Option<(OwnedFd, Option<SocketAddr>)>> {
    match net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
        Ok((fd, peer)) => {
            // Best effort: a socket that refuses NODELAY still works.
            let _ = net::sockopt::set_tcp_nodelay(&fd, true);
            Ok(Some((fd, peer.and_then(|p| SocketAddr::try_from(p).ok()))))
        }
        Err(Errno::AGAIN) => Ok(None),
        Err(Errno::INTR | Errno::CONNABORTED) => accept(listener),
        Err(e) => Err(e.into()),
    }
}

/// Whether an accept error means "out of file descriptors / memory" (back off and retry).
pub fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw_os_error),
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
    )
}

/// Result of one read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Bytes were appended to the buffer.
    Data {
        /// How many.
        n: usize,
        /// The buffer's spare room was filled: there may be more, read again.
        full: bool,
    },
    /// Nothing to read right now.
    WouldBlock,
    /// The peer closed its side.
    Eof,
}

/// Reads into the spare capacity of `buf`, appending to it.
#[inline]
pub fn read(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<ReadOutcome> {
    let spare = buf.capacity() - buf.len();
    loop {
        match recv(fd, buf) {
            Ok(0) => return Ok(ReadOutcome::Eof),
            Ok(n) => {
                return Ok(ReadOutcome::Data {
                    n,
                    full: n == spare,
                })
            }
            Err(Errno::AGAIN) => return Ok(ReadOutcome::WouldBlock),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Ends the sending side: a FIN follows the bytes already queued; reading stays open.
#[cold]
pub fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(net::shutdown(fd, net::Shutdown::Write)?)
}

/// Reads and throws away what the socket holds, through [`read`] into `scratch` (its
/// capacity is the read size; it is left empty): `Ok(true)` once it has nothing more for now
/// (`EAGAIN`), `Ok(false)` at the end of the peer's stream.
#[cold]
pub fn discard(fd: BorrowedFd<'_>, scratch: &mut Vec<u8>) -> io::Result<bool> {
    loop {
        scratch.clear();
        match read(fd, scratch)? {
            ReadOutcome::Data { .. } => {}
            ReadOutcome::WouldBlock => return Ok(true),
            ReadOutcome::Eof => return Ok(false),
        }
    }
}

/// Writes as much of `data` as the socket takes now; `Ok(0)` with non-empty data means
/// `EAGAIN`. `MSG_NOSIGNAL`: a closed peer yields `EPIPE`, never a `SIGPIPE` to the process.
#[inline]
pub fn write(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    loop {
        match send(fd, data) {
            Ok(n) => return Ok(n),
            Err(Errno::AGAIN) => return Ok(0),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes as much of `bufs`, in order, as the socket takes now (one `sendmsg`); `Ok(0)` means
/// `EAGAIN`. `MSG_NOSIGNAL` as in [`write`].
#[inline]
pub fn write_vectored(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    loop {
        match sendmsg(fd, bufs) {
            Ok(n) => return Ok(n),
            Err(Errno::AGAIN) => return Ok(0),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// `recv(fd, spare capacity of buf, 0)`, appending what arrived to `buf`.
#[cfg(feature = "interposable-io")]
#[inline]
fn recv(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> Result<usize, Errno> {
    net::recv(
        fd,
        rustix::buffer::spare_capacity(buf),
        net::RecvFlags::empty(),
    )
    .map(|(n, _)| n)
}

/// `send(fd, data, MSG_NOSIGNAL)`.
#[cfg(feature = "interposable-io")]
#[inline]
fn send(fd: BorrowedFd<'_>, data: &[u8]) -> Result<usize, Errno> {
    net::send(fd, data, net::SendFlags::NOSIGNAL)
}

/// `sendmsg(fd, {bufs}, MSG_NOSIGNAL)`, no ancillary data.
#[cfg(feature = "interposable-io")]
#[inline]
fn sendmsg(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> Result<usize, Errno> {
    let mut control = net::SendAncillaryBuffer::default();
    net::sendmsg(fd, bufs, &mut control, net::SendFlags::NOSIGNAL)
}

#[cfg(not(feature = "interposable-io"))]
use direct::{recv, send, sendmsg};

/// The hot path's socket calls through glibc's `syscall()`: no cancellation-point bookkeeping
/// (see the module docs). Each returns what the kernel returned, or its errno.
#[cfg(not(feature = "interposable-io"))]
#[allow(unsafe_code)]
mod direct {
    use super::*;
    use std::os::fd::AsRawFd;

    /// The result of `syscall()`: `-1` with errno set on failure.
    #[inline(always)]
    fn result(r: libc::c_long) -> Result<usize, Errno> {
        if r < 0 {
            Err(errno())
        } else {
            Ok(r as usize)
        }
    }

    #[cold]
    fn errno() -> Errno {
        Errno::from_io_error(&io::Error::last_os_error()).unwrap_or(Errno::IO)
    }

    /// `recvfrom(fd, spare capacity of buf, 0, NULL, NULL)`, appending what arrived to `buf`.
    #[inline]
    pub(super) fn recv(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> Result<usize, Errno> {
        let spare = buf.spare_capacity_mut();
        // SAFETY: `spare` is valid for writes of `spare.len()` bytes for the whole call and the
        // kernel writes at most that many; the address arguments are null (not wanted); `fd` is
        // an open descriptor for the call's duration (borrowed). Every argument is passed as a
        // `c_long`, the width `syscall()` reads them at.
        let r = unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                fd.as_raw_fd() as libc::c_long,
                spare.as_mut_ptr() as libc::c_long,
                spare.len() as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        };
        let n = result(r)?;
        // SAFETY: the kernel initialised the first `n` (≤ spare capacity) bytes after `len`.
        unsafe { buf.set_len(buf.len() + n) };
        Ok(n)
    }

    /// `sendto(fd, data, MSG_NOSIGNAL, NULL, 0)`.
    #[inline]
    pub(super) fn send(fd: BorrowedFd<'_>, data: &[u8]) -> Result<usize, Errno> {
        // SAFETY: `data` is valid for reads of `data.len()` bytes for the whole call; no
        // address is given; `fd` is open for the call's duration (borrowed); every argument is
        // a `c_long`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sendto,
                fd.as_raw_fd() as libc::c_long,
                data.as_ptr() as libc::c_long,
                data.len() as libc::c_long,
                libc::MSG_NOSIGNAL as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        };
        result(r)
    }

    /// `sendmsg(fd, {bufs}, MSG_NOSIGNAL)`, no address and no ancillary data.
    #[inline]
    pub(super) fn sendmsg(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> Result<usize, Errno> {
        // SAFETY: an all-zero msghdr is a valid value (null pointers, zero lengths).
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        // `IoSlice` is ABI-compatible with `struct iovec` on Unix (std guarantees it), and the
        // kernel only reads through the pointer.
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len() as _;
        // SAFETY: `msg` and the `bufs` it points to (each valid for reads of its length) live
        // across the call; `fd` is open for the call's duration (borrowed); every argument is a
        // `c_long`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sendmsg,
                fd.as_raw_fd() as libc::c_long,
                &msg as *const libc::msghdr as libc::c_long,
                libc::MSG_NOSIGNAL as libc::c_long,
            )
        };
        result(r)
    }
}

/// What [`send_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFile {
    /// This many bytes went to the socket.
    Sent(usize),
    /// The socket has no room now (`EAGAIN`): resume on the next `OUT` edge.
    WouldBlock,
    /// The file ended before `count` bytes (it is shorter than it was).
    Eof,
}

/// The most one `sendfile` call moves.
const SENDFILE_CHUNK: u64 = 512 << 10;

/// Sends up to `count` bytes of `file` from `offset` to the socket with `sendfile(2)`: page
/// cache to socket, no user-space copy. `count` is what remains of the file's range: while
/// some remains the socket is corked (`TCP_CORK`, as nginx's `tcp_nopush`), so the kernel
/// sends full segments instead of one per wakeup of a `TCP_NODELAY` socket; the call that
/// sends the last byte uncorks it. The calling thread must have SIGPIPE blocked
/// ([`block_sigpipe`]): sendfile has no `MSG_NOSIGNAL`.
#[inline]
pub fn send_file(
    sock: BorrowedFd<'_>,
    file: &std::fs::File,
    offset: u64,
    count: u64,
) -> io::Result<SendFile> {
    let mut off = offset;
    let remaining = count;
    // Bounded per call, like nginx's sendfile_max_chunk: one call moving hundreds of MiB to a
    // fast reader holds the worker (and its other connections) for tens of milliseconds.
    // benches/bodies, 512 MiB on loopback vs nginx: unbounded and uncorked 0.77x (and erratic,
    // 0.6-1.6x per round), 512 KiB calls 0.85x, corked 512 KiB calls 0.99-1.00x (0.84-1.13x).
    let count = count.min(SENDFILE_CHUNK) as usize;
    let cork = remaining > SENDFILE_CHUNK;
    if cork {
        let _ = net::sockopt::set_tcp_cork(sock, true);
    }
    loop {
        match rustix::fs::sendfile(sock, file, Some(&mut off), count) {
            Ok(0) if count > 0 => return Ok(SendFile::Eof),
            Ok(n) => {
                if n as u64 == remaining {
                    let _ = net::sockopt::set_tcp_cork(sock, false);
                }
                return Ok(SendFile::Sent(n));
            }
            Err(Errno::AGAIN) => return Ok(SendFile::WouldBlock),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Opens `rel` below the directory `root` for reading, refusing any path that leaves it: `..`
/// above it, an absolute symlink, a symlink to outside (`openat2` with `RESOLVE_BENEATH`; the
/// error is then `EXDEV`). Non-blocking, so a FIFO placed in the tree does not stall the
/// worker. On kernels without openat2 (before 5.6) the path is opened and its canonical form
/// checked against `root_path` instead.
pub fn open_beneath(
    root: BorrowedFd<'_>,
    root_path: &std::path::Path,
    rel: &std::path::Path,
) -> io::Result<std::fs::File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let rel = if rel.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        rel
    };
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(root, rel, flags, Mode::empty(), resolve) {
        Ok(fd) => Ok(std::fs::File::from(fd)),
        Err(Errno::NOSYS) => {
            use std::os::unix::fs::OpenOptionsExt;
            let full = root_path.join(rel);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                .open(&full)?;
            let canon = full.canonicalize()?;
            if canon.starts_with(root_path) {
                Ok(file)
            } else {
                Err(io::Error::from_raw_os_error(libc::EXDEV))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Opens the directory `path` (for [`open_beneath`]).
pub fn open_dir(path: &std::path::Path) -> io::Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Blocks SIGPIPE for the calling thread. A write to a connection the peer has closed then
/// fails with `EPIPE` instead of killing a process that did not ignore the signal (a C program
/// linking libstrela, say). The signal stays pending on the thread, which is harmless.
#[allow(unsafe_code)]
pub fn block_sigpipe() {
    // SAFETY: `set` is a local sigset_t initialised by sigemptyset before use; the pointers
    // passed are valid for the calls; pthread_sigmask only changes this thread's mask, and a
    // null old-set pointer is allowed.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Nanoseconds on `CLOCK_MONOTONIC` (what `Instant` reads) from its arbitrary origin.
#[inline]
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// An epoll instance and its event list.
pub struct Poller {
    fd: OwnedFd,
    events: Vec<Event>,
}

/// Interest for connections: readable, writable, peer half-close; edge-triggered.
pub fn conn_interest() -> epoll::EventFlags {
    epoll::EventFlags::IN
        | epoll::EventFlags::OUT
        | epoll::EventFlags::RDHUP
        | epoll::EventFlags::ET
}

/// Interest for listeners and wakers: readable, edge-triggered.
pub fn read_interest() -> epoll::EventFlags {
    epoll::EventFlags::IN | epoll::EventFlags::ET
}

impl Poller {
    /// A new epoll instance able to return `capacity` events per wait.
    pub fn new(capacity: usize) -> io::Result<Self> {
        Ok(Poller {
            fd: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            events: Vec::with_capacity(capacity),
        })
    }

    /// Registers `fd` with `token` as its user data.
    pub fn add(&self, fd: impl AsFd, token: u64, interest: epoll::EventFlags) -> io::Result<()> {
        epoll::add(&self.fd, fd, epoll::EventData::new_u64(token), interest)?;
        Ok(())
    }

    /// Waits up to `timeout_ms` (`None`: forever); the ready events are then in [`Poller::events`].
    pub fn wait(&mut self, timeout_ms: Option<u64>) -> io::Result<usize> {
        self.events.clear();
        let ts = timeout_ms.map(|ms| rustix::time::Timespec {
            tv_sec: (ms / 1000) as i64,
            tv_nsec: ((ms % 1000) * 1_000_000) as i64,
        });
        match epoll::wait(
            &self.fd,
            rustix::buffer::spare_capacity(&mut self.events),
            ts.as_ref(),
        ) {
            Ok(_) | Err(Errno::INTR) => Ok(self.events.len()),
            Err(e) => Err(e.into()),
        }
    }

    /// The events returned by the last [`Poller::wait`].
    #[inline]
    pub fn events(&self) -> &[Event] {
        &self.events
    }
}

/// Decoded readiness of one event.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    /// The token the fd was registered with.
    pub token: u64,
    /// Readable (or peer half-closed: a read will tell).
    pub readable: bool,
    /// The peer closed its sending side: read until end of stream, a short read is not enough.
    pub peer_closed: bool,
    /// Writable.
    pub writable: bool,
    /// Error or hang-up: the connection is gone.
    pub error: bool,
}

impl Ready {
    /// Decodes an epoll event.
    #[inline]
    pub fn of(ev: &Event) -> Ready {
        let f = ev.flags;
        Ready {
            token: ev.data.u64(),
            readable: f.intersects(epoll::EventFlags::IN | epoll::EventFlags::RDHUP),
            peer_closed: f.contains(epoll::EventFlags::RDHUP),
            writable: f.contains(epoll::EventFlags::OUT),
            error: f.intersects(epoll::EventFlags::ERR | epoll::EventFlags::HUP),
        }
    }
}

/// An eventfd used to wake a worker from another thread.
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A new non-blocking eventfd.
    pub fn new() -> io::Result<Self> {
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::NONBLOCK | rustix::event::EventfdFlags::CLOEXEC,
        )?;
        Ok(Waker { fd })
    }

    /// Wakes the poller this waker is registered with. Safe to call from any thread.
    pub fn wake(&self) {
        // An eventfd write fails only if the counter would overflow, which means it is already
        // far past "readable": the wake-up is pending either way.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Clears pending wake-ups.
    pub fn drain(&self) {
        let mut b = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut b);
    }

    /// The fd, for registration.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Seconds since the Unix epoch from the coarse realtime clock (vDSO, a few ns, tick precision).
#[inline]
pub fn coarse_unix_secs() -> u64 {
    rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse).tv_sec as u64
}

/// Seconds since the Unix epoch from the realtime clock (for log timestamps; the `Date` header
/// uses the coarse clock).
pub fn unix_now() -> u64 {
    rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_sec as u64
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if let Some(max) = lim.maximum {
        lim.current = Some(max);
        let _ = setrlimit(Resource::Nofile, lim);
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// What the Prometheus client libraries export as `process_*` metrics, read from `/proc`.
/// Each figure is `None` where the system does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFacts {
    /// User + system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// When the process started, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

/// Reads this process's [`ProcessFacts`] (a few small `/proc` reads: for scrapes, not hot paths).
pub fn process_facts() -> ProcessFacts {
    let mut f = ProcessFacts::default();
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // The command name (field 2) is in parentheses and may hold spaces: count after it.
        if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // `rest` starts at field 3 (state); field n is fields[n - 3].
            let num = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
            if let (Some(u), Some(s)) = (num(14), num(15)) {
                f.cpu_seconds = Some((u + s) as f64 / ticks);
            }
            f.virtual_bytes = num(23);
            f.resident_bytes = num(24).map(|p| p * rustix::param::page_size() as u64);
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            });
            if let (Some(boot), Some(start)) = (boot, num(22)) {
                f.start_time_seconds = Some(boot as f64 + start as f64 / ticks);
            }
        }
    }
    // The directory handle itself is one of the entries: not counted.
    f.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count().saturating_sub(1) as u64);
    f.max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    f
}
