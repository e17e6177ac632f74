//! Adapters from any trio stream to `futures_io::AsyncRead` / `AsyncWrite`, so the
//! ecosystem's protocol crates (codecs, HTTP, WebSocket, compression) run over trio-rs
//! streams: sockets, TLS, pipes, memory streams.
//!
//! [`Compat`] keeps the stream in an `Rc` and stores the in-flight trio operation
//! (`receive_some` or `send_all`) as a boxed future between polls.
//!
//! # Cancellation caveats (read before using)
//! * **Cancellation arrives as an `io::Error`.** A trio `Cancelled` becomes an
//!   `io::Error` of kind `Other` (deliberately *not* `Interrupted`, which many readers
//!   retry in a loop, and trio cancellation is level-triggered: the retry would fail
//!   again, forever). Recover the trio error with [`into_trio_error`] and propagate it
//!   with `?`, so the enclosing scope can absorb it.
//! * **A cancelled read loses nothing**: the bytes of a `receive_some` that completed are
//!   kept for the next `poll_read`, and one that was cancelled took nothing.
//! * **A cancelled write may have sent part of its data.** `poll_write` hands the bytes
//!   to `send_all` and reports them written only when it completes; if the write is
//!   cancelled (or the adapter dropped) meanwhile, an unknown prefix went out and the
//!   stream is broken (a `SocketStream` then says so on the next send). Treat a write
//!   error as fatal for the connection, as you would with the trio stream itself.
//! * **Re-poll a pending write with the same bytes.** Once `poll_write` returned
//!   `Pending`, its bytes are in flight; the next `poll_write` finishes that send and
//!   reports its length, whatever buffer it is given (`write_all`, `copy` and every
//!   well-behaved caller re-poll with the same data).
//! * **One trio operation per task.** A trio task can block in one operation at a
//!   time, so do not poll reads and writes of the same task concurrently (`join!`,
//!   `select!`): give the reader and the writer a task each, with an adapter each over
//!   one shared `Rc` ([`Compat::from_rc`]).
//! * **Poll it from the task itself.** trio wakes the *task*, not the waker in the
//!   `Context`; a combinator that re-polls only children whose waker fired (such as
//!   `FuturesUnordered`) would never re-poll the adapter. Plain `.await` chains are fine.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use trio_core::{
    AsyncResource, Error, ErrorKind, HalfCloseableStream, ReceiveStream, SendStream,
    StdErrorAdapter,
};

use crate::LocalBoxFuture;

/// The smallest and largest `receive_some` the adapter issues. Reading at least 8 KiB
/// even for a tiny `poll_read` (a codec reading a 2-byte header) saves a syscall per
/// small read; the rest stays buffered in the adapter.
const MIN_READ: usize = 8 * 1024;
const MAX_READ: usize = 64 * 1024;

type ReadFuture = LocalBoxFuture<'static, (trio_core::Result<usize>, Vec<u8>)>;
type WriteFuture = LocalBoxFuture<'static, (trio_core::Result<()>, Vec<u8>, usize)>;
type CloseFuture = LocalBoxFuture<'static, trio_core::Result<()>>;

/// A trio stream seen as `futures_io::AsyncRead + AsyncWrite`. See the module doc for
/// the cancellation caveats.
///
/// ```
/// use futures_io::{AsyncRead, AsyncWrite};
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use trio_net::{compat::Compat, SocketStream};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (a, b) = SocketStream::unix_pair()?;
///     let mut a = Compat::new_half_closeable(a);
///     let mut b = Compat::new(b);
///     let n = poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"hi")).await?;
///     assert_eq!(n, 2);
///     poll_fn(|cx| Pin::new(&mut a).poll_close(cx)).await?; // send_eof
///     let mut buf = [0u8; 8];
///     let n = poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await?;
///     assert_eq!(&buf[..n], b"hi");
///     assert_eq!(poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await?, 0);
///     Ok(())
/// })
/// # }
/// ```
pub struct Compat<S> {
    stream: Rc<S>,
    /// Bytes received but not yet handed out: `read_buf[read_pos..read_end]`.
    read_buf: Vec<u8>,
    read_pos: usize,
    read_end: usize,
    reading: Option<ReadFuture>,
    /// A spare buffer for the next send, recycled from the last one.
    write_buf: Vec<u8>,
    writing: Option<WriteFuture>,
    closing: Option<CloseFuture>,
    close_fn: fn(Rc<S>) -> CloseFuture,
}

impl<S: AsyncResource + 'static> Compat<S> {
    /// Adapts `stream` (a two-way stream, or just a send or receive half: the adapter
    /// is `AsyncRead` if it receives and `AsyncWrite` if it sends); `poll_close` closes
    /// it entirely (`aclose`).
    pub fn new(stream: S) -> Self {
        Self::from_rc(Rc::new(stream))
    }

    /// Adapts a shared stream (e.g. one adapter per task: a reader and a writer);
    /// `poll_close` closes it entirely (`aclose`).
    pub fn from_rc(stream: Rc<S>) -> Self {
        Self::build(stream, |s| Box::pin(async move { s.aclose().await }))
    }
}

