//! `SocketStream`: a connected stream socket (TCP or Unix) as a trio
//! `HalfCloseableStream`.
//!
//! Error vocabulary (Trio's): an operation on a stream this side closed is
//! `ClosedResource`; an OS error from the connection (reset, broken pipe) is
//! `BrokenResource` with the `io::Error` as source; two tasks sending (or two receiving)
//! at once is `BusyResource`. One sender and one receiver may run at the same time.
//!
//! # A cancelled `send_all`
//! `send_all` loops over partial writes. If it is cancelled (or its future dropped) after
//! part of the data went out, the peer has seen a truncated message and no one knows
//! where: the stream is marked broken, and every later send-side operation says so with
//! `BrokenResource` instead of silently corrupting the byte stream. Receiving still works
//! (the peer may still have something to say, e.g. an error), and `aclose` closes it.
//! A `send_all` cancelled before sending anything had no effect and breaks nothing.

use std::cell::Cell;
use std::io::{self, Read};
use std::net::SocketAddr;

use std::net::Shutdown;

use socket2::{Domain, Socket, Type};
use trio_core::{
    checkpoint, AsyncResource, Error, ErrorKind, HalfCloseableStream, ReceiveStream, Result,
    SendStream,
};

use crate::socket::{closed_error, AsyncSocket, ConflictDetector, Dir};

/// The kernel keeps at most this much unsent data queued (`TCP_NOTSENT_LOWAT`), so
/// `wait_send_all_might_not_block` means something and memory use stays bounded.
const NOTSENT_LOWAT: u32 = 16 * 1024;

/// A connected stream socket (TCP or Unix domain) with trio's stream interface.
///
/// Made by [`open_tcp_stream`](crate::open_tcp_stream),
/// [`SocketListener::accept`](crate::SocketListener), [`open_unix_socket`](crate::open_unix_socket),
/// or from any connected std/socket2 stream socket with [`SocketStream::new`]. TCP
/// streams get `TCP_NODELAY` on by default. Dropping the stream closes it abruptly;
/// [`aclose`](AsyncResource::aclose) is the explicit close.
///
/// ```
/// use trio_core::{ReceiveStream, SendStream, HalfCloseableStream};
/// use trio_net::SocketStream;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (a, b) = SocketStream::unix_pair()?;
///     a.send_all(b"ping").await?;
///     a.send_eof().await?;
///     let mut buf = [0u8; 16];
///     let n = b.receive_some(&mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(b.receive_some(&mut buf).await?, 0); // end of stream
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct SocketStream {
    sock: AsyncSocket,
    send_conflict: ConflictDetector,
    receive_conflict: ConflictDetector,
    /// `send_eof` was called: later sends are `ClosedResource`.
    shut_wr: Cell<bool>,
    /// A TCP socket, where a short read means the receive buffer was emptied (not so
    /// for Unix sockets, which stop at a change of sender credentials).
    tcp: bool,
    /// # Invariant
    /// True while a `send_all` has sent part (not all) of its data; left true if that
    /// `send_all` was cancelled or dropped, which breaks the send side for good.
    send_partial: Cell<bool>,
}

impl SocketStream {
    /// Wraps a connected stream socket (`std::net::TcpStream`,
    /// `std::os::unix::net::UnixStream` or a `socket2::Socket`): makes it non-blocking,
    /// and for TCP turns on `TCP_NODELAY` (and `TCP_NOTSENT_LOWAT`, where available).
    ///
    /// Fails if the socket is not a stream socket.
    pub fn new(sock: impl Into<Socket>) -> Result<Self> {
        let sock: Socket = sock.into();
        let ty = sock.r#type()?;
        if ty != Type::STREAM {
            return Err(Error::new(
                ErrorKind::Other,
                format!("SocketStream needs a SOCK_STREAM socket, got {ty:?}"),
            ));
        }
        let tcp = matches!(sock.domain(), Ok(Domain::IPV4) | Ok(Domain::IPV6));
        if tcp {
            sock.set_tcp_nodelay(true)?;
            // Best effort: not every kernel supports it, and nothing depends on it.
            let _ = sock.set_tcp_notsent_lowat(NOTSENT_LOWAT);
        }
        Ok(SocketStream {
            sock: AsyncSocket::new(sock)?,
            send_conflict: ConflictDetector::new(
                "another task is already sending on this SocketStream",
            ),
            receive_conflict: ConflictDetector::new(
                "another task is already receiving on this SocketStream",
            ),
            shut_wr: Cell::new(false),
            tcp,
            send_partial: Cell::new(false),
        })
    }

