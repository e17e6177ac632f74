//! Every way a peer can break a session ends promptly in `BrokenResource` carrying the
//! rustls (or I/O) error as its source; a closed stream is `ClosedResource`; two tasks on
//! one direction are `BusyResource`. Each runs under `fail_after`, so a hang fails.

mod common;

use std::rc::Rc;
use std::time::Duration;

use common::{memory_pair, name, tls_pair, NAME};
use trio_core::{
    fail_after, open_nursery, AsyncResource, Error, ErrorKind, HalfCloseableStream, ReceiveStream,
    Result, SendStream,
};
use trio_testing::{memory_stream_pair, wait_all_tasks_blocked, TestCa};
use trio_tls::rustls;
use trio_tls::TlsStream;

const LIMIT: Duration = Duration::from_secs(10);

fn assert_broken_by_rustls(e: &Error) -> &rustls::Error {
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    e.downcast_ref::<rustls::Error>()
        .unwrap_or_else(|| panic!("source should be the rustls error: {e:?}"))
}

fn assert_broken_by_eof(e: &Error) {
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    let io = e
        .io_error()
        .unwrap_or_else(|| panic!("source should be io: {e:?}"));
    assert_eq!(io.kind(), std::io::ErrorKind::UnexpectedEof);
}

/// Runs the client's handshake against a server that is dropped once the client fails;
/// returns the client's error and the server's.
async fn failed_handshake(
    client: TlsStream<trio_testing::MemoryStream>,
    server: TlsStream<trio_testing::MemoryStream>,
) -> Result<(Error, Error)> {
    let server_err = Rc::new(std::cell::RefCell::new(None));
    let slot = server_err.clone();
    let client_err = fail_after(LIMIT, async {
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                *slot.borrow_mut() = server.do_handshake().await.err();
                Ok(())
            });
            let e = client
                .do_handshake()
                .await
                .expect_err("handshake must fail");
            // The client hangs up; the server must notice promptly.
            client.aclose().await?;
            Ok(e)
        })
        .await
    })
    .await?
    .expect("not cancelled");
    let server_err = server_err.borrow_mut().take().expect("server failed too");
    Ok((client_err, server_err))
}

#[trio_testing::test(autojump)]
async fn untrusted_certificate_is_broken_resource_with_rustls_source() -> Result<()> {
    let trusting_other_ca = TestCa::new().client_config();
    let server_cfg = TestCa::new().issue_cert(&[NAME]);
    let (client, server) = tls_pair(memory_stream_pair(), trusting_other_ca, server_cfg);
    let (client_err, server_err) = failed_handshake(client, server).await?;
    match assert_broken_by_rustls(&client_err) {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {}
        other => panic!("expected UnknownIssuer, got {other:?}"),
    }
    assert_eq!(server_err.kind(), ErrorKind::BrokenResource);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn wrong_hostname_is_broken_resource_with_rustls_source() -> Result<()> {
    let ca = TestCa::new();
    let (a, b) = memory_stream_pair();
    let client = TlsStream::client(a, ca.client_config(), name("other.example"))?;
    let server = TlsStream::server(b, ca.issue_cert(&[NAME]))?;
    let (client_err, _) = failed_handshake(client, server).await?;
    match assert_broken_by_rustls(&client_err) {
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        ) => {}
        other => panic!("expected NotValidForName, got {other:?}"),
    }
    Ok(())
}

