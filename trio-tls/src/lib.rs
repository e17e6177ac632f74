//! # trio-tls: TLS streams over any trio-rs stream, built on rustls
//!
//! Trio's `SSLStream` and `SSLListener`, on [rustls](https://docs.rs/rustls) with the
//! *ring* crypto provider.
//!
//! # Model
//!
//! * A [`TlsStream`] wraps any trio [`Stream`](trio_core::Stream) (a TCP socket, a memory
//!   stream, even another `TlsStream`) and is itself a `Stream`: `send_all`,
//!   `receive_some`, `wait_send_all_might_not_block`, `aclose`. Build it with
//!   [`TlsStream::client`] or [`TlsStream::server`] from an `Arc` rustls config.
//! * The handshake runs on first use, or explicitly with [`TlsStream::do_handshake`];
//!   when several tasks trigger it, one drives it and the others wait. One task may send
//!   while another receives.
//! * `aclose` sends `close_notify` and closes the transport; a peer that closes without
//!   `close_notify` is a truncation (`BrokenResource`), unless the stream is
//!   [`https_compatible`](TlsStream::https_compatible). [`TlsStream::unwrap`] ends TLS
//!   and gives the transport back for plaintext.
//! * Every failure the peer causes (bad certificate, wrong name, garbage, truncation) is
//!   `BrokenResource` with the rustls error as its source, promptly; a closed stream
//!   gives `ClosedResource`, concurrent misuse `BusyResource`.
//! * [`TlsListener`] turns any listener's connections into server `TlsStream`s;
//!   [`open_tls_over_tcp_stream`] and [`serve_tls`] do TLS over TCP in one call.
//!
//! ```
//! use trio_core::{open_nursery, AsyncResource, ReceiveStream, SendStream};
//! use trio_testing::{memory_stream_pair, TestCa};
//! use trio_tls::{ServerName, TlsStream};
//!
//! # fn main() -> trio_core::Result<()> {
//! trio_core::run(|| async {
//!     let ca = TestCa::new(); // a throwaway certificate authority
//!     let (left, right) = memory_stream_pair();
//!     let name = ServerName::try_from("db.example")?.to_owned();
//!     let client = TlsStream::client(left, ca.client_config(), name)?;
//!     let server = TlsStream::server(right, ca.issue_cert(&["db.example"]))?;
//!     open_nursery(|nursery| async move {
//!         nursery.start_soon(async move {
//!             let mut buf = [0u8; 64];
//!             let n = server.receive_some(&mut buf).await?;
//!             server.send_all(&buf[..n].to_ascii_uppercase()).await?;
//!             server.aclose().await
//!         });
//!         client.send_all(b"ping").await?;
//!         let mut buf = [0u8; 64];
//!         let n = client.receive_some(&mut buf).await?;
//!         assert_eq!(&buf[..n], b"PING");
//!         assert_eq!(client.receive_some(&mut buf).await?, 0); // close_notify
//!         client.aclose().await
//!     })
//!     .await?;
//!     Ok(())
//! })
//! # }
//! ```

#![forbid(unsafe_code)]
#![allow(async_fn_in_trait)] // trio-rs tasks need not be Send.

mod listener;
mod lock;
mod records;
mod stream;
mod tcp;

pub use listener::TlsListener;
pub use stream::TlsStream;
pub use tcp::{
    default_client_config, open_tls_over_tcp_listeners, open_tls_over_tcp_stream, serve_tls,
};

/// The rustls crate this one is built on, for configs and certificate types.
pub use rustls;
/// A server name (DNS name or IP address) to verify the server against.
pub use rustls::pki_types::ServerName;

/// The crypto provider every config built here uses: rustls's *ring* provider, named
/// explicitly so nothing depends on which providers other crates enable.
fn ring_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
