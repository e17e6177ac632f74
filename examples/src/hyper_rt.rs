//! hyper 1.x on trio-rs: the `rt` glue (I/O, executor, timer) and a graceful HTTP/1.1
//! connection server.
//!
//! * I/O: [`TrioIo`] implements `hyper::rt::Read`/`Write` over any trio stream. A plain
//!   socket ([`SocketStream`]) goes through trio-net's [`SocketCompat`], polled directly
//!   on the reactor (no extra tasks); any other stream (TLS, pipes, memory streams)
//!   through trio-net's [`Compat`] adapter (whose docs say why the I/O runs in two pump
//!   tasks, and its caveats). The wrapper exists only because hyper has its own I/O
//!   traits and trio-net does not depend on hyper.
//! * [`TrioExecutor`]: hyper's `Executor`, spawning into a trio [`Nursery`], so every
//!   future hyper spawns (HTTP/2 streams, client connections) is joined by that nursery.
//!   Futures need not be `Send`.
//! * [`TrioTimer`] (in `hyper_timer.rs`): hyper's `Timer` on the run's clock, so a mock
//!   clock drives hyper's timeouts too.
//! * [`serve_http1`]: one HTTP/1.1 connection, served until the client leaves; if the
//!   caller's scope is cancelled, hyper's `graceful_shutdown` runs (in-flight requests
//!   finish, idle keep-alive connections close) with a `grace` budget.

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

use hyper::body::{Body, Incoming};
use hyper::service::HttpService;
use trio_core::{open_nursery, Error, Nursery, Result, Stream};
use trio_net::compat::Compat;
use trio_net::socket_compat::SocketCompat;
use trio_net::SocketStream;

use crate::graceful::{with_grace_and_cut, Shutdown};
pub use crate::hyper_timer::{timer_driver_running, TrioSleep, TrioTimer};

/// hyper's `rt::Read`/`rt::Write` (and `futures-io`, by delegation) over a trio stream.
/// A [`SocketStream`] is polled directly ([`SocketCompat`]); any other stream runs on
/// trio-net's [`Compat`] pumps, with their caveats: drop it inside the body of the
/// nursery its pumps run in.
pub struct TrioIo<S: Stream + 'static> {
    inner: Inner<S>,
}

/// The two adapters `TrioIo` chooses between.
enum Inner<S: Stream + 'static> {
    /// Any trio stream, through two pump tasks.
    Pumped(Compat<S>),
    /// A plain socket (`S` is `SocketStream`): polled on the reactor, reading through
    /// the thread's scratch buffer because hyper's read cursor is uninitialized memory
    /// (filling it in place would need `unsafe`).
    Direct(SocketCompat),
}

/// The scratch buffer a direct read goes through (hyper asks for at most this much at
/// a time when its buffer is this large or larger; small reads copy only what came).
const DIRECT_READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// One scratch buffer per thread, shared by every direct `TrioIo` on it: a read fills
    /// it and copies out within one call. One per connection would put 16 KiB per
    /// connection in the cache's way (measured: more data-cache misses per request than
    /// tokio, which reads into hyper's buffer directly).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Both `futures-io` directions, for delegating to whichever adapter `TrioIo` holds.
trait Duplex: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Duplex for T {}

impl<S: Stream + 'static> TrioIo<S> {
    /// Wraps `stream`: a [`SocketStream`] directly (nothing is spawned); any other
    /// stream with its two pump tasks spawned into `nursery` ([`Compat::new`]).
    pub fn new(stream: S, nursery: &Nursery) -> Self {
        match Self::direct(stream) {
            Ok(io) => io,
            Err(stream) => TrioIo {
                inner: Inner::Pumped(Compat::new(stream, nursery)),
            },
        }
    }

    /// Wraps `stream` if it is a plain socket (polled directly, needing no nursery);
    /// gives any other stream back.
    fn direct(stream: S) -> std::result::Result<Self, S> {
        // No specialization in Rust: ask at run time whether `S` is a plain socket.
        let mut slot = Some(stream);
        match (&mut slot as &mut dyn Any).downcast_mut::<Option<SocketStream>>() {
            Some(sock) => Ok(TrioIo {
                inner: Inner::Direct(SocketCompat::new(
                    sock.take().expect("the slot was just filled"),
                )),
            }),
            None => Err(slot.take().expect("the slot was just filled")),
        }
    }

    /// The wrapped stream (for addresses, TLS details, ...).
    pub fn get_ref(&self) -> &S {
        match &self.inner {
            Inner::Pumped(c) => c.get_ref(),
            Inner::Direct(c) => (c.get_ref() as &dyn Any)
                .downcast_ref::<S>()
                .expect("Direct holds a SocketStream only when S is SocketStream"),
        }
    }

    fn duplex(&mut self) -> Pin<&mut dyn Duplex> {
        match &mut self.inner {
            Inner::Pumped(c) => Pin::new(c),
            Inner::Direct(c) => Pin::new(c),
        }
    }
}

impl<S: Stream + 'static> std::fmt::Debug for TrioIo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Pumped(c) => f.debug_tuple("TrioIo").field(c).finish(),
            Inner::Direct(c) => f.debug_tuple("TrioIo").field(c).finish(),
        }
    }
}

