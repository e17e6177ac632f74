//! `UdpSocket`: send_to/recv_from, connect/send/recv, busy and closed errors.

use std::rc::Rc;

use trio_core::{open_nursery, AsyncResource, ErrorKind, Result};
use trio_net::UdpSocket;
use trio_testing::{assert_checkpoints, wait_all_tasks_blocked};

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn datagrams_go_both_ways_with_send_to_and_recv_from() -> Result<()> {
    trio_core::run(|| async {
        let a = UdpSocket::bind(loopback())?;
        let b = UdpSocket::bind(loopback())?;
        assert_eq!(
            assert_checkpoints(a.send_to(b"one", b.local_addr()?)).await?,
            3
        );
        let mut buf = [0u8; 16];
        let (n, from) = assert_checkpoints(b.recv_from(&mut buf)).await?;
        assert_eq!((&buf[..n], from), (&b"one"[..], a.local_addr()?));
        b.send_to(b"two", from).await?;
        let (n, _) = a.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"two");
        Ok(())
    })
}

#[test]
fn a_connected_socket_sends_and_receives_with_its_peer() -> Result<()> {
    trio_core::run(|| async {
        let a = UdpSocket::bind(loopback())?;
        let b = UdpSocket::bind(loopback())?;
        a.connect(b.local_addr()?)?;
        b.connect(a.local_addr()?)?;
        assert_eq!(a.peer_addr()?, b.local_addr()?);
        a.send(b"ping").await?;
        let mut buf = [0u8; 16];
        let n = b.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"ping");
        Ok(())
    })
}

#[test]
fn two_receivers_are_busy_and_closing_wakes_a_blocked_receiver() -> Result<()> {
    trio_core::run(|| async {
        let sock = Rc::new(UdpSocket::bind(loopback())?);
        let (s2, s3) = (sock.clone(), sock.clone());
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let mut buf = [0u8; 16];
                let err = s2.recv_from(&mut buf).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ClosedResource, "{err:?}");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            let mut buf = [0u8; 16];
            assert_eq!(
                s3.recv(&mut buf).await.unwrap_err().kind(),
                ErrorKind::BusyResource
            );
            s3.aclose().await?;
            Ok(())
        })
        .await?;
        assert_eq!(
            sock.send_to(b"x", loopback()).await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        Ok(())
    })
}

#[test]
fn binding_an_address_in_use_is_a_clear_error() -> Result<()> {
    trio_core::run(|| async {
        let a = UdpSocket::bind(loopback())?;
        let err = UdpSocket::bind(a.local_addr()?).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(
            err.to_string().contains("could not bind UDP socket"),
            "{err}"
        );
        Ok(())
    })
}
