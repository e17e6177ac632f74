//! The adapter from any trio stream to `futures_io::AsyncRead` / `AsyncWrite` /
//! `AsyncBufRead`, so the ecosystem's protocol crates (hyper, async-tungstenite, codecs,
//! compression) run over trio-rs streams: sockets, TLS, pipes, memory streams.
//!
//! # Why the I/O runs in two pump tasks
//! A trio stream's methods are `async fn`s that park their *task* (trio wakes the task,
//! not a `Waker`), and a task may be parked in only one trio operation at a time.
//! Protocol crates poll reading and writing *concurrently* from one task (hyper's
//! dispatcher, a `join!` of a reader and a writer, async-tungstenite's split halves in
//! one `select!`) and use combinators that wake only the child whose `Waker` fired
//! (`FuturesUnordered`). Running trio operations inside `poll_read`/`poll_write` cannot
//! serve either: it would park one task twice, and it ignores the waker it was given.
//! So [`Compat::new`] gives each direction its own trio task in a nursery you choose:
//!
//! * the **read pump** calls `receive_some` (up to [`READ_CHUNK`] bytes) and hands the
//!   chunk to the adapter, then waits for the adapter to take it: at most two chunks are
//!   read ahead (backpressure is kept);
//! * the **write pump** takes what `poll_write` queued (at most [`WRITE_QUEUE_LIMIT`]
//!   bytes) and `send_all`s it.
//!
//! The adapter side never parks: it copies bytes and returns `Pending` after storing the
//! `Waker` of the `Context`, which the pumps wake. It can therefore be polled from any
//! task, for reading and writing at once, under any combinator.
//!
//! # Caveats (read before using)
//! * **Drop it inside the nursery's body.** The pumps live until the adapter is dropped
//!   (or the nursery is cancelled); an adapter kept alive past the body keeps the
//!   nursery waiting.
//! * **Writes complete when queued.** `poll_write` returns as soon as the bytes are
//!   queued; `poll_flush` completes when the write pump has sent everything. Call
//!   `flush` (or `close`) before relying on the peer having the data.
//! * **A cancelled send may have sent part of its data.** If the pumps' nursery is
//!   cancelled, the pumps stop, and the adapter reports `io::ErrorKind::ConnectionAborted`
//!   to every later read or write (never `Interrupted`, which readers retry forever, and
//!   never trio's `Cancelled`, which belongs to the pumps' scope, not to the protocol
//!   code's). A `send_all` cut short leaves an unknown prefix sent: the connection is
//!   broken; treat any write error as fatal for it.
//! * **A cancelled protocol future loses nothing.** Cancelling the code that polls the
//!   adapter (a trio scope around it) just stops polling: bytes already received stay
//!   buffered for the next read, and queued bytes are still sent.
//! * **Errors are sticky.** After a read error, every read reports it; likewise for
//!   writes. End of stream reads as `Ok(0)` forever.
//! * **Closing.** `poll_close` flushes and refuses further writes; with
//!   [`Compat::new_half_closeable`] it also sends end of stream (`send_eof`), so the peer
//!   reads EOF while this side keeps reading. Dropping the adapter ends the pumps: if
//!   everything written was sent, the write pump closes the stream gracefully with
//!   `aclose` (TLS sends close_notify); if a send was still in flight, it is cancelled
//!   and the stream is dropped (an abrupt close, as for any dropped trio resource).
//!
//! [`into_trio_error`] turns an adapter's `io::Error` back into a trio [`Error`].

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use trio_core::lowlevel::ParkingLot;
use trio_core::{
    CancelHandle, CancelScope, Error, ErrorKind, HalfCloseableStream, Nursery, StdErrorAdapter,
    Stream,
};

use crate::LocalBoxFuture;

/// How many bytes the read pump asks for at a time.
pub const READ_CHUNK: usize = 64 * 1024;

/// How many bytes `poll_write` queues before it returns `Pending` (backpressure).
pub const WRITE_QUEUE_LIMIT: usize = 64 * 1024;

/// How `poll_close` ends the sending side, besides flushing.
type EofFn<S> = for<'a> fn(&'a S) -> LocalBoxFuture<'a, trio_core::Result<()>>;

