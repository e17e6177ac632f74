//! Convenience constructors over TCP (the only place trio-tls uses trio-net):
//! `open_tls_over_tcp_stream`, `open_tls_over_tcp_listeners` and `serve_tls`, as Trio's
//! `open_ssl_over_tcp_stream`, `open_ssl_over_tcp_listeners` and `serve_ssl_over_tcp`.

use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use trio_core::{Error, ErrorKind, Result, TaskStatus};
use trio_net::{
    open_tcp_listeners, open_tcp_stream, serve_listeners, SocketListener, SocketStream,
};

use crate::{TlsListener, TlsStream};

/// Connects to `host:port` over TCP (happy eyeballs) and wraps the connection in a client
/// [`TlsStream`] verifying the server as `host`. The handshake happens on first use.
///
/// `config`: `None` uses a shared default config trusting the Mozilla roots shipped in
/// `webpki-roots` (public certificate authorities only).
///
/// ```no_run
/// use trio_core::{ReceiveStream, SendStream};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let stream = trio_tls::open_tls_over_tcp_stream("example.com", 443, None).await?;
///     stream
///         .send_all(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
///         .await?;
///     let mut buf = [0u8; 1024];
///     let n = stream.receive_some(&mut buf).await?;
///     println!("{}", String::from_utf8_lossy(&buf[..n]));
///     Ok(())
/// })
/// # }
/// ```
pub async fn open_tls_over_tcp_stream(
    host: &str,
    port: u16,
    config: Option<Arc<ClientConfig>>,
) -> Result<TlsStream<SocketStream>> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        Error::with_source(
            ErrorKind::Other,
            format!("{host:?} is not a valid TLS server name (a DNS name or an IP address)"),
            e,
        )
    })?;
    let config = config.unwrap_or_else(default_client_config);
    let tcp = open_tcp_stream(host, port).await?;
    TlsStream::client(tcp, config, name)
}

/// The default client config: the Mozilla root certificates of `webpki-roots`, the ring
/// provider, TLS 1.2 and 1.3. Built once per process and shared.
pub fn default_client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = ClientConfig::builder_with_provider(crate::ring_provider())
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports the default TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Opens TCP listeners on `port` of `host` (as `trio_net::open_tcp_listeners`) and wraps
/// each in a [`TlsListener`] using `config`.
pub async fn open_tls_over_tcp_listeners(
    port: u16,
    host: Option<&str>,
    config: Arc<ServerConfig>,
) -> Result<Vec<TlsListener<SocketListener>>> {
    let listeners = open_tcp_listeners(port, host).await?;
    Ok(listeners
        .into_iter()
        .map(|l| TlsListener::new(l, config.clone()))
        .collect())
}

/// Serves TLS over TCP on `port` (0: a free one) of `host` (`None`: every interface):
/// runs `handler` on a server [`TlsStream`] for every connection, until cancelled. Use it
/// with `nursery.start(...)`: `started()` reports the listeners.
///
/// As with `trio_net::serve_tcp`, a handler's error stops the server, and the stream is
/// dropped (closed abruptly) when the handler returns: call `aclose` in the handler for a
/// graceful `close_notify`.
///
/// ```
/// use trio_core::{open_nursery, AsyncResource, ReceiveStream, SendStream};
/// use trio_testing::TestCa;
/// use trio_tls::{open_tls_over_tcp_stream, serve_tls, TlsStream};
///
/// async fn hello(stream: TlsStream<trio_net::SocketStream>) -> trio_core::Result<()> {
///     stream.send_all(b"hello over TLS").await?;
///     stream.aclose().await
/// }
///
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let ca = TestCa::new();
///     let server_config = ca.issue_cert(&["127.0.0.1"]);
///     open_nursery(|nursery| async move {
///         let listeners = nursery
///             .start(|status| serve_tls(hello, 0, Some("127.0.0.1"), server_config, status))
///             .await?;
///         let port = listeners[0].transport_listener().local_addr()?.port();
///         let client = open_tls_over_tcp_stream("127.0.0.1", port, Some(ca.client_config())).await?;
///         let mut buf = [0u8; 64];
///         let n = client.receive_some(&mut buf).await?;
///         assert_eq!(&buf[..n], b"hello over TLS");
///         nursery.cancel_scope().cancel();
///         Ok(())
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
pub async fn serve_tls<H, Fut>(
    handler: H,
    port: u16,
    host: Option<&str>,
    config: Arc<ServerConfig>,
    task_status: TaskStatus<Vec<Rc<TlsListener<SocketListener>>>>,
) -> Result<()>
where
    H: Fn(TlsStream<SocketStream>) -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    let listeners = open_tls_over_tcp_listeners(port, host, config).await?;
    serve_listeners(handler, listeners, None, task_status).await
}
