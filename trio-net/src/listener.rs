//! `SocketListener`: a listening stream socket (TCP or Unix) whose `accept` gives
//! [`SocketStream`]s; trio-core's `Listener`.
//!
//! As Trio's: `accept` silently retries errors that concern only one incoming
//! connection (it was aborted or refused before we got to it), but reports resource
//! exhaustion (`EMFILE`, `ENFILE`, ...) so that [`serve_listeners`](crate::serve_listeners)
//! can back off. A listener never reports `BrokenResource`.

use std::io;
use std::net::SocketAddr;

use socket2::Socket;
use trio_core::{checkpoint, AsyncResource, Error, ErrorKind, Listener, Result};

use crate::socket::{AsyncSocket, ConflictDetector, Dir};
use crate::SocketStream;

/// Errors of `accept` that concern one connection only; we skip it and wait for the next.
const IGNORABLE_ACCEPT_ERRNOS: &[i32] = &[
    libc::EPERM,
    libc::ECONNABORTED,
    libc::EPROTO,
    libc::ENETDOWN,
    libc::ENOPROTOOPT,
    libc::EHOSTDOWN,
    libc::ENONET,
    libc::EHOSTUNREACH,
    libc::EOPNOTSUPP,
    libc::ENETUNREACH,
    libc::ENOSR,
    libc::ESOCKTNOSUPPORT,
    libc::EPROTONOSUPPORT,
    libc::ETIMEDOUT,
    libc::ECONNRESET,
];

/// A listening stream socket. `accept` waits for the next connection.
///
/// Usually made by [`open_tcp_listeners`](crate::open_tcp_listeners) or
/// [`UnixListener::bind`](crate::UnixListener::bind); [`SocketListener::new`] wraps any
/// listening socket. Dropping it closes it; a task blocked in `accept` when another task
/// closes it wakes with `ClosedResource`.
///
/// ```
/// use trio_core::Listener;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let listeners = trio_net::open_tcp_listeners(0, Some("127.0.0.1")).await?;
///     let addr = listeners[0].local_addr()?;
///     let client = trio_net::open_tcp_stream("127.0.0.1", addr.port()).await?;
///     let server_side = listeners[0].accept().await?;
///     assert_eq!(server_side.peer_addr()?, client.local_addr()?);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct SocketListener {
    sock: AsyncSocket,
    accept_conflict: ConflictDetector,
}

impl SocketListener {
    /// Wraps a socket that is already listening (`listen` was called). Fails otherwise.
    pub fn new(sock: impl Into<Socket>) -> Result<Self> {
        let sock: Socket = sock.into();
        if !sock.is_listener()? {
            return Err(Error::new(
                ErrorKind::Other,
                "SocketListener needs a listening socket (call listen() first)",
            ));
        }
        Ok(SocketListener {
            sock: AsyncSocket::new(sock)?,
            accept_conflict: ConflictDetector::new(
                "another task is already accepting on this SocketListener",
            ),
        })
    }

    /// The address it listens on (TCP only; for Unix sockets see
    /// [`with_socket`](Self::with_socket)).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Runs `f` on the underlying `socket2::Socket` (for socket options).
    /// `ClosedResource` once closed.
    pub fn with_socket<T>(&self, f: impl FnOnce(&Socket) -> io::Result<T>) -> Result<T> {
        self.sock.with(f)
    }

    /// True once closed by this side.
    pub fn is_closed(&self) -> bool {
        self.sock.is_closed()
    }
}

impl AsyncResource for SocketListener {
    /// Closes the listening socket; tasks blocked in `accept` wake with `ClosedResource`.
    async fn aclose(&self) -> Result<()> {
        self.sock.close();
        checkpoint().await
    }
}

impl Listener for SocketListener {
    type Stream = SocketStream;

    /// Waits for the next connection. A checkpoint. `BusyResource` if another task is
    /// accepting on this listener; `ClosedResource` if it was closed.
    async fn accept(&self) -> Result<SocketStream> {
        let _guard = self.accept_conflict.enter()?;
        loop {
            let accepted = self.sock.io(Dir::Read, Socket::accept).await;
            match accepted {
                Ok((sock, _peer)) => return SocketStream::new(sock),
                Err(e) => {
                    let errno = e.io_error().and_then(io::Error::raw_os_error);
                    match errno {
                        Some(n) if IGNORABLE_ACCEPT_ERRNOS.contains(&n) => continue,
                        Some(libc::EBADF) | Some(libc::ENOTSOCK) => {
                            return Err(crate::socket::closed_error())
                        }
                        _ => return Err(e),
                    }
                }
            }
        }
    }
}
