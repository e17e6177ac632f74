//! Closing: `aclose` sends close_notify (the peer reads a clean end of stream), both
//! ways; it completes a handshake that never ran, treats a vanished peer as success,
//! always ends closed (even cancelled), and wakes a blocked receiver with
//! `ClosedResource`. https-compatible mode neither sends nor requires close_notify.

mod common;

use std::rc::Rc;
use std::time::Duration;

use common::{configs, handshake_both, memory_pair, tls_pair};
use trio_core::{
    fail_after, open_nursery, AsyncResource, CancelScope, ErrorKind, ReceiveStream, Result,
    SendStream,
};
use trio_testing::{memory_stream_pair, wait_all_tasks_blocked};

const LIMIT: Duration = Duration::from_secs(10);

#[trio_testing::test(autojump)]
async fn client_aclose_sends_close_notify_and_server_reads_clean_eof() -> Result<()> {
    let (client, server) = handshake_both_memory().await?;
    client.send_all(b"last words").await?;
    client.aclose().await?;
    let mut buf = [0u8; 64];
    let n = server.receive_some(&mut buf).await?;
    assert_eq!(&buf[..n], b"last words");
    assert_eq!(server.receive_some(&mut buf).await?, 0);
    assert_eq!(
        server.receive_some(&mut buf).await?,
        0,
        "end of stream is sticky"
    );
    server.aclose().await
}

#[trio_testing::test(autojump)]
async fn server_aclose_sends_close_notify_and_client_reads_clean_eof() -> Result<()> {
    let (client, server) = handshake_both_memory().await?;
    server.send_all(b"bye").await?;
    server.aclose().await?;
    let mut buf = [0u8; 64];
    let n = client.receive_some(&mut buf).await?;
    assert_eq!(&buf[..n], b"bye");
    assert_eq!(client.receive_some(&mut buf).await?, 0);
    // The client may still send: the server's transport is closed, so that breaks.
    let e = client.send_all(b"too late").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    client.aclose().await
}