fn send_eof_of<S: HalfCloseableStream>(s: &S) -> LocalBoxFuture<'_, trio_core::Result<()>> {
    Box::pin(s.send_eof())
}

/// A trio stream seen as `futures_io::AsyncRead + AsyncBufRead + AsyncWrite`, its I/O
/// running in two pump tasks. See the [module docs](self) for the design and caveats.
///
/// ```
/// use futures_io::{AsyncRead, AsyncWrite};
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use trio_core::open_nursery;
/// use trio_net::{compat::Compat, SocketStream};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (a, b) = SocketStream::unix_pair()?;
///     open_nursery(|pumps| async move {
///         let mut a = Compat::new_half_closeable(a, &pumps);
///         let mut b = Compat::new(b, &pumps);
///         let n = poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"hi")).await?;
///         assert_eq!(n, 2);
///         poll_fn(|cx| Pin::new(&mut a).poll_close(cx)).await?; // flush + send_eof
///         let mut buf = [0u8; 8];
///         let n = poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await?;
///         assert_eq!(&buf[..n], b"hi");
///         assert_eq!(poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await?, 0);
///         Ok(()) // the adapters drop here: their pumps end and the nursery closes
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
pub struct Compat<S: Stream + 'static> {
    shared: Rc<Shared<S>>,
    /// The chunk being handed out: `rbuf[rpos..]` is not read yet.
    rbuf: Vec<u8>,
    rpos: usize,
}

struct Shared<S> {
    stream: S,
    eof: Option<EofFn<S>>,
    state: RefCell<State>,
    /// The read pump waits here for its chunk to be taken (or for close).
    read_lot: ParkingLot,
    /// The write pump waits here for queued bytes, a shutdown or close.
    write_lot: ParkingLot,
    read_scope: CancelHandle,
    write_scope: CancelHandle,
}

/// A sticky error, kept as parts because `trio_core::Error` is not `Clone`.
type StickyError = (io::ErrorKind, String);

#[derive(Default)]
struct State {
    /// A chunk received by the read pump, not yet taken by the adapter.
    filled: Option<Vec<u8>>,
    /// An empty buffer handed back for the read pump to reuse.
    spare: Option<Vec<u8>>,
    /// How reading ended: `None` still open, `Some(None)` end of stream,
    /// `Some(Some(e))` an error to report to every later read.
    rend: Option<Option<StickyError>>,
    read_waker: Option<Waker>,
    /// Bytes queued by `poll_write`, not yet taken by the write pump.
    wbuf: Vec<u8>,
    /// The write pump is inside `send_all` or `send_eof`.
    writing: bool,
    werr: Option<StickyError>,
    write_waker: Option<Waker>,
    /// `poll_close` was called: no more writes.
    shutdown: bool,
    /// End of stream was sent (half-closeable adapters only).
    eof_sent: bool,
    /// The adapter was dropped.
    closed: bool,
}

impl<S: Stream + 'static> Compat<S> {
    /// Wraps `stream`, spawning its two pump tasks into `nursery`; `poll_close` flushes
    /// and refuses further writes, and the stream is closed (`aclose`) when the adapter
    /// is dropped.
    pub fn new(stream: S, nursery: &Nursery) -> Self {
        Self::build(stream, None, nursery)
    }

    fn build(stream: S, eof: Option<EofFn<S>>, nursery: &Nursery) -> Self {
        let read_scope = CancelScope::new();
        let write_scope = CancelScope::new();
        let shared = Rc::new(Shared {
            stream,
            eof,
            state: RefCell::new(State::default()),
            read_lot: ParkingLot::new(),
            write_lot: ParkingLot::new(),
            read_scope: read_scope.handle(),
            write_scope: write_scope.handle(),
        });
        let sh = shared.clone();
        nursery.start_soon(async move { read_scope.run(read_pump(sh)).await.map(|_| ()) });
        let sh = shared.clone();
        nursery.start_soon(async move { write_scope.run(write_pump(sh)).await.map(|_| ()) });
        Compat {
            shared,
            rbuf: Vec::new(),
            rpos: 0,
        }
    }

    /// The wrapped stream (for addresses, TLS details, ...). Do not read or write it
    /// directly while the pumps run.
    pub fn get_ref(&self) -> &S {
        &self.shared.stream
    }
}

