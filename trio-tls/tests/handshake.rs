//! The handshake: implicit on first use or explicit, idempotent, shared by concurrent
//! callers, and the connection facts it settles (ALPN, version, certificates).

mod common;

use std::rc::Rc;
use std::sync::Arc;

use common::{handshake_both, memory_pair, tls_pair, NAME};
use trio_core::{open_nursery, ReceiveStream, Result, SendStream};
use trio_testing::{memory_stream_pair, TestCa};
use trio_tls::rustls::{self, ProtocolVersion};

#[trio_testing::test(autojump)]
async fn first_send_and_receive_do_the_handshake_implicitly() -> Result<()> {
    let (client, server) = memory_pair();
    assert!(client.protocol_version().is_none());
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let mut buf = [0u8; 16];
            let n = server.receive_some(&mut buf).await?;
            assert_eq!(&buf[..n], b"hi");
            assert!(server.is_handshake_done());
            Ok(())
        });
        client.send_all(b"hi").await?;
        assert!(client.is_handshake_done());
        assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn do_handshake_is_idempotent() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, server) = handshake_both(client, server).await?;
    client.do_handshake().await?;
    server.do_handshake().await?;
    client.do_handshake().await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn concurrent_handshake_callers_share_one_handshake() -> Result<()> {
    let (client, server) = memory_pair();
    let client = Rc::new(client);
    let server = Rc::new(server);
    open_nursery(|nursery| async move {
        for _ in 0..3 {
            let c = client.clone();
            nursery.start_soon(async move { c.do_handshake().await });
        }
        let c = client.clone();
        nursery.start_soon(async move { c.send_all(b"x").await });
        for _ in 0..3 {
            let s = server.clone();
            nursery.start_soon(async move { s.do_handshake().await });
        }
        let mut buf = [0u8; 4];
        assert_eq!(server.receive_some(&mut buf).await?, 1);
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn peer_certificates_and_alpn_are_reported_after_the_handshake() -> Result<()> {
    let ca = TestCa::new();
    let mut server_cfg = (*ca.issue_cert(&[NAME])).clone();
    server_cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut client_cfg = (*ca.client_config()).clone();
    client_cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let (client, server) = tls_pair(
        memory_stream_pair(),
        Arc::new(client_cfg),
        Arc::new(server_cfg),
    );
    assert!(client.alpn_protocol().is_none());
    let (client, server) = handshake_both(client, server).await?;
    assert_eq!(client.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(server.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
    let chain = client
        .peer_certificates()
        .expect("server presented a chain");
    assert_eq!(chain.len(), 1);
    assert!(server.peer_certificates().is_none(), "no client auth");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn tls12_handshake_and_data_flow_both_ways() -> Result<()> {
    let ca = TestCa::new();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (client, server) = tls_pair(
        memory_stream_pair(),
        Arc::new(client_cfg),
        ca.issue_cert(&[NAME]),
    );
    let (client, server) = handshake_both(client, server).await?;
    assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(server.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let mut buf = [0u8; 16];
            let n = server.receive_some(&mut buf).await?;
            server.send_all(&buf[..n]).await
        });
        client.send_all(b"twelve").await?;
        let mut buf = [0u8; 16];
        let n = client.receive_some(&mut buf).await?;
        assert_eq!(&buf[..n], b"twelve");
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn tls_inside_tls_works_by_stacking() -> Result<()> {
    let (outer_client, outer_server) = memory_pair();
    let ca = TestCa::new();
    let (client, server) = tls_pair(
        (outer_client, outer_server),
        ca.client_config(),
        ca.issue_cert(&[NAME]),
    );
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let mut buf = [0u8; 16];
            let n = server.receive_some(&mut buf).await?;
            server.send_all(&buf[..n]).await
        });
        client.send_all(b"nested").await?;
        let mut buf = [0u8; 16];
        let n = client.receive_some(&mut buf).await?;
        assert_eq!(&buf[..n], b"nested");
        assert!(
            client.transport().is_handshake_done(),
            "the outer session too"
        );
        Ok(())
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn a_second_connection_with_the_same_configs_resumes_and_works() -> Result<()> {
    // TLS 1.3 tickets leave with the server's first write; the client takes them in
    // while reading. The second handshake then resumes (a shorter message flow).
    let ca = TestCa::new();
    let (client_cfg, server_cfg) = (ca.client_config(), ca.issue_cert(&[NAME]));
    for round in 0..3u8 {
        let (client, server) =
            tls_pair(memory_stream_pair(), client_cfg.clone(), server_cfg.clone());
        let client = Rc::new(client);
        let c = client.clone();
        open_nursery(|nursery| async move {
            let client = c;
            nursery.start_soon(async move {
                let mut buf = [0u8; 4];
                let n = server.receive_some(&mut buf).await?;
                server.send_all(&buf[..n]).await?;
                trio_core::AsyncResource::aclose(&server).await
            });
            client.send_all(&[round]).await?;
            let mut buf = [0u8; 4];
            assert_eq!(client.receive_some(&mut buf).await?, 1);
            assert_eq!(buf[0], round);
            assert_eq!(client.receive_some(&mut buf).await?, 0);
            Ok(())
        })
        .await?;
        let expected = if round == 0 {
            rustls::HandshakeKind::Full
        } else {
            rustls::HandshakeKind::Resumed
        };
        assert_eq!(client.handshake_kind(), Some(expected), "round {round}");
    }
    Ok(())
}
