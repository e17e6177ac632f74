//! Helpers shared by trio-net's integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use trio_core::{Listener, Result, Stream};
use trio_net::{open_tcp_listeners, open_tcp_stream, SocketStream};

/// A connected TCP pair on loopback: (client, server side).
pub async fn tcp_pair() -> Result<(SocketStream, SocketStream)> {
    let listeners = open_tcp_listeners(0, Some("127.0.0.1")).await?;
    let port = listeners[0].local_addr()?.port();
    // A loopback connect completes in the kernel before accept, so no nursery is needed.
    let client = open_tcp_stream("127.0.0.1", port).await?;
    let server = listeners[0].accept().await?;
    Ok((client, server))
}

/// How many file descriptors this process holds.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable")
        .count()
}

/// Echoes everything back with plain trio calls, then closes on end of stream.
pub async fn echo<S: Stream>(peer: S) -> Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = peer.receive_some(&mut buf).await?;
        if n == 0 {
            return peer.aclose().await;
        }
        peer.send_all(&buf[..n]).await?;
    }
}
