//! `SocketCompat`, the pump-less `futures-io` adapter for sockets: echo over TCP and Unix
//! sockets with ecosystem reader/writer helpers, backpressure (a writer waits until the
//! reader drains), end of stream, reading and writing polled at once from one task,
//! closing, and cancellation (stopping polling) losing no bytes.

mod common;

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use common::echo;
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use trio_core::{
    checkpoint, current_time, move_on_after, open_nursery, sleep, Instant, ReceiveStream, Result,
    SendStream,
};
use trio_net::compat::into_trio_error;
use trio_net::socket_compat::SocketCompat;
use trio_net::SocketStream;

/// Far more than a socket buffer holds: a writer that finished before its reader started
/// would prove there is no backpressure, and a reader and writer that were not truly
/// concurrent would deadlock against an echoing peer.
const BIG: u32 = 4_000_000;

fn payload() -> Vec<u8> {
    (0..BIG).map(|i| (i % 251) as u8).collect()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn echo_over_tcp_with_ecosystem_reader_and_writer() -> Result<()> {
    trio_core::run(|| async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let client = std::net::TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        let (client, server) = (SocketStream::new(client)?, SocketStream::new(server)?);
        open_nursery(|n| async move {
            n.start_soon(echo(server));
            let mut io = SocketCompat::new(client);
            assert!(io.get_ref().peer_addr().is_ok());
            io.write_all(b"hello, world")
                .await
                .map_err(into_trio_error)?;
            let mut buf = [0u8; 12];
            io.read_exact(&mut buf).await.map_err(into_trio_error)?;
            assert_eq!(&buf, b"hello, world");
            io.close().await.map_err(into_trio_error)?;
            let mut rest = Vec::new();
            io.read_to_end(&mut rest).await.map_err(into_trio_error)?;
            assert!(rest.is_empty(), "the echo closed after our end of stream");
            Ok(())
        })
        .await
        .map(drop)
    })
}

#[test]
fn a_writer_waits_until_the_reader_drains_and_every_byte_arrives() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        let data = Rc::new(payload());
        let finished = Rc::new(std::cell::Cell::new(None::<Instant>));
        open_nursery(|n| {
            let (data, finished) = (data.clone(), finished.clone());
            async move {
                n.start_soon({
                    let (data, finished) = (data.clone(), finished.clone());
                    async move {
                        let mut w = SocketCompat::new(a);
                        w.write_all(&data).await.map_err(into_trio_error)?;
                        finished.set(Some(current_time()));
                        w.close().await.map_err(into_trio_error)?;
                        Ok(())
                    }
                });
                // The reader starts late: the writer must be blocked meanwhile.
                sleep(secs(1.0)).await?;
                assert!(finished.get().is_none(), "4 MB fit in no socket buffer");
                let mut r = SocketCompat::new(b);
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.map_err(into_trio_error)?;
                assert!(got == *data, "the bytes arrived intact and in order");
                assert!(finished.get().expect("writer done") >= Instant::ZERO + secs(1.0));
                Ok(())
            }
        })
        .await
        .map(drop)
    })
}

#[test]
fn reads_see_end_of_stream_after_the_peer_closes() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        a.send_all(b"last words").await?;
        drop(a);
        let mut r = SocketCompat::from(b);
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.map_err(into_trio_error)?;
        assert_eq!(got, b"last words");
        let mut buf = [0u8; 4];
        assert_eq!(
            r.read(&mut buf).await.map_err(into_trio_error)?,
            0,
            "EOF again"
        );
        Ok(())
    })
}