impl<S: HalfCloseableStream + 'static> Compat<S> {
    /// Like [`new`](Self::new), but `poll_close` also sends end of stream (`send_eof`)
    /// once everything queued is sent, leaving the receiving side open, as closing a
    /// socket's writer usually means.
    pub fn new_half_closeable(stream: S, nursery: &Nursery) -> Self {
        Self::build(stream, Some(send_eof_of::<S>), nursery)
    }
}

impl<S: Stream + 'static> Drop for Compat<S> {
    fn drop(&mut self) {
        let sh = &self.shared;
        let mut st = sh.state.borrow_mut();
        st.closed = true;
        let unflushed = st.writing || !st.wbuf.is_empty();
        drop(st);
        // Nobody reads any more: stop the read pump now.
        sh.read_scope.cancel();
        if unflushed {
            // Dropped with data in flight: abrupt close, as for any dropped trio resource.
            sh.write_scope.cancel();
        }
        sh.read_lot.unpark_all();
        sh.write_lot.unpark_all();
    }
}

fn sticky(e: &StickyError) -> io::Error {
    io::Error::new(e.0, e.1.clone())
}

fn io_error(e: &Error) -> StickyError {
    let kind = if e.is_cancelled() {
        io::ErrorKind::ConnectionAborted
    } else if let Some(ioe) = e.io_error() {
        ioe.kind()
    } else {
        match e.kind() {
            ErrorKind::ClosedResource => io::ErrorKind::NotConnected,
            ErrorKind::BrokenResource => io::ErrorKind::ConnectionReset,
            ErrorKind::TooSlow => io::ErrorKind::TimedOut,
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

async fn read_pump<S: Stream>(sh: Rc<Shared<S>>) -> trio_core::Result<()> {
    loop {
        // Backpressure: wait until the adapter took the previous chunk.
        let mut buf = loop {
            let next = {
                let mut st = sh.state.borrow_mut();
                if st.closed {
                    return Ok(());
                }
                if st.filled.is_none() {
                    Some(st.spare.take().unwrap_or_default())
                } else {
                    None
                }
            };
            if let Some(buf) = next {
                break buf;
            }
            if let Err(e) = sh.read_lot.park().await {
                return read_failed(&sh, e);
            }
        };
        buf.resize(READ_CHUNK, 0);
        let r = sh.stream.receive_some(&mut buf).await;
        let mut st = sh.state.borrow_mut();
        match r {
            Ok(0) => {
                st.rend = Some(None);
                wake(&mut st.read_waker);
                return Ok(());
            }
            Ok(n) => {
                buf.truncate(n);
                st.filled = Some(buf);
                wake(&mut st.read_waker);
            }
            Err(e) => {
                drop(st);
                return read_failed(&sh, e);
            }
        }
    }
}

/// Records a read failure for the adapter side; `Cancelled` keeps propagating.
fn read_failed<S>(sh: &Shared<S>, e: Error) -> trio_core::Result<()> {
    let mut st = sh.state.borrow_mut();
    if st.rend.is_none() {
        st.rend = Some(Some(io_error(&e)));
    }
    wake(&mut st.read_waker);
    if e.is_cancelled() {
        Err(e)
    } else {
        // Reported through the adapter; also expected after our own close.
        Ok(())
    }
}

/// What the write pump does next.
enum WriteNext {
    Send,
    Eof,
    Close,
    Wait,
}

async fn write_pump<S: Stream>(sh: Rc<Shared<S>>) -> trio_core::Result<()> {
    let mut out: Vec<u8> = Vec::new();
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
            } else if st.shutdown && !st.eof_sent && sh.eof.is_some() {
                st.writing = true;
                WriteNext::Eof
            } else {
                WriteNext::Wait
            }
        };
        let r = match next {
            WriteNext::Send => {
                let r = sh.stream.send_all(&out).await;
                out.clear();
                r
            }
            WriteNext::Eof => {
                let eof = sh.eof.expect("checked above");
                let r = eof(&sh.stream).await;
                sh.state.borrow_mut().eof_sent = true;
                r
            }
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
                continue;
            }
        };
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

fn write_failed<S>(sh: &Shared<S>, e: Error) -> trio_core::Result<()> {
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

impl<S: Stream + 'static> AsyncBufRead for Compat<S> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.rpos >= this.rbuf.len() {
            let mut st = this.shared.state.borrow_mut();
            if let Some(chunk) = st.filled.take() {
                let mut spent = std::mem::replace(&mut this.rbuf, chunk);
                spent.clear();
                st.spare = Some(spent);
                this.rpos = 0;
                drop(st);
                // The read pump may receive the next chunk meanwhile.
                this.shared.read_lot.unpark_all();
            } else {
                return match &st.rend {
                    Some(None) => Poll::Ready(Ok(&[])),
                    Some(Some(e)) => Poll::Ready(Err(sticky(e))),
                    None => {
                        st.read_waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                };
            }
        }
        Poll::Ready(Ok(&this.rbuf[this.rpos..]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.rpos = (this.rpos + amt).min(this.rbuf.len());
    }
}

impl<S: Stream + 'static> AsyncRead for Compat<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = match self.as_mut().poll_fill_buf(cx) {
            Poll::Ready(Ok(avail)) => {
                let n = avail.len().min(out.len());
                out[..n].copy_from_slice(&avail[..n]);
                n
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<S: Stream + 'static> AsyncWrite for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let sh = &self.shared;
        let mut st = sh.state.borrow_mut();
        if let Some(e) = &st.werr {
            return Poll::Ready(Err(sticky(e)));
        }
        if st.shutdown {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "trio stream: write after close",
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
        sh.write_lot.unpark_all();
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.shared.state.borrow_mut();
        if let Some(e) = &st.werr {
            return Poll::Ready(Err(sticky(e)));
        }
        if st.wbuf.is_empty() && !st.writing {
            return Poll::Ready(Ok(()));
        }
        st.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let sh = &self.shared;
        let mut st = sh.state.borrow_mut();
        st.shutdown = true;
        if sh.eof.is_none() || st.eof_sent {
            return Poll::Ready(Ok(()));
        }
        // The write pump sends end of stream and wakes us (see `write_pump`).
        st.write_waker = Some(cx.waker().clone());
        drop(st);
        sh.write_lot.unpark_all();
        Poll::Pending
    }
}

impl<S: Stream + 'static> std::fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared.state.borrow();
        f.debug_struct("Compat")
            .field("buffered", &(self.rbuf.len() - self.rpos))
            .field("read_ahead", &st.filled.as_ref().map_or(0, Vec::len))
            .field("queued", &st.wbuf.len())
            .field("writing", &st.writing)
            .finish()
    }
}

