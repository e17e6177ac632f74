//! A short TCP read lets the next `receive_some` skip its `recv` and wait first (one
//! syscall fewer per message). These tests guard what must not break with it: data or an
//! end of stream that arrives after the short read is never missed, whether the reactor
//! noticed it while nobody waited, or while the skipping receive waits.
//!
//! Every receive that must return runs under `fail_after` on the autojumping mock clock,
//! so a missed wake-up fails the test at once instead of hanging it.

mod common;

use std::rc::Rc;
use std::time::Duration;

use common::tcp_pair;
use trio_core::{
    checkpoint, fail_after, open_nursery, sleep, AsyncResource, CancelScope, ReceiveStream, Result,
    SendStream,
};
use trio_net::SocketStream;
use trio_testing::{run_autojump, wait_all_tasks_blocked};

const PATIENCE: Duration = Duration::from_secs(10);

/// Receives once into a buffer larger than anything sent here (so every read is short).
async fn receive(s: &SocketStream) -> Result<Vec<u8>> {
    let mut buf = [0u8; 256];
    let n = fail_after(PATIENCE, s.receive_some(&mut buf)).await?;
    Ok(buf[..n].to_vec())
}

/// `b` has waited once (so the reactor knows its fd) and made a short read of "first".
async fn after_a_short_read(a: &Rc<SocketStream>, b: &SocketStream) -> Result<()> {
    let a = a.clone();
    open_nursery(|n| async move {
        n.start_soon(async move {
            wait_all_tasks_blocked().await?;
            a.send_all(b"first").await
        });
        assert_eq!(receive(b).await?, b"first");
        Ok(())
    })
    .await
    .map(drop)
}

/// Runs `body` while another task waits on an unrelated socket, so every loop turn asks
/// the OS for I/O events (and the reactor sees `b`'s even while nobody waits on `b`).
async fn with_another_io_waiter(body: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    let (c, d) = tcp_pair().await?;
    let idle = CancelScope::new();
    let stop = idle.handle();
    open_nursery(|n| async move {
        n.start_soon(async move {
            let mut buf = [0u8; 8];
            idle.run(d.receive_some(&mut buf)).await.map(drop)
        });
        body.await?;
        stop.cancel();
        Ok(())
    })
    .await?;
    drop(c);
    Ok(())
}

#[test]
fn data_that_arrives_after_a_short_read_while_nobody_waits_is_received() -> Result<()> {
    run_autojump(|| async {
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        after_a_short_read(&a, &b).await?;
        with_another_io_waiter(async {
            a.send_all(b"second").await?;
            // Loop turns with an I/O waiter: the reactor takes `b`'s readiness report
            // now, while `b` has no receiver. Skipping the recv after that would hang.
            for _ in 0..3 {
                checkpoint().await?;
            }
            assert_eq!(receive(&b).await?, b"second");
            Ok(())
        })
        .await
    })
}

#[test]
fn a_receive_that_skipped_its_recv_wakes_when_data_arrives_later() -> Result<()> {
    run_autojump(|| async {
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        after_a_short_read(&a, &b).await?;
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(Duration::from_secs(1)).await?;
                a.send_all(b"late").await
            });
            // Nothing arrived since the short read: this receive waits first.
            assert_eq!(receive(&b).await?, b"late");
            Ok(())
        })
        .await
        .map(drop)
    })
}

#[test]
fn end_of_stream_after_a_short_read_is_seen_whether_or_not_someone_waits() -> Result<()> {
    run_autojump(|| async {
        // The peer closes while nobody receives.
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        after_a_short_read(&a, &b).await?;
        with_another_io_waiter(async {
            a.aclose().await?;
            checkpoint().await?;
            checkpoint().await?;
            assert_eq!(receive(&b).await?, b"");
            Ok(())
        })
        .await?;

        // The peer closes while the skipping receive waits.
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        after_a_short_read(&a, &b).await?;
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(Duration::from_secs(1)).await?;
                a.aclose().await
            });
            assert_eq!(receive(&b).await?, b"");
            Ok(())
        })
        .await
        .map(drop)
    })
}

#[test]
fn a_full_read_does_not_skip_and_every_byte_arrives_in_order() -> Result<()> {
    run_autojump(|| async {
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        after_a_short_read(&a, &b).await?;
        // 600 bytes into 256-byte reads: full, full, short. Nothing may be skipped or lost.
        let data: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
        a.send_all(&data).await?;
        let mut got = Vec::new();
        while got.len() < data.len() {
            got.extend(receive(&b).await?);
        }
        assert_eq!(got, data);
        Ok(())
    })
}

#[test]
fn the_poll_based_adapter_also_gets_data_that_arrived_after_a_short_read() -> Result<()> {
    use futures_io::AsyncRead;
    use futures_lite::AsyncReadExt;
    use std::task::Poll;
    use trio_net::compat::into_trio_error;
    use trio_net::socket_compat::SocketCompat;

    run_autojump(|| async {
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        let b = SocketCompat::new(b);
        // A first read that waits (so the reactor knows the fd), then is short.
        let mut b = open_nursery(|n| {
            let a = a.clone();
            async move {
                n.start_soon(async move {
                    wait_all_tasks_blocked().await?;
                    a.send_all(b"first").await
                });
                let mut b = b;
                let mut buf = [0u8; 256];
                let got = fail_after(PATIENCE, async {
                    b.read(&mut buf).await.map_err(into_trio_error)
                })
                .await?;
                assert_eq!(&buf[..got], b"first");
                Ok(b)
            }
        })
        .await?
        .expect("the nursery's body finished");
        let mut buf = [0u8; 256];
        with_another_io_waiter(async {
            a.send_all(b"second").await?;
            for _ in 0..3 {
                checkpoint().await?;
            }
            // The bytes are in the socket and the reactor has reported them: the very
            // first poll must read them. (Asserted on one poll rather than under
            // `fail_after`: a futures-io read is not a trio checkpoint, so a wrongly
            // pending read would hang instead of being cancelled.)
            let first_poll = std::future::poll_fn(|cx| {
                Poll::Ready(std::pin::Pin::new(&mut b).poll_read(cx, &mut buf))
            })
            .await;
            match first_poll {
                Poll::Ready(Ok(n)) => assert_eq!(&buf[..n], b"second"),
                Poll::Ready(Err(e)) => return Err(into_trio_error(e)),
                Poll::Pending => panic!("the adapter skipped a read although data had arrived"),
            }
            Ok(())
        })
        .await
    })
}

#[test]
fn a_short_read_that_stops_right_before_an_end_of_stream_does_not_hide_it() -> Result<()> {
    run_autojump(|| async {
        let (a, b) = tcp_pair().await?;
        // Data and the end of stream reach `b` together, before the reactor looks: one
        // readiness report covers both, and the short read leaves only the end of stream,
        // for which no new edge will ever come.
        open_nursery(|n| async move {
            n.start_soon(async move {
                wait_all_tasks_blocked().await?;
                // Both in one step (no checkpoint between them, as `send_all` would make).
                a.with_socket(|s| {
                    assert_eq!(s.send(b"last words")?, 10);
                    s.shutdown(std::net::Shutdown::Write)
                })?;
                checkpoint().await
            });
            assert_eq!(receive(&b).await?, b"last words");
            assert_eq!(receive(&b).await?, b"");
            Ok(())
        })
        .await
        .map(drop)
    })
}
