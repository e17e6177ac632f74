//! An HTTPS GET with `open_tls_over_tcp_stream`.
//!
//! With no argument it is self-contained: it starts a tiny HTTPS server on 127.0.0.1 with
//! a certificate from a throwaway CA (`trio_testing::TestCa`) and fetches a page from it.
//! With a host name it fetches `https://HOST/` using the default config (the public
//! web roots of `webpki-roots`).
//!
//! ```sh
//! cargo run --example https_get
//! cargo run --example https_get -- example.com
//! ```

use std::sync::Arc;

use trio_core::{open_nursery, AsyncResource, ReceiveStream, Result, SendStream};
use trio_net::SocketStream;
use trio_testing::TestCa;
use trio_tls::rustls::ClientConfig;
use trio_tls::{open_tls_over_tcp_stream, serve_tls, TlsStream};

/// A one-page HTTP/1.1 server: reads the request head, answers, closes gracefully.
async fn serve_page(stream: TlsStream<SocketStream>) -> Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = "hello from a trio-rs HTTPS server\n";
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.send_all(response.as_bytes()).await?;
    stream.aclose().await
}

/// GETs `/` from `host:port` and returns the whole response.
async fn https_get(host: &str, port: u16, config: Option<Arc<ClientConfig>>) -> Result<String> {
    // https_compatible: many web servers close without close_notify after the body.
    let stream = open_tls_over_tcp_stream(host, port, config)
        .await?
        .https_compatible(true);
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.send_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    println!(
        "connected with {:?}, server chain of {} certificate(s)",
        stream.protocol_version(),
        stream.peer_certificates().map_or(0, |c| c.len())
    );
    stream.aclose().await?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn main() -> Result<()> {
    let host = std::env::args().nth(1);
    trio_core::run(move || async move {
        if let Some(host) = host {
            let page = https_get(&host, 443, None).await?;
            println!("{}", page.lines().next().unwrap_or(""));
            return Ok(());
        }
        let ca = TestCa::new();
        let server_config = ca.issue_cert(&["127.0.0.1"]);
        open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| serve_tls(serve_page, 0, Some("127.0.0.1"), server_config, status))
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let page = https_get("127.0.0.1", port, Some(ca.client_config())).await?;
            print!("{page}");
            assert!(page.starts_with("HTTP/1.1 200 OK"));
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}