/// Converts a trio error for the `futures-io` world. `Cancelled` becomes kind `Other`
/// (not `Interrupted`, which many readers retry in a loop while trio cancellation is
/// level-triggered); the trio error stays inside and [`into_trio_error`] gets it back.
/// For protocol code wrapping its own trio calls; the adapter reports its errors itself.
pub fn to_io_error(e: Error) -> io::Error {
    if e.is_cancelled() {
        return io::Error::other(StdErrorAdapter(e));
    }
    io::Error::from(e)
}

/// Gets a trio error out of an `io::Error`: the one [`to_io_error`] wrapped (so
/// `Cancelled` propagates as `Cancelled`), or else kind `Io` with the error as source.
///
/// ```
/// use trio_core::Error;
/// use trio_net::compat::{into_trio_error, to_io_error};
/// let io = to_io_error(Error::cancelled());
/// assert!(into_trio_error(io).is_cancelled());
/// ```
pub fn into_trio_error(e: io::Error) -> Error {
    let is_adapter = e
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<StdErrorAdapter>().is_some());
    if is_adapter {
        let inner = e.into_inner().expect("checked above");
        if let Ok(adapter) = inner.downcast::<StdErrorAdapter>() {
            return adapter.0;
        }
        unreachable!("checked above");
    }
    if e.kind() == io::ErrorKind::Interrupted {
        // Not from us; keep it an I/O error.
        return Error::with_source(ErrorKind::Io, e.to_string(), e);
    }
    Error::from(e)
}
