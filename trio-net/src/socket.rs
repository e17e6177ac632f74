//! `AsyncSocket`: one non-blocking OS socket owned by trio-net, and the one loop every
//! socket operation of this crate runs through: try the syscall; on `WouldBlock` wait on
//! trio-core's reactor; try again. Also `ConflictDetector`, which turns two tasks using
//! one direction at once into `BusyResource`.
//!
//! # Invariants
//! * The fd is closed only by [`AsyncSocket::close`] or by drop, and both call
//!   `notify_closing` first: tasks blocked on the fd wake with `ClosedResource`, and the
//!   reactor forgets the fd before the kernel can hand its number to a new socket.
//! * No `RefCell` borrow is held across an `await`. A task blocked in an operation holds
//!   nothing, so any other task may close the socket at any moment; the blocked task then
//!   finds `None` when it retries and reports `ClosedResource`.
//!
//! # Checkpoints (as Trio's `_nonblocking_helper`)
//! An operation first checks for cancellation (so a cancelled operation has no effect),
//! then tries the syscall. If that completes at once, it still yields once without a
//! cancel point (so it is a schedule point, and a completed operation is never reported
//! as cancelled). Otherwise the reactor wait is the checkpoint.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::task::{Context, Poll};

use socket2::{SockAddr, SockRef, Socket};
use trio_core::lowlevel::{
    notify_closing, read_readiness_count, wait_readable, wait_readable_after_would_block,
    wait_writable, wait_writable_after_would_block, wake_when_readable,
    wake_when_readable_after_would_block, wake_when_writable, wake_when_writable_after_would_block,
};
use trio_core::{cancel_shielded_checkpoint, checkpoint_if_cancelled, Error, ErrorKind, Result};

/// Which readiness an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// A non-blocking socket registered (lazily) with the run's reactor. `S` is the owned
/// socket type: `socket2::Socket` for streams and listeners, `std::net::UdpSocket` for
/// UDP (whose receive functions take initialized buffers).
pub(crate) struct AsyncSocket<S: AsFd = Socket> {
    /// # Invariant
    /// `None` exactly when the socket was closed; never borrowed across an await.
    sock: RefCell<Option<S>>,
    /// The fd number, kept after close for `notify_closing` and diagnostics.
    fd: RawFd,
    /// Whether a level wait on this fd succeeded, so that the reactor's registration
    /// is known to be this socket's (not a stale one of an earlier fd with this
    /// number): from then on a wait right after `WouldBlock` can skip the syscall.
    armed: Cell<bool>,
    /// After a short stream read: the reactor's read-report count for the fd, taken in
    /// the same step. While it is unchanged the receive buffer is still empty
    /// ([`receive_stream`](Self::receive_stream)).
    drained_at: Cell<Option<u32>>,
}