#[trio_testing::test(autojump)]
async fn garbage_instead_of_a_handshake_breaks_the_client_promptly() -> Result<()> {
    let ca = TestCa::new();
    let (a, raw) = memory_stream_pair();
    let client = TlsStream::client(a, ca.client_config(), name(NAME))?;
    raw.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await?;
    let e = fail_after(LIMIT, client.do_handshake()).await.unwrap_err();
    assert_broken_by_rustls(&e);
    // Broken stays broken.
    let again = client.send_all(b"x").await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::BrokenResource);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn garbage_instead_of_a_client_hello_breaks_the_server_promptly() -> Result<()> {
    let ca = TestCa::new();
    let (raw, b) = memory_stream_pair();
    let server = TlsStream::server(b, ca.issue_cert(&[NAME]))?;
    raw.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    let mut buf = [0u8; 16];
    let e = fail_after(LIMIT, server.receive_some(&mut buf))
        .await
        .unwrap_err();
    assert_broken_by_rustls(&e);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn garbage_after_the_handshake_is_broken_resource() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, server) = common::handshake_both(client, server).await?;
    // Bytes that look like an application-data record but were never encrypted.
    client
        .transport()
        .send_all(b"\x17\x03\x03\x00\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await?;
    let mut buf = [0u8; 16];
    let e = fail_after(LIMIT, server.receive_some(&mut buf))
        .await
        .unwrap_err();
    assert_broken_by_rustls(&e);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn transport_eof_without_close_notify_is_a_truncation() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, server) = common::handshake_both(client, server).await?;
    server.send_all(b"partial answer").await?;
    server.transport().aclose().await?; // no close_notify
    let mut buf = [0u8; 64];
    let n = client.receive_some(&mut buf).await?;
    assert_eq!(
        &buf[..n],
        b"partial answer",
        "data before the cut still arrives"
    );
    let e = fail_after(LIMIT, client.receive_some(&mut buf))
        .await
        .unwrap_err();
    assert_broken_by_eof(&e);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn transport_eof_inside_a_record_is_a_truncation() -> Result<()> {
    let (client, raw) = {
        let ca = TestCa::new();
        let (a, raw) = memory_stream_pair();
        (TlsStream::client(a, ca.client_config(), name(NAME))?, raw)
    };
    raw.send_all(b"\x16\x03\x03\x00\x40only-half").await?;
    raw.send_eof().await?; // still reading, so the ClientHello goes out
    let e = fail_after(LIMIT, client.do_handshake()).await.unwrap_err();
    assert_broken_by_eof(&e);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn eof_during_the_handshake_is_broken_resource() -> Result<()> {
    let ca = TestCa::new();
    let (a, raw) = memory_stream_pair();
    let client = TlsStream::client(a, ca.client_config(), name(NAME))?;
    drop(raw);
    let e = fail_after(LIMIT, client.do_handshake()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn a_closed_stream_gives_closed_resource() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, _server) = common::handshake_both(client, server).await?;
    client.aclose().await?;
    client.aclose().await?; // idempotent
    let mut buf = [0u8; 4];
    for e in [
        client.send_all(b"x").await.unwrap_err(),
        client.receive_some(&mut buf).await.unwrap_err(),
        client.do_handshake().await.unwrap_err(),
        client.wait_send_all_might_not_block().await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::ClosedResource, "{e:?}");
    }
    Ok(())
}

#[trio_testing::test(autojump)]
async fn two_receivers_at_once_is_busy_resource() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, server) = common::handshake_both(client, server).await?;
    let client = Rc::new(client);
    let c = client.clone();
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let mut buf = [0u8; 4];
            assert_eq!(c.receive_some(&mut buf).await?, 1);
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        let mut buf = [0u8; 4];
        let e = client.receive_some(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        server.send_all(b"!").await
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn two_senders_at_once_is_busy_resource() -> Result<()> {
    let (c, s) = common::configs();
    let (client, server) = tls_pair(trio_testing::lockstep_stream_pair(), c, s);
    let (client, server) = common::handshake_both(client, server).await?;
    let client = Rc::new(client);
    let c = client.clone();
    open_nursery(|nursery| async move {
        // On a lockstep transport the send blocks until the peer reads.
        nursery.start_soon(async move { c.send_all(b"blocked").await });
        wait_all_tasks_blocked().await?;
        let e = client.send_all(b"second").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        let e = client.wait_send_all_might_not_block().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BusyResource);
        let mut buf = [0u8; 16];
        assert_eq!(server.receive_some(&mut buf).await?, 7);
        Ok(())
    })
    .await?;
    Ok(())
}
