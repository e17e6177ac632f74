//! `unwrap`: both sides exchange close_notify, then talk plaintext over the transport;
//! bytes that arrived right behind the peer's close_notify are handed back, not lost.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::{handshake_both, memory_pair};
use trio_core::{fail_after, open_nursery, ErrorKind, ReceiveStream, Result, SendStream};
use trio_testing::{memory_stream_pair, wait_all_tasks_blocked, MemoryStream};

const LIMIT: Duration = Duration::from_secs(10);

async fn read_exactly(stream: &MemoryStream, mut have: Vec<u8>, len: usize) -> Result<Vec<u8>> {
    let mut buf = [0u8; 64];
    while have.len() < len {
        let n = stream.receive_some(&mut buf).await?;
        assert!(n > 0, "unexpected end of stream");
        have.extend_from_slice(&buf[..n]);
    }
    Ok(have)
}

#[trio_testing::test(autojump)]
async fn unwrap_on_both_sides_then_plaintext_both_ways() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, server) = handshake_both(client, server).await?;
    client.send_all(b"encrypted").await?;
    let mut buf = [0u8; 16];
    let n = server.receive_some(&mut buf).await?;
    assert_eq!(&buf[..n], b"encrypted");
    fail_after(
        LIMIT,
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let (raw, rest) = server.unwrap().await?;
                raw.send_all(b"plain from server").await?;
                let got = read_exactly(&raw, rest, 17).await?;
                assert_eq!(got, b"plain from client");
                Ok(())
            });
            let (raw, rest) = client.unwrap().await?;
            raw.send_all(b"plain from client").await?;
            let got = read_exactly(&raw, rest, 17).await?;
            assert_eq!(got, b"plain from server");
            Ok(())
        }),
    )
    .await?;
    Ok(())
}

#[trio_testing::test(autojump)]
async fn bytes_right_behind_close_notify_come_back_from_unwrap() -> Result<()> {
    // client <-> (relay_a | relay_b) <-> server; the server-to-client relay can hold
    // bytes back, so the server's close_notify and its first plaintext reach the client
    // in one transport read.
    let (c, s) = common::configs();
    let (client_t, relay_a) = memory_stream_pair();
    let (relay_b, server_t) = memory_stream_pair();
    let (client, server) = common::tls_pair((client_t, server_t), c, s);
    let (relay_a, relay_b) = (Rc::new(relay_a), Rc::new(relay_b));
    let hold = Rc::new(Cell::new(false));
    let held = Rc::new(RefCell::new(Vec::new()));
    fail_after(
        LIMIT,
        open_nursery(|nursery| async move {
            let relays = nursery.cancel_scope();
            let (a, b) = (relay_a.clone(), relay_b.clone());
            nursery.start_soon(async move { pipe(&a, &b, None).await });
            let (a, b, h) = (relay_a.clone(), relay_b.clone(), held.clone());
            let hold2 = hold.clone();
            nursery.start_soon(async move { pipe(&b, &a, Some((hold2, h))).await });
            let (client, server) = handshake_both(client, server).await?;
            hold.set(true);
            open_nursery(|inner| async move {
                inner.start_soon(async move {
                    let (raw, rest) = server.unwrap().await?;
                    assert!(rest.is_empty());
                    raw.send_all(b"STARTTLS-style plaintext").await
                });
                inner.start_soon(async move {
                    let (_raw, rest) = client.unwrap().await?;
                    assert_eq!(rest, b"STARTTLS-style plaintext");
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                let bytes = std::mem::take(&mut *held.borrow_mut());
                assert!(
                    bytes.len() > 24,
                    "close_notify and plaintext were held back"
                );
                relay_a.send_all(&bytes).await
            })
            .await?;
            relays.cancel();
            Ok(())
        }),
    )
    .await?;
    Ok(())
}

type Hold = (Rc<Cell<bool>>, Rc<RefCell<Vec<u8>>>);

/// Copies `from` to `to` until end of stream; while `hold` is set, keeps the bytes.
async fn pipe(from: &MemoryStream, to: &MemoryStream, hold: Option<Hold>) -> Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let n = from.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        match &hold {
            Some((on, held)) if on.get() => held.borrow_mut().extend_from_slice(&buf[..n]),
            _ => to.send_all(&buf[..n]).await?,
        }
    }
}

#[trio_testing::test(autojump)]
async fn unwrap_when_the_peer_hangs_up_is_broken_resource() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, server) = handshake_both(client, server).await?;
    drop(server);
    let e = fail_after(LIMIT, client.unwrap()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    Ok(())
}