impl<S: HalfCloseableStream + 'static> Compat<S> {
    /// Adapts a half-closeable stream; `poll_close` sends end of stream (`send_eof`) and
    /// leaves the receiving side open, as closing a socket's writer usually means.
    pub fn new_half_closeable(stream: S) -> Self {
        Self::half_closeable_from_rc(Rc::new(stream))
    }

    /// [`new_half_closeable`](Self::new_half_closeable) for a shared stream.
    pub fn half_closeable_from_rc(stream: Rc<S>) -> Self {
        Self::build(stream, |s| Box::pin(async move { s.send_eof().await }))
    }
}

impl<S> Compat<S> {
    fn build(stream: Rc<S>, close_fn: fn(Rc<S>) -> CloseFuture) -> Self {
        Compat {
            stream,
            read_buf: Vec::new(),
            read_pos: 0,
            read_end: 0,
            reading: None,
            write_buf: Vec::new(),
            writing: None,
            closing: None,
            close_fn,
        }
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The shared stream underneath. Bytes already received but not yet read through
    /// the adapter stay in the adapter.
    pub fn into_rc(self) -> Rc<S> {
        self.stream
    }
}

impl<S: ReceiveStream + 'static> AsyncRead for Compat<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.read_pos < this.read_end {
            return Poll::Ready(Ok(this.take_buffered(out)));
        }
        let fut = this.reading.get_or_insert_with(|| {
            let stream = this.stream.clone();
            let mut buf = std::mem::take(&mut this.read_buf);
            buf.resize(out.len().clamp(MIN_READ, MAX_READ), 0);
            Box::pin(async move {
                let r = stream.receive_some(&mut buf).await;
                (r, buf)
            })
        });
        let (result, buf) = match fut.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(done) => done,
        };
        this.reading = None;
        this.read_buf = buf;
        match result {
            Ok(n) => {
                this.read_pos = 0;
                this.read_end = n;
                Poll::Ready(Ok(this.take_buffered(out)))
            }
            Err(e) => Poll::Ready(Err(to_io_error(e))),
        }
    }
}

impl<S> Compat<S> {
    fn take_buffered(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.read_end - self.read_pos);
        out[..n].copy_from_slice(&self.read_buf[self.read_pos..self.read_pos + n]);
        self.read_pos += n;
        n
    }

    /// Drives the in-flight send, if any, to completion; returns its length.
    fn poll_writing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        let Some(fut) = self.writing.as_mut() else {
            return Poll::Ready(Ok(None));
        };
        let (result, buf, len) = match fut.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(done) => done,
        };
        self.writing = None;
        self.write_buf = buf;
        Poll::Ready(result.map(|()| Some(len)).map_err(to_io_error))
    }
}

impl<S: SendStream + 'static> AsyncWrite for Compat<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.writing.is_some() {
            // A pending send of the previous call: finish it and report it (see the
            // module doc: callers re-poll with the same bytes).
            return match this.poll_writing(cx) {
                // Never more than `data.len()`, which the AsyncWrite contract requires.
                Poll::Ready(Ok(Some(len))) => Poll::Ready(Ok(len.min(data.len()))),
                Poll::Ready(Ok(None)) => unreachable!("a send was in flight"),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let stream = this.stream.clone();
        let mut buf = std::mem::take(&mut this.write_buf);
        buf.clear();
        buf.extend_from_slice(data);
        let len = data.len();
        this.writing = Some(Box::pin(async move {
            let r = stream.send_all(&buf).await;
            (r, buf, len)
        }));
        match this.poll_writing(cx) {
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(len)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // send_all hands everything to the transport; finishing it is all a flush means.
        self.get_mut().poll_writing(cx).map_ok(|_| ())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_writing(cx) {
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        let close_fn = this.close_fn;
        let stream = this.stream.clone();
        let fut = this.closing.get_or_insert_with(|| close_fn(stream));
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                this.closing = None;
                Poll::Ready(r.map_err(to_io_error))
            }
        }
    }
}

impl<S> std::fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compat")
            .field("buffered", &(self.read_end - self.read_pos))
            .field("reading", &self.reading.is_some())
            .field("writing", &self.writing.is_some())
            .finish()
    }
}

/// Converts a trio error for the `futures-io` world. `Cancelled` becomes kind `Other`
/// (not `Interrupted`, see the module doc); the trio error stays inside and
/// [`into_trio_error`] gets it back.
pub fn to_io_error(e: Error) -> io::Error {
    if e.is_cancelled() {
        return io::Error::other(StdErrorAdapter(e));
    }
    io::Error::from(e)
}

/// Gets the trio error back out of an `io::Error` from an adapter (so `Cancelled`
/// propagates as `Cancelled`); any other `io::Error` becomes kind `Io`.
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
