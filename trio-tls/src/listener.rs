//! `TlsListener`: wraps any trio `Listener` so that every accepted connection becomes a
//! server-side `TlsStream`. `accept` does no TLS I/O (the handshake happens on the new
//! stream's first use), so one slow or hostile client cannot stall the accept loop.

use std::fmt;
use std::sync::Arc;

use rustls::ServerConfig;
use trio_core::{AsyncResource, Listener, Result, Stream};

use crate::TlsStream;

/// A listener yielding [`TlsStream`]s over the streams of `L`.
///
/// ```no_run
/// use trio_core::{Listener, ReceiveStream};
/// # async fn demo(tcp: impl Listener<Stream = impl trio_core::Stream>,
/// #               config: std::sync::Arc<rustls::ServerConfig>) -> trio_core::Result<()> {
/// let listener = trio_tls::TlsListener::new(tcp, config);
/// let stream = listener.accept().await?; // no handshake yet
/// let mut buf = [0u8; 1024];
/// let n = stream.receive_some(&mut buf).await?; // handshake, then data
/// # let _ = n; Ok(())
/// # }
/// ```
pub struct TlsListener<L> {
    transport_listener: L,
    config: Arc<ServerConfig>,
    https_compatible: bool,
}

impl<L> TlsListener<L>
where
    L: Listener,
    L::Stream: Stream,
{
    /// Wraps `listener`; accepted streams use `config`.
    pub fn new(listener: L, config: Arc<ServerConfig>) -> Self {
        TlsListener {
            transport_listener: listener,
            config,
            https_compatible: false,
        }
    }

    /// Makes every accepted stream [`https_compatible`](TlsStream::https_compatible).
    pub fn https_compatible(mut self, on: bool) -> Self {
        self.https_compatible = on;
        self
    }

    /// The listener underneath.
    pub fn transport_listener(&self) -> &L {
        &self.transport_listener
    }
}

impl<L> AsyncResource for TlsListener<L>
where
    L: Listener,
    L::Stream: Stream,
{
    /// Closes the listener underneath; streams already accepted stay open.
    async fn aclose(&self) -> Result<()> {
        self.transport_listener.aclose().await
    }
}

impl<L> Listener for TlsListener<L>
where
    L: Listener,
    L::Stream: Stream,
{
    type Stream = TlsStream<L::Stream>;

    /// Accepts the next connection and wraps it, without doing the handshake.
    async fn accept(&self) -> Result<TlsStream<L::Stream>> {
        let transport = self.transport_listener.accept().await?;
        Ok(TlsStream::server(transport, self.config.clone())?
            .https_compatible(self.https_compatible))
    }
}

impl<L: fmt::Debug> fmt::Debug for TlsListener<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("transport_listener", &self.transport_listener)
            .field("https_compatible", &self.https_compatible)
            .finish_non_exhaustive()
    }
}