#[trio_testing::test(autojump)]
async fn aclose_before_any_io_completes_the_handshake_first() -> Result<()> {
    let (client, server) = memory_pair();
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let mut buf = [0u8; 8];
            assert_eq!(
                server.receive_some(&mut buf).await?,
                0,
                "clean close_notify"
            );
            Ok(())
        });
        fail_after(LIMIT, client.aclose()).await
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn aclose_treats_a_vanished_peer_as_success() -> Result<()> {
    // Before the handshake: the peer is gone, the handshake cannot even start.
    let (client, server) = memory_pair();
    drop(server);
    fail_after(LIMIT, client.aclose()).await?;
    // After the handshake.
    let (client, server) = handshake_both_memory().await?;
    drop(server);
    fail_after(LIMIT, client.aclose()).await?;
    let e = client.send_all(b"x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ClosedResource);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn aclose_wakes_a_blocked_receiver_with_closed_resource() -> Result<()> {
    let (client, _server) = handshake_both_memory().await?;
    let client = Rc::new(client);
    let c = client.clone();
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let mut buf = [0u8; 8];
            let e = c.receive_some(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource, "{e:?}");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        client.aclose().await
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn cancelled_aclose_still_ends_closed_and_wakes_a_blocked_sender() -> Result<()> {
    let (c, s) = configs();
    let (client, server) = tls_pair(trio_testing::lockstep_stream_pair(), c, s);
    let (client, _server) = handshake_both(client, server).await?;
    let client = Rc::new(client);
    let c = client.clone();
    let closer = client.clone();
    open_nursery(|nursery| async move {
        let client = closer;
        nursery.start_soon(async move {
            // Blocks: nobody reads the lockstep transport.
            let e = c.send_all(b"stuck").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource, "{e:?}");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        let scope = CancelScope::new();
        scope.handle().cancel();
        let r = scope.run(client.aclose()).await?;
        assert!(r.is_none(), "the cancelled aclose reports the cancellation");
        Ok(())
    })
    .await?;
    // Once the sender is gone, every operation says closed.
    let e = client.send_all(b"x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ClosedResource);
    client.aclose().await
}

#[trio_testing::test(autojump)]
async fn aclose_does_not_wait_for_a_sender_blocked_on_a_slow_peer() -> Result<()> {
    let (c, s) = configs();
    let (client, server) = tls_pair(trio_testing::lockstep_stream_pair(), c, s);
    let (client, server) = handshake_both(client, server).await?;
    let client = Rc::new(client);
    let (sender, closer) = (client.clone(), client.clone());
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            // Blocks: nobody reads the lockstep transport.
            let e = sender.send_all(b"stuck").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource, "{e:?}");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        fail_after(LIMIT, closer.aclose()).await
    })
    .await?;
    // No close_notify could be sent: the peer sees the session cut short (after the
    // record the lockstep transport may still have handed over).
    let mut buf = [0u8; 8];
    let e = loop {
        match server.receive_some(&mut buf).await {
            Ok(n) => assert!(n > 0, "not a clean end of stream"),
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn aclose_does_not_wait_for_a_handshake_another_task_is_stuck_in() -> Result<()> {
    let (client, _silent_server) = memory_pair();
    let client = Rc::new(client);
    let (receiver, closer) = (client.clone(), client.clone());
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let mut buf = [0u8; 8];
            let e = receiver.receive_some(&mut buf).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ClosedResource, "{e:?}");
            Ok(())
        });
        wait_all_tasks_blocked().await?;
        fail_after(LIMIT, closer.aclose()).await
    })
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn dropping_closes_abruptly_so_the_peer_sees_a_truncation() -> Result<()> {
    let (client, server) = handshake_both_memory().await?;
    drop(client);
    let mut buf = [0u8; 8];
    let e = server.receive_some(&mut buf).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn https_compatible_sends_no_close_notify_and_accepts_a_bare_eof() -> Result<()> {
    let (c, s) = configs();
    let (client, server) = tls_pair(memory_stream_pair(), c, s);
    let client = client.https_compatible(true);
    let (client, server) = handshake_both(client, server).await?;
    // The https-compatible client closes without close_notify: a strict server sees a
    // truncation.
    client.aclose().await?;
    let mut buf = [0u8; 8];
    let e = server.receive_some(&mut buf).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource);

    let (c, s) = configs();
    let (client, server) = tls_pair(memory_stream_pair(), c, s);
    let client = client.https_compatible(true);
    let (client, server) = handshake_both(client, server).await?;
    server.send_all(b"body").await?;
    server.transport().aclose().await?; // a bare EOF, no close_notify
    let n = client.receive_some(&mut buf).await?;
    assert_eq!(&buf[..n], b"body");
    assert_eq!(
        client.receive_some(&mut buf).await?,
        0,
        "a bare EOF is a clean end"
    );
    assert_eq!(client.receive_some(&mut buf).await?, 0);
    client.aclose().await
}

#[trio_testing::test(autojump)]
async fn https_compatible_eof_before_the_handshake_is_a_clean_end() -> Result<()> {
    let (c, s) = configs();
    let (client, server) = tls_pair(memory_stream_pair(), c, s);
    let server = server.https_compatible(true);
    client.transport().aclose().await?;
    let mut buf = [0u8; 8];
    assert_eq!(server.receive_some(&mut buf).await?, 0);
    Ok(())
}

#[test]
#[should_panic(expected = "before the stream's first operation")]
fn https_compatible_after_io_is_a_named_mistake() {
    let _ = trio_core::run(|| async {
        let (c, s) = handshake_both_memory().await?;
        drop(s);
        let _ = c.https_compatible(true);
        Ok(())
    });
}

async fn handshake_both_memory() -> Result<(
    trio_tls::TlsStream<trio_testing::MemoryStream>,
    trio_tls::TlsStream<trio_testing::MemoryStream>,
)> {
    let (client, server) = memory_pair();
    handshake_both(client, server).await
}
