//! `TrioIo`: poll-based I/O (`futures_io` and hyper's `rt::Read`/`rt::Write`) over any
//! trio stream, by moving the actual I/O into two *pump* tasks.
//!
//! # Why pumps
//! A trio stream's methods are `async fn`s that park their task through
//! `wait_task_rescheduled`, and a task may be parked in only one trio operation at a time.
//! Poll-based protocol code (hyper's dispatcher, tungstenite) polls reading and writing
//! from the same task, or reading from one task and writing from another, with plain
//! `Waker`s. Running the trio operations *inside* `poll_read`/`poll_write` would park one
//! task twice. So each direction gets its own trio task:
//!
//! * the **read pump** calls `receive_some` whenever the read buffer is empty and hands
//!   the bytes to `poll_read` (one buffer of read-ahead: backpressure is preserved);
//! * the **write pump** takes what `poll_write` queued (at most [`WRITE_QUEUE_LIMIT`]
//!   bytes) and `send_all`s it; `poll_flush` completes when the queue is empty and no send
//!   is in flight.
//!
//! The protocol side only ever returns `Pending` with a `Waker`, so it can run in any task
//! and never parks. Cancellation reaches the pumps (they are parked in trio operations in
//! the nursery the caller chose), and they report it to the protocol side as an
//! `io::Error` of kind `ConnectionAborted`.
//!
//! # Closing
//! Dropping the `TrioIo` ends the pumps: if everything written was sent, the write pump
//! closes the stream gracefully with `aclose` (TLS sends close_notify); if a send was still
//! in flight, it is cancelled and the stream is dropped (abrupt close, as for any dropped
//! trio resource). The read pump wakes with `ClosedResource` from that close, or is
//! cancelled. Either way the nursery the pumps run in can finish.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use trio_core::lowlevel::ParkingLot;
use trio_core::{CancelHandle, CancelScope, Nursery, Result, Stream};

/// How many bytes of read-ahead the read pump asks for at a time.
pub const READ_CHUNK: usize = 64 * 1024;

/// How many bytes `poll_write` queues before it returns `Pending` (backpressure).
pub const WRITE_QUEUE_LIMIT: usize = 64 * 1024;

/// Poll-based I/O over a trio stream; see the [module docs](self).
///
/// Implements `futures_io::AsyncRead`/`AsyncWrite` and (in [`crate::hyper_rt`]) hyper's
/// `rt::Read`/`rt::Write`. Not `Send`: it lives on the run's thread like the stream.
pub struct TrioIo<S: Stream + 'static> {
    shared: Rc<Shared<S>>,
}

struct Shared<S> {
    stream: S,
    state: RefCell<State>,
    /// The read pump waits here for the read buffer to be drained (or for close).
    read_lot: ParkingLot,
    /// The write pump waits here for queued bytes (or for close).
    write_lot: ParkingLot,
    read_scope: RefCell<Option<CancelHandle>>,
    write_scope: RefCell<Option<CancelHandle>>,
}

#[derive(Default)]
struct State {
    /// Bytes received and not yet consumed: `rbuf[rpos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    /// How reading ended: `None` still open, `Some(None)` end of stream,
    /// `Some(Some(e))` an error to report to every later read.
    rend: Option<Option<(io::ErrorKind, String)>>,
    read_waker: Option<Waker>,
    /// Bytes queued by `poll_write`, not yet taken by the write pump.
    wbuf: Vec<u8>,
    /// The write pump is inside `send_all`.
    writing: bool,
    werr: Option<(io::ErrorKind, String)>,
    write_waker: Option<Waker>,
    /// `poll_shutdown`/`poll_close` was called: no more writes.
    shutdown: bool,
    /// The `TrioIo` was dropped.
    closed: bool,
}

