//! # trio-net: sockets for trio-rs
//!
//! TCP, UDP and Unix domain sockets on trio-core's reactor, with Trio's high-level
//! helpers: [`open_tcp_stream`] (happy eyeballs), [`open_tcp_listeners`], [`serve_tcp`]
//! / [`serve_listeners`], [`open_unix_socket`] / [`UnixListener`], [`UdpSocket`], and
//! [`compat`] adapters to `futures-io` for the ecosystem's protocol crates
//! ([`socket_compat`] for sockets, with no pump tasks).
//!
//! # Model
//!
//! * A [`SocketStream`] is a trio `HalfCloseableStream`: `receive_some` fills your
//!   buffer, `send_all` sends everything, `send_eof` half-closes, `aclose` closes. One
//!   task may send while another receives; two senders (or two receivers) get
//!   `BusyResource`. Closing a socket wakes any task blocked on it with `ClosedResource`;
//!   a connection the peer broke (reset, broken pipe) is `BrokenResource`.
//! * Every operation is a checkpoint and cancel-safe: a cancelled receive took nothing; a
//!   cancelled connect closes its socket; a `send_all` cancelled half-way leaves the
//!   stream broken, and it says so on the next send.
//! * Servers are tasks: `nursery.start(|s| serve_tcp(handler, port, host, s))` binds, reports
//!   the listeners, and runs each connection's handler as a task in a nursery until you
//!   cancel it. The stream is closed when its handler returns.
//! * Name lookups run on worker threads; [`set_custom_hostname_resolver`] and
//!   [`set_custom_socket_factory`] replace DNS and the network for one run, so tests can
//!   simulate hosts on a mock clock.
//!
//! ```
//! use trio_core::{open_nursery, ReceiveStream, SendStream, HalfCloseableStream};
//! use trio_net::{open_tcp_stream, serve_tcp, SocketStream};
//!
//! async fn shout(stream: SocketStream) -> trio_core::Result<()> {
//!     let mut buf = [0u8; 64];
//!     let n = stream.receive_some(&mut buf).await?;
//!     stream.send_all(&buf[..n].to_ascii_uppercase()).await
//! }
//!
//! fn main() -> trio_core::Result<()> {
//!     trio_core::run(|| async {
//!         open_nursery(|nursery| async move {
//!             let listeners = nursery
//!                 .start(|status| serve_tcp(shout, 0, Some("127.0.0.1"), status))
//!                 .await?;
//!             let port = listeners[0].local_addr()?.port();
//!             let stream = open_tcp_stream("127.0.0.1", port).await?;
//!             stream.send_all(b"hello").await?;
//!             stream.send_eof().await?;
//!             let mut buf = [0u8; 64];
//!             let n = stream.receive_some(&mut buf).await?;
//!             assert_eq!(&buf[..n], b"HELLO");
//!             nursery.cancel_scope().cancel(); // stop the server
//!             Ok(())
//!         })
//!         .await?;
//!         Ok(())
//!     })
//! }
//! ```

#![forbid(unsafe_code)]

pub mod compat;
mod connect;
mod happy_eyeballs;
mod listener;
mod resolve;
mod serve;
mod socket;
pub mod socket_compat;
mod socket_stream;
mod tcp_listeners;
mod udp;
mod unix;

pub use connect::{set_custom_socket_factory, LocalBoxFuture, SocketFactory};
pub use happy_eyeballs::{
    open_tcp_stream, ConnectAttempt, ConnectError, TcpConnectOptions, DEFAULT_HAPPY_EYEBALLS_DELAY,
};
pub use listener::SocketListener;
pub use resolve::{getaddrinfo, set_custom_hostname_resolver, HostnameResolver};
pub use serve::{aclose_forcefully, serve_listeners, serve_tcp, ACCEPT_CAPACITY_BACKOFF};
pub use socket_stream::SocketStream;
pub use tcp_listeners::{open_tcp_listeners, open_tcp_listeners_with_backlog, DEFAULT_BACKLOG};
pub use udp::UdpSocket;
pub use unix::{open_unix_socket, UnixListener};

/// Re-exported so users can name socket options and addresses without a direct
/// dependency (`with_socket` hands out a `socket2::Socket`).
pub use socket2;
