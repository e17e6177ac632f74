//! [`SocketCompat`]: a [`SocketStream`] as `futures_io::AsyncRead` / `AsyncWrite` with no
//! pump tasks, for protocol crates (hyper, codecs) on plain sockets.
//!
//! # How it differs from [`Compat`](crate::compat::Compat)
//! `Compat` adapts *any* trio stream by running its `async fn`s in two pump tasks,
//! because a trio operation parks a task while protocol code polls and wakes `Waker`s.
//! A socket needs no trio operation: `poll_read` tries a non-blocking `recv`, and on
//! `EWOULDBLOCK` registers the `Waker` it was given with trio-core's reactor
//! (`lowlevel::wake_when_readable_after_would_block`, no syscall on Linux) and returns
//! `Pending`, exactly as tokio's `TcpStream` does. No extra tasks, no copies through a
//! queue, no schedule points: each poll is one syscall.
//!
//! # Semantics (futures-io's, not trio's)
//! * **Not a checkpoint.** Polling never reads cancel state and never yields to the
//!   scheduler. Cancelling the trio scope around protocol code means it stops polling:
//!   a read that returned `Pending` took nothing, and a write either sent its bytes
//!   (`Ready(Ok(n))`) or sent none. Nothing is lost or half-done.
//! * One reader and one writer: the read and write directions may be polled at once,
//!   from one task or two. A trio task waiting on the same direction of the same socket
//!   (through [`get_ref`](SocketCompat::get_ref)) takes over the reactor slot; the
//!   adapter's next poll then reports `BusyResource` (as an `io::Error`).
//! * `poll_write` is one non-blocking `send` (partial writes are normal);
//!   `poll_flush` is `Ready` (nothing is buffered here); `poll_close` shuts the sending
//!   direction down (`shutdown(SHUT_WR)`, the peer reads end of stream) and later
//!   writes fail with `BrokenPipe`. End of stream reads as `Ok(0)`.
//! * OS errors come back as the OS's `io::Error`; a socket closed by this side as the
//!   trio `ClosedResource` error inside an `io::Error` (see
//!   [`into_trio_error`](crate::compat::into_trio_error)).
//! * Dropping the adapter drops the stream: the reactor is told (`notify_closing`) and
//!   the socket is closed.

use std::io::{self, Read};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::compat::to_io_error;
use crate::socket::Dir;
use crate::SocketStream;

/// A [`SocketStream`] seen as `futures_io::AsyncRead + AsyncWrite`, polled directly on
/// the reactor (no pump tasks). See the module doc for its semantics.
///
/// ```
/// use futures_io::{AsyncRead, AsyncWrite};
/// use std::pin::Pin;
/// use trio_net::{socket_compat::SocketCompat, SocketStream};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (a, b) = SocketStream::unix_pair()?;
///     let (mut a, mut b) = (SocketCompat::new(a), SocketCompat::new(b));
///     let n = std::future::poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"hi")).await?;
///     assert_eq!(n, 2);
///     let mut buf = [0u8; 8];
///     let n = std::future::poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await?;
///     assert_eq!(&buf[..n], b"hi");
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct SocketCompat {
    stream: SocketStream,
    /// `poll_close` shut the sending direction down.
    write_closed: bool,
}

impl SocketCompat {
    /// Wraps `stream`. Nothing is spawned; any task may poll the adapter.
    pub fn new(stream: SocketStream) -> Self {
        SocketCompat {
            stream,
            write_closed: false,
        }
    }

    /// The stream, for addresses and socket options. Doing I/O on it while the adapter
    /// is polled is a conflict (see the module doc).
    pub fn get_ref(&self) -> &SocketStream {
        &self.stream
    }

    /// The stream back, still open. After `poll_close`, its sending direction is shut
    /// down at the OS level (a send fails with `BrokenResource`).
    pub fn into_inner(self) -> SocketStream {
        self.stream
    }
}

impl From<SocketStream> for SocketCompat {
    fn from(stream: SocketStream) -> Self {
        SocketCompat::new(stream)
    }
}

impl AsyncRead for SocketCompat {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let len = buf.len();
        self.stream
            .async_socket()
            .poll_receive_stream(cx, len, self.stream.is_tcp(), |mut s| s.read(buf))
            .map_err(to_io_error)
    }
}

impl AsyncWrite for SocketCompat {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "can't write after poll_close shut the sending direction down",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.stream
            .async_socket()
            .poll_io(Dir::Write, cx, |s| {
                s.send_with_flags(buf, libc::MSG_NOSIGNAL)
            })
            .map_err(to_io_error)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_closed {
            return Poll::Ready(Ok(()));
        }
        let shut = self
            .stream
            .async_socket()
            .with(|s| s.shutdown(Shutdown::Write));
        match shut {
            Ok(()) => {}
            // The peer may already be gone; the direction is shut either way.
            Err(e) if e.io_error().and_then(io::Error::raw_os_error) == Some(libc::ENOTCONN) => {}
            Err(e) => return Poll::Ready(Err(to_io_error(e))),
        }
        self.write_closed = true;
        Poll::Ready(Ok(()))
    }
}