impl<S: Stream + 'static> TrioIo<S> {
    /// Wraps `stream`, spawning its two pump tasks into `nursery`.
    ///
    /// The pumps end when the `TrioIo` is dropped (see the module docs) or when
    /// `nursery`'s scope is cancelled. So drop the `TrioIo` inside the nursery's body: a
    /// `TrioIo` returned *out of* the body would keep the nursery waiting for its pumps.
    pub fn new(stream: S, nursery: &Nursery) -> Self {
        let shared = Rc::new(Shared {
            stream,
            state: RefCell::new(State::default()),
            read_lot: ParkingLot::new(),
            write_lot: ParkingLot::new(),
            read_scope: RefCell::new(None),
            write_scope: RefCell::new(None),
        });
        let read_scope = CancelScope::new();
        *shared.read_scope.borrow_mut() = Some(read_scope.handle());
        let write_scope = CancelScope::new();
        *shared.write_scope.borrow_mut() = Some(write_scope.handle());
        let sh = shared.clone();
        nursery.start_soon(async move { read_scope.run(read_pump(sh)).await.map(|_| ()) });
        let sh = shared.clone();
        nursery.start_soon(async move { write_scope.run(write_pump(sh)).await.map(|_| ()) });
        TrioIo { shared }
    }

    /// The wrapped stream (for addresses, TLS details, ...). Do not read or write it
    /// directly while the pumps run.
    pub fn get_ref(&self) -> &S {
        &self.shared.stream
    }

    /// Copies received bytes into `out`; the common core of both `poll_read`s.
    /// `Ready(Ok(0))` means end of stream (or `out` is empty).
    fn poll_read_into(&self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut st = self.shared.state.borrow_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if st.rpos < st.rbuf.len() {
            let n = out.len().min(st.rbuf.len() - st.rpos);
            out[..n].copy_from_slice(&st.rbuf[st.rpos..st.rpos + n]);
            st.rpos += n;
            if st.rpos == st.rbuf.len() {
                drop(st);
                self.shared.read_lot.unpark_all();
            }
            return Poll::Ready(Ok(n));
        }
        match &st.rend {
            Some(None) => Poll::Ready(Ok(0)),
            Some(Some((kind, msg))) => Poll::Ready(Err(io::Error::new(*kind, msg.clone()))),
            None => {
                st.read_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn poll_write_from(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut st = self.shared.state.borrow_mut();
        if let Some((kind, msg)) = &st.werr {
            return Poll::Ready(Err(io::Error::new(*kind, msg.clone())));
        }
        if st.shutdown {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = WRITE_QUEUE_LIMIT.saturating_sub(st.wbuf.len());
        if room == 0 {
            st.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        st.wbuf.extend_from_slice(&data[..n]);
        drop(st);
        self.shared.write_lot.unpark_all();
        Poll::Ready(Ok(n))
    }

    fn poll_flush_inner(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.state.borrow_mut();
        if let Some((kind, msg)) = &st.werr {
            return Poll::Ready(Err(io::Error::new(*kind, msg.clone())));
        }
        if st.wbuf.is_empty() && !st.writing {
            return Poll::Ready(Ok(()));
        }
        st.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Flushes, then refuses further writes. The stream itself is closed when the
    /// `TrioIo` is dropped (the generic trio `Stream` has no half-close).
    fn poll_shutdown_inner(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_flush_inner(cx) {
            Poll::Ready(Ok(())) => {
                self.shared.state.borrow_mut().shutdown = true;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: Stream + 'static> Drop for TrioIo<S> {
    fn drop(&mut self) {
        let sh = &self.shared;
        let mut st = sh.state.borrow_mut();
        st.closed = true;
        let unflushed = st.writing || !st.wbuf.is_empty();
        drop(st);
        // Nobody reads any more: stop the read pump now.
        if let Some(h) = sh.read_scope.borrow().as_ref() {
            h.cancel();
        }
        if unflushed {
            // Dropped with data in flight: abrupt close, as for any dropped trio resource.
            if let Some(h) = sh.write_scope.borrow().as_ref() {
                h.cancel();
            }
        }
        sh.read_lot.unpark_all();
        sh.write_lot.unpark_all();
    }
}

fn io_error(e: &trio_core::Error) -> (io::ErrorKind, String) {
    let kind = if e.is_cancelled() {
        io::ErrorKind::ConnectionAborted
    } else if let Some(ioe) = e.io_error() {
        ioe.kind()
    } else {
        match e.kind() {
            trio_core::ErrorKind::ClosedResource => io::ErrorKind::NotConnected,
            trio_core::ErrorKind::BrokenResource => io::ErrorKind::ConnectionReset,
            trio_core::ErrorKind::TooSlow => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::Other,
        }
    };
    (kind, format!("trio stream: {e}"))
}

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

async fn read_pump<S: Stream>(sh: Rc<Shared<S>>) -> Result<()> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        // Backpressure: one buffer of read-ahead at most.
        loop {
            let drained = {
                let st = sh.state.borrow();
                if st.closed {
                    return Ok(());
                }
                st.rpos >= st.rbuf.len()
            };
            if drained {
                break;
            }
            if let Err(e) = sh.read_lot.park().await {
                return read_failed(&sh, e);
            }
        }
        let r = sh.stream.receive_some(&mut buf).await;
        let mut st = sh.state.borrow_mut();
        match r {
            Ok(0) => {
                st.rend = Some(None);
                wake(&mut st.read_waker);
                return Ok(());
            }
            Ok(n) => {
                st.rbuf.clear();
                st.rbuf.extend_from_slice(&buf[..n]);
                st.rpos = 0;
                wake(&mut st.read_waker);
            }
            Err(e) => {
                drop(st);
                return read_failed(&sh, e);
            }
        }
    }
}

/// Records a read failure for the protocol side; `Cancelled` keeps propagating.
fn read_failed<S>(sh: &Shared<S>, e: trio_core::Error) -> Result<()> {
    let mut st = sh.state.borrow_mut();
    if st.rend.is_none() {
        st.rend = Some(Some(io_error(&e)));
    }
    wake(&mut st.read_waker);
    if e.is_cancelled() {
        Err(e)
    } else {
        // Reported through the protocol side; also expected after our own close.
        Ok(())
    }
}

/// What the write pump does next.
enum WriteNext {
    Send,
    Close,
    Wait,
}

async fn write_pump<S: Stream>(sh: Rc<Shared<S>>) -> Result<()> {
    let mut out: Vec<u8> = Vec::new();
    loop {
        loop {
            let next = {
                let mut st = sh.state.borrow_mut();
                if !st.wbuf.is_empty() {
                    std::mem::swap(&mut st.wbuf, &mut out);
                    st.writing = true;
                    // Queue space is free again.
                    wake(&mut st.write_waker);
                    WriteNext::Send
                } else if st.closed {
                    WriteNext::Close
                } else {
                    WriteNext::Wait
                }
            };
            match next {
                WriteNext::Send => break,
                WriteNext::Close => {
                    // Everything was sent: a graceful close (close_notify for TLS). Its
                    // error, if any, has nobody left to report to.
                    let _ = sh.stream.aclose().await;
                    return Ok(());
                }
                WriteNext::Wait => {
                    if let Err(e) = sh.write_lot.park().await {
                        return write_failed(&sh, e);
                    }
                }
            }
        }
        let r = sh.stream.send_all(&out).await;
        out.clear();
        let mut st = sh.state.borrow_mut();
        st.writing = false;
        match r {
            Ok(()) => wake(&mut st.write_waker),
            Err(e) => {
                drop(st);
                return write_failed(&sh, e);
            }
        }
    }
}

fn write_failed<S>(sh: &Shared<S>, e: trio_core::Error) -> Result<()> {
    let mut st = sh.state.borrow_mut();
    st.writing = false;
    if st.werr.is_none() {
        st.werr = Some(io_error(&e));
    }
    wake(&mut st.write_waker);
    if e.is_cancelled() {
        Err(e)
    } else {
        Ok(())
    }
}

impl<S: Stream + 'static> futures_io::AsyncRead for TrioIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_into(cx, buf)
    }
}

impl<S: Stream + 'static> futures_io::AsyncWrite for TrioIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_inner(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_shutdown_inner(cx)
    }
}

impl<S: Stream + 'static> hyper::rt::Read for TrioIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // Safe code only: copy through the shared buffer with `put_slice`.
        let mut st = self.shared.state.borrow_mut();
        if st.rpos < st.rbuf.len() {
            let n = buf.remaining().min(st.rbuf.len() - st.rpos);
            buf.put_slice(&st.rbuf[st.rpos..st.rpos + n]);
            st.rpos += n;
            if st.rpos == st.rbuf.len() {
                drop(st);
                self.shared.read_lot.unpark_all();
            }
            return Poll::Ready(Ok(()));
        }
        match &st.rend {
            Some(None) => Poll::Ready(Ok(())),
            Some(Some((kind, msg))) => Poll::Ready(Err(io::Error::new(*kind, msg.clone()))),
            None => {
                st.read_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<S: Stream + 'static> hyper::rt::Write for TrioIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_from(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_inner(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_shutdown_inner(cx)
    }
}