impl<S: AsFd> AsyncSocket<S> {
    /// Takes ownership of `sock` and makes it non-blocking.
    pub(crate) fn new(sock: S) -> io::Result<Self> {
        SockRef::from(&sock).set_nonblocking(true)?;
        Ok(AsyncSocket {
            fd: sock.as_fd().as_raw_fd(),
            sock: RefCell::new(Some(sock)),
            armed: Cell::new(false),
            drained_at: Cell::new(None),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.sock.borrow().is_none()
    }

    /// Runs a synchronous operation on the socket; `ClosedResource` once closed. OS
    /// errors come back as kind `Io` with the `io::Error` as source.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&S) -> io::Result<T>) -> Result<T> {
        let guard = self.sock.borrow();
        let sock = guard.as_ref().ok_or_else(closed_error)?;
        Ok(f(sock)?)
    }

    /// Closes the socket now (waking blocked tasks with `ClosedResource`). Idempotent.
    pub(crate) fn close(&self) {
        let taken = self.sock.borrow_mut().take();
        if let Some(sock) = taken {
            notify_closing(self.fd);
            drop(sock);
        }
    }

    /// Gives the socket back, still open (the reactor may keep its registration of the
    /// fd number; that is harmless, the next wait reuses it). `None` if closed.
    pub(crate) fn into_inner(self) -> Option<S> {
        self.sock.borrow_mut().take()
    }

    /// Blocks until the socket is ready in `dir`, even if it already is. A checkpoint.
    pub(crate) async fn wait(&self, dir: Dir) -> Result<()> {
        if self.is_closed() {
            // Still a cancel point, so a cancelled caller hears about cancellation first.
            checkpoint_if_cancelled().await?;
            return Err(closed_error());
        }
        let r = match dir {
            Dir::Read => wait_readable(self.fd).await,
            Dir::Write => wait_writable(self.fd).await,
        };
        if r.is_ok() {
            self.armed.set(true);
        }
        r
    }

    /// Blocks until the socket is ready in `dir`, for a caller that has just seen
    /// `WouldBlock` (or `EINPROGRESS`) from a syscall on it in this same step: then
    /// the next readiness edge is enough, and waiting costs no syscall (trio-core's
    /// `wait_*_after_would_block`). The socket's first wait is a level wait all the
    /// same, which repairs a registration left stale by an earlier fd with this number.
    /// A checkpoint.
    pub(crate) async fn wait_after_would_block(&self, dir: Dir) -> Result<()> {
        if !self.armed.get() || self.is_closed() {
            return self.wait(dir).await;
        }
        match dir {
            Dir::Read => wait_readable_after_would_block(self.fd).await,
            Dir::Write => wait_writable_after_would_block(self.fd).await,
        }
    }

    /// Runs `f` until it stops reporting `WouldBlock`, waiting for readiness in `dir`
    /// between tries. A checkpoint; see the module doc.
    pub(crate) async fn io<T>(
        &self,
        dir: Dir,
        mut f: impl FnMut(&S) -> io::Result<T>,
    ) -> Result<T> {
        checkpoint_if_cancelled().await?;
        match self.try_io(&mut f) {
            Some(r) => {
                cancel_shielded_checkpoint().await;
                return r;
            }
            None => self.wait_after_would_block(dir).await?,
        }
        loop {
            if let Some(r) = self.try_io(&mut f) {
                return r;
            }
            self.wait_after_would_block(dir).await?;
        }
    }

    /// [`io`](Self::io) for a stream receive into a buffer of `len` bytes, for sockets
    /// where a short read means the kernel's receive buffer was emptied (`drains`: TCP).
    /// Then, unless the reactor has reported the fd readable since, the next receive
    /// waits first instead of making a `recv` that can only fail with `EWOULDBLOCK`: one
    /// syscall fewer per message for request/response protocols (tokio does the same).
    /// Checkpoints as `io`: the skipped try's wait is the checkpoint.
    pub(crate) async fn receive_stream(
        &self,
        len: usize,
        drains: bool,
        mut f: impl FnMut(&S) -> io::Result<usize>,
    ) -> Result<usize> {
        checkpoint_if_cancelled().await?;
        let drained = self.drained_at.take().is_some_and(|count| {
            self.armed.get() && !self.is_closed() && read_readiness_count(self.fd) == Some(count)
        });
        if !drained {
            if let Some(r) = self.try_io(&mut f) {
                self.note_short_read(&r, len, drains);
                cancel_shielded_checkpoint().await;
                return r;
            }
        }
        loop {
            self.wait_after_would_block(Dir::Read).await?;
            if let Some(r) = self.try_io(&mut f) {
                self.note_short_read(&r, len, drains);
                return r;
            }
        }
    }

    fn note_short_read(&self, r: &Result<usize>, len: usize, drains: bool) {
        if drains && matches!(r, Ok(n) if *n > 0 && *n < len) {
            self.drained_at.set(read_readiness_count(self.fd));
        }
    }

    /// The poll-based [`io`](Self::io), for `futures-io` adapters: one try; on
    /// `WouldBlock` the waker of `cx` is registered for readiness in `dir` and the result
    /// is `Pending`. Not a checkpoint (nothing here reads cancel state); a caller that
    /// stops polling loses nothing. As for the parking waits, the first registration is a
    /// level one and later ones skip the syscall (`armed`).
    pub(crate) fn poll_io<T>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&S) -> io::Result<T>,
    ) -> Poll<Result<T>> {
        if let Some(r) = self.try_io(&mut f) {
            return Poll::Ready(r);
        }
        let waker = cx.waker();
        let registered = match (dir, self.armed.get()) {
            (Dir::Read, true) => wake_when_readable_after_would_block(self.fd, waker),
            (Dir::Write, true) => wake_when_writable_after_would_block(self.fd, waker),
            (Dir::Read, false) => wake_when_readable(self.fd, waker),
            (Dir::Write, false) => wake_when_writable(self.fd, waker),
        };
        match registered {
            Ok(()) => {
                self.armed.set(true);
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// [`poll_io`](Self::poll_io) for a stream receive, with
    /// [`receive_stream`](Self::receive_stream)'s short-read rule: while the reactor has
    /// reported nothing since a short read drained the socket, register the waker at
    /// once instead of a `recv` that can only fail with `EWOULDBLOCK`.
    pub(crate) fn poll_receive_stream(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        drains: bool,
        mut f: impl FnMut(&S) -> io::Result<usize>,
    ) -> Poll<Result<usize>> {
        let drained = self.drained_at.get().is_some_and(|count| {
            self.armed.get() && !self.is_closed() && read_readiness_count(self.fd) == Some(count)
        });
        if drained {
            return match wake_when_readable_after_would_block(self.fd, cx.waker()) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            };
        }
        self.drained_at.set(None);
        let r = self.poll_io(Dir::Read, cx, &mut f);
        if let Poll::Ready(r) = &r {
            self.note_short_read(r, len, drains);
        }
        r
    }

    /// One try: `None` means "would block, wait and retry".
    fn try_io<T>(&self, f: &mut impl FnMut(&S) -> io::Result<T>) -> Option<Result<T>> {
        loop {
            let guard = self.sock.borrow();
            let Some(sock) = guard.as_ref() else {
                return Some(Err(closed_error()));
            };
            match f(sock) {
                Ok(v) => return Some(Ok(v)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// The local address, for IP sockets.
    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        ip_addr(self.with(|s| SockRef::from(s).local_addr())?)
    }

    /// The peer address, for connected IP sockets.
    pub(crate) fn peer_addr(&self) -> Result<SocketAddr> {
        ip_addr(self.with(|s| SockRef::from(s).peer_addr())?)
    }
}

impl<S: AsFd> Drop for AsyncSocket<S> {
    fn drop(&mut self) {
        // Dropping is the abrupt close: same path, so the reactor forgets the fd first.
        self.close();
    }
}

impl<S: AsFd> std::fmt::Debug for AsyncSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_closed() {
            f.write_str("closed")
        } else {
            write!(f, "fd {}", self.fd)
        }
    }
}

/// The error an operation on a closed socket reports.
pub(crate) fn closed_error() -> Error {
    Error::new(
        ErrorKind::ClosedResource,
        "this socket was already closed (by this task or another one)",
    )
}

fn ip_addr(addr: SockAddr) -> Result<SocketAddr> {
    addr.as_socket().ok_or_else(|| {
        Error::new(
            ErrorKind::Other,
            "not an IP socket: this address has no SocketAddr form (use with_socket for Unix addresses)",
        )
    })
}

pub(crate) use trio_core::lowlevel::ConflictDetector;