impl<S: Stream + 'static> hyper::rt::Read for TrioIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Direct(sock) => {
                // Safe code only: receive into the scratch buffer, copy what came.
                let want = buf.remaining().min(DIRECT_READ_CHUNK);
                let mut read = |scratch: &mut Vec<u8>| {
                    if scratch.len() < want {
                        scratch.resize(want, 0);
                    }
                    match Pin::new(&mut *sock).poll_read(cx, &mut scratch[..want]) {
                        Poll::Ready(Ok(n)) => {
                            buf.put_slice(&scratch[..n]);
                            Poll::Ready(Ok(()))
                        }
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        Poll::Pending => Poll::Pending,
                    }
                };
                // Nothing in a read calls back into code that reads (a poll registers a
                // waker, no more); were the buffer ever busy, a fresh one does the job.
                SCRATCH.with(|s| match s.try_borrow_mut() {
                    Ok(mut scratch) => read(&mut scratch),
                    Err(_) => read(&mut Vec::new()),
                })
            }
            Inner::Pumped(compat) => {
                // Safe code only: copy straight out of the adapter's buffer.
                let mut inner = Pin::new(compat);
                let n = match inner.as_mut().poll_fill_buf(cx) {
                    Poll::Ready(Ok(avail)) => {
                        let n = avail.len().min(buf.remaining());
                        buf.put_slice(&avail[..n]);
                        n
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                };
                inner.consume(n);
                Poll::Ready(Ok(()))
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
        self.get_mut().duplex().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().duplex().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().duplex().poll_close(cx)
    }
}

impl<S: Stream + 'static> AsyncRead for TrioIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().duplex().poll_read(cx, buf)
    }
}

impl<S: Stream + 'static> AsyncWrite for TrioIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().duplex().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().duplex().poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().duplex().poll_close(cx)
    }
}

/// hyper's `Executor`: spawns into a trio nursery.
#[derive(Clone, Debug)]
pub struct TrioExecutor {
    nursery: Nursery,
}

impl TrioExecutor {
    /// Spawns every future hyper hands over into `nursery`.
    pub fn new(nursery: &Nursery) -> Self {
        TrioExecutor {
            nursery: nursery.clone(),
        }
    }
}

impl<F> hyper::rt::Executor<F> for TrioExecutor
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        self.nursery.start_soon(async move {
            fut.await;
            Ok(())
        });
    }
}

/// Converts a hyper error into a trio error, keeping it as the source.
pub fn hyper_error(e: hyper::Error) -> Error {
    Error::with_source(trio_core::ErrorKind::Other, "hyper", e)
}

/// Serves HTTP/1.1 on one connection until the client is done.
///
/// If the caller's scope is cancelled, the connection shuts down gracefully: a request in
/// flight gets its response (with `Connection: close`), an idle keep-alive connection is
/// closed at once, and after `grace` whatever is left is cancelled. Then this returns
/// `Err(Cancelled)` for the caller's scope to absorb.
///
/// The connection is served by a task of its own (in a nursery inside this call), so
/// `service` must be `'static`.
pub async fn serve_http1<S, Svc, B>(stream: S, service: Svc, grace: Duration) -> Result<()>
where
    S: Stream + 'static,
    Svc: HttpService<Incoming, ResBody = B> + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // The connection runs as a task of its own whose steps enter one scope (the grace
    // shield of `with_grace_and_cut`; this task parks as its watcher), with no pump
    // nursery for a plain socket: every step of the connection's task goes through each
    // nursery or scope around it, and each costs as much as a good part of a request.
    with_grace_and_cut(grace, |shutdown, cut| async move {
        let r = match TrioIo::direct(stream) {
            Ok(io) => serve_io(io, service, &shutdown, &cut).await,
            Err(stream) => open_nursery(|pumps| async move {
                serve_io(TrioIo::new(stream, &pumps), service, &shutdown, &cut).await
            })
            .await
            .map(|_| ()),
        };
        match r {
            Ok(()) => Ok(()),
            // A connection reset or a client that vanished is the client's business, not
            // a server failure; cancellation keeps propagating.
            Err(e) if e.is_cancelled() => Err(e),
            Err(_) => {
                trio_core::checkpoint_if_cancelled().await?;
                Ok(())
            }
        }
    })
    .await
    .map(|_| ())
}

/// hyper's HTTP/1.1 connection on `io`: graceful shutdown when `shutdown` fires, and
/// `Err(Cancelled)` at once when `cut` fires (the connection future is dropped: `io`
/// is polled directly, so nothing else would stop it).
async fn serve_io<S, Svc, B>(
    io: TrioIo<S>,
    service: Svc,
    shutdown: &Shutdown,
    cut: &Shutdown,
) -> Result<()>
where
    S: Stream + 'static,
    Svc: HttpService<Incoming, ResBody = B>,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Pipelined requests get their responses in one flush (one pump round trip).
    builder.timer(TrioTimer).pipeline_flush(true);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut shutdown_seen = false;
    let mut wait = pin!(shutdown.wait());
    let mut wait_cut = pin!(cut.wait());
    let done = std::future::poll_fn(|cx| {
        if !shutdown_seen && wait.as_mut().poll(cx).is_ready() {
            shutdown_seen = true;
            conn.as_mut().graceful_shutdown();
        }
        if let Poll::Ready(r) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        // The cut comes only after the shutdown signal (at the end of the grace period).
        if shutdown_seen && wait_cut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match done {
        Some(r) => r.map_err(hyper_error),
        None => Err(Error::cancelled()),
    }
}
