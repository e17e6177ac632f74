//! TLS over real TCP sockets: a pair passes check_two_way_stream, and the convenience
//! constructors (`open_tls_over_tcp_stream`, `serve_tls`, `TlsListener`) work end to end.
//! Real clock: the kernel, not the mock clock, moves these bytes.

mod common;

use std::time::Duration;

use common::{configs, tls_pair};
use trio_core::{
    fail_after, open_nursery, AsyncResource, ErrorKind, Listener, ReceiveStream, Result, SendStream,
};
use trio_net::{open_tcp_listeners, open_tcp_stream, SocketStream};
use trio_testing::{check_two_way_stream, TestCa};
use trio_tls::{open_tls_over_tcp_stream, serve_tls, TlsListener, TlsStream};

const LIMIT: Duration = Duration::from_secs(20);

async fn tcp_pair() -> Result<(SocketStream, SocketStream)> {
    let listeners = open_tcp_listeners(0, Some("127.0.0.1")).await?;
    let port = listeners[0].local_addr()?.port();
    // The kernel completes the connection from its backlog before we accept.
    let client = open_tcp_stream("127.0.0.1", port).await?;
    let server = listeners[0].accept().await?;
    Ok((client, server))
}

#[trio_testing::test]
async fn tls_over_tcp_passes_check_two_way_stream() -> Result<()> {
    // Boxed: the suite's future is large, and debug builds copy the test's future
    // around on the stack when spawning it.
    let suite = Box::pin(check_two_way_stream(|| async {
        let (c, s) = configs();
        Ok(tls_pair(tcp_pair().await?, c, s))
    }));
    fail_after(Duration::from_secs(120), suite).await
}

async fn echo_once(stream: TlsStream<SocketStream>) -> Result<()> {
    let mut buf = [0u8; 1024];
    let n = stream.receive_some(&mut buf).await?;
    stream.send_all(&buf[..n]).await?;
    stream.aclose().await
}

#[trio_testing::test]
async fn serve_tls_and_open_tls_over_tcp_stream_talk() -> Result<()> {
    let ca = TestCa::new();
    let server_config = ca.issue_cert(&["127.0.0.1"]);
    fail_after(
        LIMIT,
        open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| serve_tls(echo_once, 0, Some("127.0.0.1"), server_config, status))
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let client =
                open_tls_over_tcp_stream("127.0.0.1", port, Some(ca.client_config())).await?;
            client.send_all(b"over tcp").await?;
            let mut buf = [0u8; 64];
            let n = client.receive_some(&mut buf).await?;
            assert_eq!(&buf[..n], b"over tcp");
            assert_eq!(client.receive_some(&mut buf).await?, 0, "close_notify");
            client.aclose().await?;
            nursery.cancel_scope().cancel();
            Ok(())
        }),
    )
    .await?;
    Ok(())
}

#[trio_testing::test]
async fn tls_listener_accepts_without_handshaking() -> Result<()> {
    let ca = TestCa::new();
    let tcp = open_tcp_listeners(0, Some("127.0.0.1")).await?.remove(0);
    let port = tcp.local_addr()?.port();
    let listener = TlsListener::new(tcp, ca.issue_cert(&["127.0.0.1"]));
    // A client that connects but never speaks TLS: accept still returns at once.
    let silent = open_tcp_stream("127.0.0.1", port).await?;
    let server = fail_after(LIMIT, listener.accept()).await?;
    assert!(!server.is_handshake_done());
    drop(silent);
    let e = fail_after(LIMIT, server.do_handshake()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    listener.aclose().await
}

#[trio_testing::test]
async fn default_config_rejects_a_certificate_from_an_unknown_ca() -> Result<()> {
    // The default config trusts the public web roots only, not a test CA.
    let ca = TestCa::new();
    let server_config = ca.issue_cert(&["127.0.0.1"]);
    fail_after(
        LIMIT,
        open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| {
                    serve_tls(
                        |s: TlsStream<SocketStream>| async move {
                            let _ = s.do_handshake().await;
                            Ok(())
                        },
                        0,
                        Some("127.0.0.1"),
                        server_config,
                        status,
                    )
                })
                .await?;
            let port = listeners[0].transport_listener().local_addr()?.port();
            let client = open_tls_over_tcp_stream("127.0.0.1", port, None).await?;
            let e = client.do_handshake().await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BrokenResource);
            assert!(
                e.downcast_ref::<trio_tls::rustls::Error>().is_some(),
                "{e:?}"
            );
            nursery.cancel_scope().cancel();
            Ok(())
        }),
    )
    .await?;
    Ok(())
}

#[trio_testing::test]
async fn an_invalid_host_name_is_a_clear_error() -> Result<()> {
    let e = open_tls_over_tcp_stream("not a hostname!", 443, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a valid TLS server name"), "{e}");
    Ok(())
}
