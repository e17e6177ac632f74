//! Pipes as trio streams: the one-way stream conformance suite, plus the pipe specifics.

use std::time::Duration;

use trio_core::{
    move_on_after, open_nursery, AsyncResource, ErrorKind, ReceiveStream, Result, SendStream,
};
use trio_os::{pipe, PipeReceiveStream, PipeSendStream};

/// A pipe whose buffer is full, so `send_all` blocks until the reader takes some.
async fn clogged_pipe() -> Result<(PipeSendStream, PipeReceiveStream)> {
    let (tx, rx) = pipe()?;
    // Virtual time: the send blocks on the full buffer, then the clock jumps.
    let r = move_on_after(Duration::from_secs(1), tx.send_all(&vec![b'x'; 1 << 22])).await?;
    assert!(r.is_none(), "4 MiB never fit in a pipe buffer");
    Ok((tx, rx))
}

#[test]
fn pipes_pass_the_one_way_stream_suite() -> Result<()> {
    trio_testing::run_autojump(|| async {
        trio_testing::check_one_way_stream_clogged(|| async { pipe() }, clogged_pipe).await
    })
}

#[test]
fn closing_wakes_a_blocked_receiver_with_closed_resource() -> Result<()> {
    trio_core::run(|| async {
        let (_tx, rx) = pipe()?;
        let rx = std::rc::Rc::new(rx);
        let rx2 = rx.clone();
        open_nursery(|n| async move {
            let r = rx2.clone();
            n.start_soon(async move {
                let err = r.receive_some(&mut [0u8; 8]).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ClosedResource);
                Ok(())
            });
            trio_testing::wait_all_tasks_blocked().await?;
            rx2.aclose().await
        })
        .await?;
        assert!(rx.as_raw_fd().is_none());
        Ok(())
    })
}

#[test]
fn sending_to_a_closed_reader_is_broken_resource() -> Result<()> {
    trio_core::run(|| async {
        let (tx, rx) = pipe()?;
        drop(rx);
        let err = tx.send_all(b"lost").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenResource);
        Ok(())
    })
}

#[test]
fn dropping_the_writer_is_end_of_stream() -> Result<()> {
    trio_core::run(|| async {
        let (tx, rx) = pipe()?;
        tx.send_all(b"last words").await?;
        drop(tx);
        let mut buf = [0u8; 32];
        assert_eq!(rx.receive_some(&mut buf).await?, 10);
        assert_eq!(rx.receive_some(&mut buf).await?, 0);
        Ok(())
    })
}
