//! Creating sockets and connecting them: the per-run [`SocketFactory`] hook (so tests
//! can simulate hosts that stall, refuse or answer), and the non-blocking `connect`
//! that every outgoing stream goes through.
//!
//! # A cancelled connect closes the socket
//! A non-blocking `connect` cannot be taken back: once started, the kernel carries on.
//! So, as in Trio, a connect that is cancelled while in progress closes its socket (the
//! socket is owned by the connect future, and dropping it closes it); the caller never
//! sees a half-connected socket.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use trio_core::lowlevel::RunVar;
use trio_core::{cancel_shielded_checkpoint, checkpoint_if_cancelled, Error, ErrorKind, Result};

use crate::socket::{AsyncSocket, Dir};
use crate::SocketStream;

/// A boxed, non-`Send` future: what the hook traits return (trio-rs tasks are not `Send`).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Makes the sockets trio-net uses; install one per run with
/// [`set_custom_socket_factory`] to put a simulated network under `open_tcp_stream`
/// (Trio's `SocketFactory`).
///
/// Both methods have real defaults, so an implementation overrides only what it
/// simulates. [`socket`](SocketFactory::socket) is used for every socket trio-net
/// creates (listeners, UDP, Unix, outgoing TCP); [`connect_tcp`](SocketFactory::connect_tcp)
/// is one connection attempt of [`open_tcp_stream`](crate::open_tcp_stream).
///
/// ```
/// use std::net::{IpAddr, SocketAddr};
/// use std::rc::Rc;
/// use trio_core::{Error, ErrorKind};
/// use trio_net::{set_custom_socket_factory, LocalBoxFuture, SocketFactory, SocketStream};
///
/// /// A network where every host refuses.
/// struct Refusing;
/// impl SocketFactory for Refusing {
///     fn connect_tcp(&self, addr: SocketAddr, _local: Option<IpAddr>)
///         -> LocalBoxFuture<'_, trio_core::Result<SocketStream>> {
///         Box::pin(async move {
///             trio_core::checkpoint().await?;
///             Err(Error::new(ErrorKind::Io, format!("{addr} refused (simulated)")))
///         })
///     }
/// }
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     set_custom_socket_factory(Some(Rc::new(Refusing)));
///     let err = trio_net::open_tcp_stream("127.0.0.1", 80).await.unwrap_err();
///     assert!(err.to_string().contains("refused (simulated)"));
///     Ok(())
/// })
/// # }
/// ```
pub trait SocketFactory {
    /// Creates a socket. Default: `socket2::Socket::new`.
    fn socket(&self, domain: Domain, ty: Type, protocol: Option<Protocol>) -> io::Result<Socket> {
        Socket::new(domain, ty, protocol)
    }

    /// One TCP connection attempt to `addr`, from `local` (port 0) if given. A
    /// checkpoint; when cancelled it must leave nothing open. Default: a socket from
    /// [`socket`](SocketFactory::socket), bound to `local`, connected without blocking.
    fn connect_tcp(
        &self,
        addr: SocketAddr,
        local: Option<IpAddr>,
    ) -> LocalBoxFuture<'_, Result<SocketStream>> {
        Box::pin(async move {
            let sock = self.socket(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            if let Some(ip) = local {
                let local_addr = SocketAddr::new(ip, 0);
                if local_addr.is_ipv4() != addr.is_ipv4() {
                    return Err(Error::new(
                        ErrorKind::Other,
                        format!("local_address={ip} is incompatible with remote address {addr}"),
                    ));
                }
                sock.bind(&local_addr.into()).map_err(|e| {
                    Error::with_source(
                        ErrorKind::Io,
                        format!("could not bind to local address {ip} to connect to {addr}: {e}"),
                        e,
                    )
                })?;
            }
            let sock = connect_socket(sock, &addr.into(), &addr.to_string()).await?;
            SocketStream::new(sock)
        })
    }
}

/// The real network.
struct DefaultSocketFactory;

impl SocketFactory for DefaultSocketFactory {}

static SOCKET_FACTORY: RunVar<Option<Rc<dyn SocketFactory>>> =
    RunVar::new("trio_net.socket_factory");

/// Installs `factory` for the rest of the current run (`None` restores the real
/// network) and returns the previous custom factory. See [`SocketFactory`].
///
/// # Panics
/// Outside a trio run.
pub fn set_custom_socket_factory(
    factory: Option<Rc<dyn SocketFactory>>,
) -> Option<Rc<dyn SocketFactory>> {
    SOCKET_FACTORY.set(factory).flatten()
}

/// The factory in force in the current run.
pub(crate) fn current_socket_factory() -> Rc<dyn SocketFactory> {
    SOCKET_FACTORY
        .get()
        .flatten()
        .unwrap_or_else(|| Rc::new(DefaultSocketFactory))
}

/// Creates a socket through the current run's factory.
pub(crate) fn new_socket(domain: Domain, ty: Type, protocol: Option<Protocol>) -> Result<Socket> {
    Ok(current_socket_factory().socket(domain, ty, protocol)?)
}

/// Connects `sock` to `addr` without blocking the loop, and returns it connected. A
/// checkpoint. If cancelled while the connect is in progress, the socket is closed (it
/// is dropped with the future). `shown` names the address in error messages.
pub(crate) async fn connect_socket(sock: Socket, addr: &SockAddr, shown: &str) -> Result<Socket> {
    checkpoint_if_cancelled().await?;
    let sock = AsyncSocket::new(sock)?;
    let started = sock.with(|s| s.connect(addr));
    match started {
        Ok(()) => {
            cancel_shielded_checkpoint().await;
            return into_socket(sock);
        }
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(connect_error(e, shown)),
    }
    // In progress: wait until writable, then ask the kernel how it went. Cancellation
    // here drops `sock`, which closes it.
    sock.wait_after_would_block(Dir::Write).await?;
    match sock.with(Socket::take_error)? {
        None => into_socket(sock),
        Some(e) => Err(connect_error(e.into(), shown)),
    }
}

fn in_progress(e: &Error) -> bool {
    let errno = e.io_error().and_then(io::Error::raw_os_error);
    // Not EAGAIN: for a Unix socket it means the listener's backlog is full and the
    // connect did *not* start, so it is reported, not waited for.
    errno == Some(libc::EINPROGRESS)
}

fn connect_error(e: Error, shown: &str) -> Error {
    match e.kind() {
        ErrorKind::Io => {
            let io = io::Error::from(e);
            Error::with_source(
                ErrorKind::Io,
                format!("could not connect to {shown}: {io}"),
                io,
            )
        }
        _ => e,
    }
}

/// Takes the socket back out of its reactor wrapper, still open.
fn into_socket(sock: AsyncSocket) -> Result<Socket> {
    sock.into_inner().ok_or_else(crate::socket::closed_error)
}
