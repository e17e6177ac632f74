//! `SocketStream`: data, half-close, busy/closed/broken errors, cancellation rules.

mod common;

use std::rc::Rc;
use std::time::Duration;

use common::tcp_pair;
use trio_core::{
    open_nursery, AsyncResource, CancelScope, ErrorKind, HalfCloseableStream, ReceiveStream,
    Result, SendStream,
};
use trio_net::SocketStream;
use trio_testing::{assert_checkpoints, wait_all_tasks_blocked};

async fn receive_exactly(s: &SocketStream, n: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while out.len() < n {
        let got = s
            .receive_some(&mut buf[..(n - out.len()).min(64 * 1024)])
            .await?;
        assert_ne!(got, 0, "unexpected end of stream");
        out.extend_from_slice(&buf[..got]);
    }
    Ok(out)
}

#[test]
fn tcp_stream_carries_data_both_ways_and_half_closes() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        a.send_all(b"hello").await?;
        assert_eq!(receive_exactly(&b, 5).await?, b"hello");
        b.send_all(b"world").await?;
        assert_eq!(receive_exactly(&a, 5).await?, b"world");
        a.send_eof().await?;
        let mut buf = [0u8; 8];
        assert_eq!(b.receive_some(&mut buf).await?, 0);
        // The other direction still works after a half-close.
        b.send_all(b"still here").await?;
        assert_eq!(receive_exactly(&a, 10).await?, b"still here");
        Ok(())
    })
}

#[test]
fn tcp_nodelay_is_on_by_default_and_addresses_match() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        assert!(a.nodelay()?);
        assert!(b.nodelay()?);
        assert_eq!(a.local_addr()?, b.peer_addr()?);
        assert_eq!(a.peer_addr()?, b.local_addr()?);
        a.set_nodelay(false)?;
        assert!(!a.nodelay()?);
        Ok(())
    })
}

#[test]
fn aclose_wakes_a_task_blocked_in_receive_some_with_closed_resource() -> Result<()> {
    trio_core::run(|| async {
        let (a, _b) = tcp_pair().await?;
        let a = Rc::new(a);
        let (a2, a3) = (a.clone(), a.clone());
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut buf = [0u8; 16];
                let err = a2.receive_some(&mut buf).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ClosedResource, "{err:?}");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            a3.aclose().await?;
            Ok(())
        })
        .await?;
        // Every later operation reports the close too; aclose is idempotent.
        let mut buf = [0u8; 16];
        assert_eq!(
            a.receive_some(&mut buf).await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        assert_eq!(
            a.send_all(b"x").await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        a.aclose().await?;
        Ok(())
    })
}

#[test]
fn two_tasks_receiving_at_once_get_busy_resource() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        let a2 = a.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut buf = [0u8; 16];
                let n = a2.receive_some(&mut buf).await?;
                assert_eq!(&buf[..n], b"x");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            let mut buf = [0u8; 16];
            let err = a.receive_some(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BusyResource, "{err:?}");
            b.send_all(b"x").await?;
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn two_tasks_sending_at_once_get_busy_resource() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        let a2 = a.clone();
        open_nursery(|nursery| async move {
            let big = vec![7u8; 8 << 20]; // more than the socket buffers hold
            nursery.start_soon(async move { a2.send_all(&big).await });
            wait_all_tasks_blocked().await?;
            assert_eq!(
                a.send_all(b"y").await.unwrap_err().kind(),
                ErrorKind::BusyResource
            );
            assert_eq!(
                a.send_eof().await.unwrap_err().kind(),
                ErrorKind::BusyResource
            );
            assert_eq!(
                a.wait_send_all_might_not_block().await.unwrap_err().kind(),
                ErrorKind::BusyResource
            );
            // Drain, so the first send_all completes.
            let got = receive_exactly(&b, 8 << 20).await?;
            assert!(got.iter().all(|&x| x == 7));
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn a_peer_reset_mid_stream_is_broken_resource() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        b.send_all(b"partial message").await?;
        let mut buf = [0u8; 7];
        a.receive_some(&mut buf).await?;
        // Unread data plus SO_LINGER 0 makes close send a RST instead of a FIN.
        a.send_all(b"unread by the peer").await?;
        b.with_socket(|s| s.set_linger(Some(Duration::ZERO)))?;
        drop(b);
        let mut buf = [0u8; 64];
        let err = loop {
            // Data that arrived before the reset may still be delivered first.
            match a.receive_some(&mut buf).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => panic!("a reset must not look like a clean end of stream"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::BrokenResource, "{err:?}");
        assert!(err.to_string().contains("broken"), "{err}");
        let io = err.io_error().expect("the OS error is the source");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
        let err = a.send_all(b"more").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenResource, "{err:?}");
        Ok(())
    })
}