    /// A connected pair of Unix domain stream sockets (handy for tests and for talking to
    /// a child process).
    pub fn unix_pair() -> Result<(SocketStream, SocketStream)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::STREAM, None)?;
        Ok((SocketStream::new(a)?, SocketStream::new(b)?))
    }

    /// This side's address (TCP only; for Unix sockets use [`with_socket`](Self::with_socket)).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The peer's address (TCP only).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// Turns Nagle's algorithm off (`true`, the default) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> Result<()> {
        self.sock.with(|s| s.set_tcp_nodelay(nodelay))
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> Result<bool> {
        self.sock.with(Socket::tcp_nodelay)
    }

    /// Runs `f` on the underlying `socket2::Socket`, for any socket option not wrapped
    /// here (keepalive, linger, buffer sizes, ...). `ClosedResource` once closed.
    ///
    /// Do not use it to read, write or close the socket: that bypasses the stream's
    /// bookkeeping. The socket is non-blocking.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let (a, _b) = trio_net::SocketStream::unix_pair()?;
    ///     let size = a.with_socket(|s| s.send_buffer_size())?;
    ///     assert!(size > 0);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn with_socket<T>(&self, f: impl FnOnce(&Socket) -> io::Result<T>) -> Result<T> {
        self.sock.with(f)
    }

    /// True once the stream was closed by this side.
    pub fn is_closed(&self) -> bool {
        self.sock.is_closed()
    }

    /// Whether this is a TCP socket (where a short read drained the receive buffer).
    pub(crate) fn is_tcp(&self) -> bool {
        self.tcp
    }

    /// The socket underneath, for the poll-based adapter (`socket_compat.rs`).
    pub(crate) fn async_socket(&self) -> &AsyncSocket {
        &self.sock
    }

    fn check_send_side(&self) -> Result<()> {
        if self.shut_wr.get() {
            return Err(Error::new(
                ErrorKind::ClosedResource,
                "can't send data after sending EOF (send_eof was called)",
            ));
        }
        if self.send_partial.get() {
            return Err(Error::new(
                ErrorKind::BrokenResource,
                "an earlier send_all on this stream was cancelled after sending part of its \
                 data; the peer saw a truncated message, so the stream is unusable for \
                 sending (close it)",
            ));
        }
        Ok(())
    }
}

/// Maps socket errors to Trio's stream vocabulary: OS errors mean the connection broke.
pub(crate) fn to_stream_error(e: Error) -> Error {
    if e.kind() != ErrorKind::Io {
        return e;
    }
    let io = io::Error::from(e);
    match io.raw_os_error() {
        Some(libc::EBADF) | Some(libc::ENOTSOCK) => closed_error(),
        _ => Error::with_source(
            ErrorKind::BrokenResource,
            format!("socket connection broken: {io}"),
            io,
        ),
    }
}

impl AsyncResource for SocketStream {
    /// Closes the socket (at once: there is nothing graceful to wait for), then
    /// checkpoints. Tasks blocked on the stream wake with `ClosedResource`. Idempotent;
    /// the stream is closed even if the checkpoint reports `Cancelled`.
    async fn aclose(&self) -> Result<()> {
        self.sock.close();
        checkpoint().await
    }
}

impl SendStream for SocketStream {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _guard = self.send_conflict.enter()?;
        self.check_send_side()?;
        if data.is_empty() {
            if self.sock.is_closed() {
                return Err(closed_error());
            }
            return checkpoint().await;
        }
        let mut sent = 0;
        while sent < data.len() {
            let rest = &data[sent..];
            let n = self
                .sock
                .io(Dir::Write, |s| s.send_with_flags(rest, libc::MSG_NOSIGNAL))
                .await
                .map_err(to_stream_error)?;
            sent += n;
            // Partial progress: if we are cancelled from here on, the stream is broken.
            self.send_partial.set(sent < data.len());
        }
        Ok(())
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _guard = self.send_conflict.enter()?;
        self.check_send_side()?;
        self.sock.wait(Dir::Write).await.map_err(to_stream_error)
    }
}

impl ReceiveStream for SocketStream {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Err(Error::new(
                ErrorKind::Other,
                "receive_some needs a non-empty buffer (it returns 0 only at end of stream)",
            ));
        }
        let _guard = self.receive_conflict.enter()?;
        let len = buf.len();
        self.sock
            .receive_stream(len, self.tcp, |mut s| s.read(buf))
            .await
            .map_err(to_stream_error)
    }
}

impl HalfCloseableStream for SocketStream {
    /// Shuts down the sending direction (`shutdown(SHUT_WR)`): the peer reads end of
    /// stream. Idempotent; later sends are `ClosedResource`.
    async fn send_eof(&self) -> Result<()> {
        let _guard = self.send_conflict.enter()?;
        checkpoint().await?;
        if self.shut_wr.get() {
            return Ok(());
        }
        match self.sock.with(|s| s.shutdown(Shutdown::Write)) {
            Ok(()) => {}
            // The peer may already be gone; the direction is shut either way.
            Err(e) if e.io_error().and_then(io::Error::raw_os_error) == Some(libc::ENOTCONN) => {}
            Err(e) => return Err(to_stream_error(e)),
        }
        self.shut_wr.set(true);
        Ok(())
    }
}
