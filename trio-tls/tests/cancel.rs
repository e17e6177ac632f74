//! Cancellation: a blocked `receive_some` or handshake that is cancelled loses nothing
//! and can be retried; a `send_all` cancelled midway breaks the stream (as in Trio).

mod common;

use std::time::Duration;

use common::{configs, handshake_both, memory_pair, tls_pair};
use trio_core::{move_on_after, open_nursery, ErrorKind, ReceiveStream, Result, SendStream};
use trio_testing::assert_checkpoints;

#[trio_testing::test(autojump)]
async fn cancelled_receive_takes_nothing_and_the_next_receive_gets_everything() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, server) = handshake_both(client, server).await?;
    let mut buf = [0u8; 64];
    let r = move_on_after(Duration::from_secs(1), server.receive_some(&mut buf)).await?;
    assert!(r.is_none(), "nothing to receive: the receive was cancelled");
    client.send_all(b"after the timeout").await?;
    let n = server.receive_some(&mut buf).await?;
    assert_eq!(&buf[..n], b"after the timeout");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn cancelled_handshake_can_be_resumed() -> Result<()> {
    let (client, server) = memory_pair();
    // The server is not answering yet: the client's handshake blocks and is cancelled.
    let r = move_on_after(Duration::from_secs(1), client.do_handshake()).await?;
    assert!(r.is_none());
    let (client, server) = handshake_both(client, server).await?;
    client.send_all(b"ok").await?;
    let mut buf = [0u8; 8];
    assert_eq!(server.receive_some(&mut buf).await?, 2);
    Ok(())
}

#[trio_testing::test(autojump)]
async fn send_all_cancelled_midway_breaks_the_stream() -> Result<()> {
    let (c, s) = configs();
    let (client, server) = tls_pair(trio_testing::lockstep_stream_pair(), c, s);
    let (client, _server) = handshake_both(client, server).await?;
    // Nobody reads the lockstep transport, so the send blocks and is cancelled.
    let r = move_on_after(Duration::from_secs(1), client.send_all(b"lost")).await?;
    assert!(r.is_none());
    let e = client.send_all(b"x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenResource, "{e:?}");
    Ok(())
}

#[trio_testing::test(autojump)]
async fn every_operation_is_a_checkpoint_even_when_it_does_not_block() -> Result<()> {
    let (client, server) = memory_pair();
    let (client, server) = handshake_both(client, server).await?;
    assert_checkpoints(client.do_handshake()).await?;
    assert_checkpoints(client.send_all(b"")).await?;
    client.send_all(b"ab").await?;
    let mut buf = [0u8; 1];
    server.receive_some(&mut buf).await?;
    // The second byte is already decrypted: no I/O needed, still a checkpoint.
    assert_checkpoints(server.receive_some(&mut buf)).await?;
    open_nursery(|_| async { Ok(()) }).await?;
    Ok(())
}