#[test]
fn cancelled_receive_takes_nothing() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        let scope = CancelScope::new();
        let handle = scope.handle();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut buf = [0u8; 16];
                let r = scope.run(a.receive_some(&mut buf)).await?;
                assert!(r.is_none(), "the receive was cancelled");
                b.send_all(b"kept").await?;
                assert_eq!(receive_exactly(&a, 4).await?, b"kept");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            handle.cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn send_all_cancelled_before_sending_anything_has_no_effect() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert!(scope.run(a.send_all(b"never")).await?.is_none());
        a.send_all(b"ok").await?;
        assert_eq!(receive_exactly(&b, 2).await?, b"ok");
        Ok(())
    })
}

#[test]
fn send_all_cancelled_half_way_leaves_the_send_side_broken_and_says_so() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        let a = Rc::new(a);
        let a2 = a.clone();
        let scope = CancelScope::new();
        let handle = scope.handle();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let big = vec![1u8; 8 << 20];
                assert!(scope.run(a2.send_all(&big)).await?.is_none());
                Ok(())
            });
            wait_all_tasks_blocked().await?; // blocked after sending part of it
            handle.cancel();
            Ok(())
        })
        .await?;
        let err = a.send_all(b"next").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenResource, "{err:?}");
        assert!(err.to_string().contains("cancelled"), "{err}");
        assert_eq!(
            a.wait_send_all_might_not_block().await.unwrap_err().kind(),
            ErrorKind::BrokenResource
        );
        // Receiving still works, and so does closing.
        b.send_all(b"bye").await?;
        assert_eq!(receive_exactly(&a, 3).await?, b"bye");
        a.aclose().await?;
        Ok(())
    })
}

#[test]
fn sending_after_send_eof_is_closed_resource_and_send_eof_is_idempotent() -> Result<()> {
    trio_core::run(|| async {
        let (a, _b) = tcp_pair().await?;
        a.send_eof().await?;
        a.send_eof().await?;
        let err = a.send_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ClosedResource);
        assert!(err.to_string().contains("EOF"), "{err}");
        Ok(())
    })
}

#[test]
fn receive_some_with_an_empty_buffer_is_a_clear_error() -> Result<()> {
    trio_core::run(|| async {
        let (a, _b) = SocketStream::unix_pair()?;
        let err = a.receive_some(&mut []).await.unwrap_err();
        assert!(err.to_string().contains("non-empty buffer"), "{err}");
        Ok(())
    })
}

#[test]
fn every_stream_operation_is_a_checkpoint() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        // Each of these could complete at once; each must still checkpoint.
        assert_checkpoints(a.send_all(b"x")).await?;
        assert_checkpoints(a.send_all(b"")).await?;
        let mut buf = [0u8; 1];
        assert_checkpoints(b.receive_some(&mut buf)).await?;
        assert_checkpoints(a.wait_send_all_might_not_block()).await?;
        assert_checkpoints(a.send_eof()).await?;
        assert_checkpoints(a.aclose()).await?;
        Ok(())
    })
}

#[test]
fn dropping_a_stream_closes_it_and_the_peer_reads_end_of_stream() -> Result<()> {
    trio_core::run(|| async {
        let (a, b) = tcp_pair().await?;
        drop(a);
        let mut buf = [0u8; 4];
        assert_eq!(b.receive_some(&mut buf).await?, 0);
        Ok(())
    })
}

#[test]
fn wrapping_a_datagram_socket_as_a_stream_is_refused() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = SocketStream::new(udp).unwrap_err();
    assert!(err.to_string().contains("SOCK_STREAM"), "{err}");
}
