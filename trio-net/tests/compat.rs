//! The `futures-io` adapter: ecosystem-style readers and writers over trio streams, a
//! concurrent reader and writer polled from one task (with any wakers), buffering of
//! partial reads, closing, and cancellation surfacing as a plain I/O error.

mod common;

use std::future::Future;
use std::io;
use std::pin::Pin;

use common::echo;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_util::stream::{FuturesUnordered, StreamExt};
use trio_core::{open_nursery, HalfCloseableStream, ReceiveStream, Result, SendStream};
use trio_net::compat::{into_trio_error, Compat};
use trio_net::SocketStream;
use trio_testing::{memory_stream_pair, wait_all_tasks_blocked};

/// Far more than a socket buffer holds: a reader and a writer that were not truly
/// concurrent would deadlock against the echoing peer.
const BIG: u32 = 2_000_000;

fn payload() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

/// Writes [`payload`] and reads its echo with `futures_util::future::join`: one task
/// polls the adapter's reader and writer at once.
async fn join_round_trip<S: HalfCloseableStream + 'static>(mine: S, peer: S) -> Result<()> {
    open_nursery(|nursery| async move {
        nursery.start_soon(echo(peer));
        let io = Compat::new_half_closeable(mine, &nursery);
        let (mut reader, mut writer) = futures_lite::io::split(io);
        let data = payload();
        let write = async {
            writer.write_all(&data).await?;
            writer.close().await // flush + send_eof: the peer sees end of stream
        };
        let read = async {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).await?;
            Ok::<_, io::Error>(got)
        };
        let (w, r) = futures_util::future::join(write, read).await;
        w.map_err(into_trio_error)?;
        assert!(
            r.map_err(into_trio_error)? == data,
            "the echo came back intact"
        );
        Ok(())
    })
    .await?;
    Ok(())
}

#[test]
fn one_task_reads_and_writes_concurrently_over_a_socket_stream() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        join_round_trip(a, b).await
    })
}

#[test]
fn one_task_reads_and_writes_concurrently_over_memory_streams() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = memory_stream_pair();
        join_round_trip(a, b).await
    })
}

#[test]
fn the_adapter_wakes_the_waker_it_was_given() -> Result<()> {
    // FuturesUnordered re-polls only the child whose own waker fired, so an adapter that
    // woke the task instead would stall here.
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        open_nursery(|nursery| async move {
            nursery.start_soon(echo(b));
            let io = Compat::new_half_closeable(a, &nursery);
            let (mut reader, mut writer) = futures_lite::io::split(io);
            let data = payload();
            let expected = data.clone();
            type Job<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<u8>>> + 'a>>;
            let mut jobs: FuturesUnordered<Job<'_>> = FuturesUnordered::new();
            jobs.push(Box::pin(async move {
                writer.write_all(&data).await?;
                writer.close().await?;
                Ok(Vec::new())
            }));
            jobs.push(Box::pin(async move {
                let mut got = Vec::new();
                reader.read_to_end(&mut got).await?;
                Ok(got)
            }));
            let mut echoed = Vec::new();
            while let Some(r) = jobs.next().await {
                let got = r.map_err(into_trio_error)?;
                if !got.is_empty() {
                    echoed = got;
                }
            }
            assert!(echoed == expected, "the echo came back intact");
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn bytes_beyond_a_small_read_stay_buffered_for_the_next_one() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        a.send_all(b"0123456789").await?;
        open_nursery(|nursery| async move {
            let mut reader = Compat::new(b, &nursery);
            let mut small = [0u8; 4];
            // One receive_some takes all ten bytes; the reads hand them out four at a time.
            assert_eq!(reader.read(&mut small).await.map_err(into_trio_error)?, 4);
            assert_eq!(&small, b"0123");
            assert_eq!(reader.read(&mut small).await.map_err(into_trio_error)?, 4);
            assert_eq!(&small, b"4567");
            assert_eq!(reader.read(&mut small).await.map_err(into_trio_error)?, 2);
            assert_eq!(&small[..2], b"89");
            assert!(format!("{reader:?}").contains("buffered: 0"));
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn a_dropped_pending_read_loses_nothing() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        open_nursery(|nursery| async move {
            let mut reader = Compat::new(b, &nursery);
            let mut buf = [0u8; 8];
            // A protocol future cancelled mid-read is dropped while pending.
            let pending = futures_lite::future::poll_once(reader.read(&mut buf)).await;
            assert!(pending.is_none(), "nothing was sent yet");
            a.send_all(b"after").await?;
            let n = reader.read(&mut buf).await.map_err(into_trio_error)?;
            assert_eq!(&buf[..n], b"after");
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn close_on_a_half_closeable_adapter_sends_eof_and_keeps_reading() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        open_nursery(|nursery| async move {
            let mut io = Compat::new_half_closeable(a, &nursery);
            io.write_all(b"question").await.map_err(into_trio_error)?;
            io.close().await.map_err(into_trio_error)?;
            let err = io.write_all(b"more").await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "write after close");
            // The peer reads everything, then end of stream, then answers.
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                let n = b.receive_some(&mut buf).await?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"question");
            b.send_all(b"answer").await?;
            b.send_eof().await?;
            let mut answer = Vec::new();
            io.read_to_end(&mut answer).await.map_err(into_trio_error)?;
            assert_eq!(answer, b"answer");
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn dropping_a_flushed_adapter_closes_the_stream_and_ends_the_pumps() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        open_nursery(|nursery| async move {
            let mut io = Compat::new(a, &nursery);
            io.write_all(b"bye").await.map_err(into_trio_error)?;
            io.flush().await.map_err(into_trio_error)?;
            drop(io);
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                let n = b.receive_some(&mut buf).await?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"bye", "everything sent, then a graceful close");
            Ok(())
        })
        .await?; // returns: both pumps ended
        Ok(())
    })
}

#[test]
fn cancelling_the_pumps_surfaces_as_connection_aborted_not_cancelled() -> Result<()> {
    trio_core::run(|| async {
        let (_a, b) = SocketStream::unix_pair()?;
        open_nursery(|nursery| async move {
            let mut reader = Compat::new(b, &nursery);
            wait_all_tasks_blocked().await?;
            nursery.cancel_scope().cancel();
            let mut buf = [0u8; 8];
            let err = reader.read(&mut buf).await.unwrap_err();
            // Not `Interrupted` (readers retry it forever), and not trio's `Cancelled`,
            // which belongs to the pumps' scope, not to the protocol code.
            assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
            assert!(!into_trio_error(err).is_cancelled());
            // The error is sticky.
            let again = reader.read(&mut buf).await.unwrap_err();
            assert_eq!(again.kind(), io::ErrorKind::ConnectionAborted);
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn an_adapter_dropped_before_its_pumps_ran_still_ends_them() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        open_nursery(|nursery| async move {
            drop(Compat::new(a, &nursery));
            let mut buf = [0u8; 8];
            assert_eq!(b.receive_some(&mut buf).await?, 0, "closed gracefully");
            Ok(())
        })
        .await?; // returns: the pumps did not outlive the adapter
        Ok(())
    })
}