#[test]
fn read_and_write_polled_at_once_from_one_task_make_progress() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        open_nursery(|n| async move {
            n.start_soon(echo(b));
            let data = payload();
            let mut io = SocketCompat::new(a);
            let (mut sent, mut closed, mut got) = (0, false, Vec::new());
            let mut buf = vec![0u8; 32 * 1024];
            // One future, one waker, both directions registered with the reactor at once.
            std::future::poll_fn(|cx| {
                while sent < data.len() {
                    let end = data.len().min(sent + 64 * 1024);
                    match Pin::new(&mut io).poll_write(cx, &data[sent..end]) {
                        Poll::Ready(Ok(n)) => sent += n,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => break,
                    }
                }
                if sent == data.len() && !closed {
                    if let Poll::Ready(Err(e)) = Pin::new(&mut io).poll_close(cx) {
                        return Poll::Ready(Err(e));
                    }
                    closed = true;
                }
                loop {
                    match Pin::new(&mut io).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                        Poll::Ready(Ok(n)) => got.extend_from_slice(&buf[..n]),
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            })
            .await
            .map_err(into_trio_error)?;
            assert!(got == data, "the echo came back intact");
            Ok(())
        })
        .await
        .map(drop)
    })
}

#[test]
fn writing_after_close_is_broken_pipe_and_the_peer_sees_end_of_stream() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        let mut w = SocketCompat::new(a);
        w.write_all(b"done").await.map_err(into_trio_error)?;
        w.close().await.map_err(into_trio_error)?;
        w.close().await.map_err(into_trio_error)?; // idempotent
        let err = w.write_all(b"more").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let mut buf = [0u8; 16];
        assert_eq!(b.receive_some(&mut buf).await?, 4);
        assert_eq!(b.receive_some(&mut buf).await?, 0);
        Ok(())
    })
}

#[test]
fn a_dropped_pending_read_loses_nothing() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        let mut r = SocketCompat::new(b);
        let mut buf = [0u8; 8];
        let pending = futures_lite::future::poll_once(r.read(&mut buf)).await;
        assert!(pending.is_none(), "nothing was sent yet");
        a.send_all(b"after").await?;
        let n = r.read(&mut buf).await.map_err(into_trio_error)?;
        assert_eq!(&buf[..n], b"after");
        Ok(())
    })
}

#[test]
fn cancelling_a_scope_around_a_read_loop_loses_no_bytes() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        open_nursery(|n| async move {
            n.start_soon(async move {
                for chunk in [&b"one "[..], b"two ", b"three ", b"four"] {
                    a.send_all(chunk).await?;
                    sleep(secs(1.0)).await?;
                }
                Ok(())
            });
            let mut r = SocketCompat::new(b);
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            // Polling is not a checkpoint: the deadline (1.5 s) passes while a read is
            // pending; the loop sees it at its own checkpoint, after that read completed
            // (at 2 s, with "three ") and its bytes were kept.
            move_on_after(secs(1.5), async {
                loop {
                    let n = r.read(&mut buf).await.map_err(into_trio_error)?;
                    if n == 0 {
                        return Ok::<(), trio_core::Error>(());
                    }
                    got.extend_from_slice(&buf[..n]);
                    checkpoint().await?;
                }
            })
            .await?;
            assert_eq!(current_time(), Instant::ZERO + secs(2.0));
            assert_eq!(got, b"one two three ");
            r.read_to_end(&mut got).await.map_err(into_trio_error)?;
            assert_eq!(got, b"one two three four");
            Ok(())
        })
        .await
        .map(drop)
    })
}

#[test]
fn into_inner_gives_back_a_working_stream() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = SocketStream::unix_pair()?;
        let mut io = SocketCompat::new(a);
        let mut buf = [0u8; 8];
        assert!(futures_lite::future::poll_once(io.read(&mut buf))
            .await
            .is_none());
        let a = io.into_inner();
        b.send_all(b"ping").await?;
        let n = a.receive_some(&mut buf).await?;
        assert_eq!(&buf[..n], b"ping");
        Ok(())
    })
}

/// Keeps `AsyncRead`/`AsyncWrite` imports honest: the adapter is `Unpin` and both traits
/// are usable through `Pin::new`.
#[test]
fn the_adapter_is_unpin() {
    fn assert_traits<T: AsyncRead + AsyncWrite + Unpin>() {}
    assert_traits::<SocketCompat>();
}
