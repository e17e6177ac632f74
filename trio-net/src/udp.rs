//! `UdpSocket`: datagrams on the reactor.
//!
//! Unlike streams, a UDP socket keeps OS errors as they are (kind `Io`): a datagram to a
//! closed port may come back as "connection refused" on a connected socket, and that
//! breaks nothing. Sending and receiving are one task each at a time (`BusyResource`
//! otherwise); closing wakes blocked tasks with `ClosedResource`.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use trio_core::{checkpoint, AsyncResource, Error, ErrorKind, Result};

use crate::connect::new_socket;
use crate::socket::{AsyncSocket, ConflictDetector, Dir};

/// A UDP socket.
///
/// ```
/// use trio_net::UdpSocket;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0u8; 64];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    sock: AsyncSocket<std::net::UdpSocket>,
    send_conflict: ConflictDetector,
    receive_conflict: ConflictDetector,
}

impl UdpSocket {
    /// A UDP socket bound to `addr` (port 0: a free one). Not async: binding never waits.
    pub fn bind(addr: SocketAddr) -> Result<Self> {
        let sock = new_socket(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        sock.bind(&addr.into()).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("could not bind UDP socket to {addr}: {e}"),
                e,
            )
        })?;
        Self::from_socket(sock)
    }

    /// Wraps an existing UDP socket (a `std::net::UdpSocket` or `socket2::Socket`).
    pub fn from_socket(sock: impl Into<Socket>) -> Result<Self> {
        let sock: Socket = sock.into();
        let ty = sock.r#type()?;
        if ty != Type::DGRAM {
            return Err(Error::new(
                ErrorKind::Other,
                format!("UdpSocket needs a SOCK_DGRAM socket, got {ty:?}"),
            ));
        }
        Ok(UdpSocket {
            sock: AsyncSocket::new(std::net::UdpSocket::from(sock))?,
            send_conflict: ConflictDetector::new(
                "another task is already sending on this UdpSocket",
            ),
            receive_conflict: ConflictDetector::new(
                "another task is already receiving on this UdpSocket",
            ),
        })
    }

    /// Sets the default peer: `send` goes there and only its datagrams are received.
    /// Not async: a UDP connect sends nothing.
    pub fn connect(&self, addr: SocketAddr) -> Result<()> {
        self.sock.with(|s| s.connect(addr))
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The connected peer.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// Sends one datagram to `addr`; returns the bytes sent. A checkpoint.
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> Result<usize> {
        let _guard = self.send_conflict.enter()?;
        self.sock.io(Dir::Write, |s| s.send_to(buf, addr)).await
    }

    /// Sends one datagram to the connected peer. A checkpoint.
    pub async fn send(&self, buf: &[u8]) -> Result<usize> {
        let _guard = self.send_conflict.enter()?;
        self.sock.io(Dir::Write, |s| s.send(buf)).await
    }

    /// Receives one datagram into `buf` (the excess of a longer one is lost); returns
    /// its length and sender. A checkpoint.
    pub async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let _guard = self.receive_conflict.enter()?;
        self.sock.io(Dir::Read, |s| s.recv_from(buf)).await
    }

    /// Receives one datagram from the connected peer. A checkpoint.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        let _guard = self.receive_conflict.enter()?;
        self.sock.io(Dir::Read, |s| s.recv(buf)).await
    }

    /// Runs `f` on the underlying `socket2::Socket` (for options such as broadcast or
    /// multicast). `ClosedResource` once closed.
    pub fn with_socket<T>(&self, f: impl FnOnce(&SockRef<'_>) -> io::Result<T>) -> Result<T> {
        self.sock.with(|s| f(&SockRef::from(s)))
    }
}

impl AsyncResource for UdpSocket {
    /// Closes the socket; blocked tasks wake with `ClosedResource`.
    async fn aclose(&self) -> Result<()> {
        self.sock.close();
        checkpoint().await
    }
}
