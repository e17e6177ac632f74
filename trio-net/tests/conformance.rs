//! `SocketStream` pairs (TCP on loopback and Unix domain) pass trio-testing's
//! half-closeable stream conformance suite, including the clogged checks.

mod common;

use std::io;

use trio_core::Result;
use trio_net::SocketStream;

/// Fills `s`'s send path (its send buffer and the peer's receive buffer) until the next
/// send would block, so `send_all` blocks until the peer receives.
fn clog(s: &SocketStream) -> Result<()> {
    s.with_socket(|sock| {
        sock.set_send_buffer_size(4096)?;
        let chunk = [b'x'; 4096];
        loop {
            match sock.send(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
}

async fn clogged_tcp_pair() -> Result<(SocketStream, SocketStream)> {
    let (a, b) = common::tcp_pair().await?;
    b.with_socket(|s| s.set_recv_buffer_size(4096))?;
    clog(&a)?;
    clog(&b)?;
    Ok((a, b))
}

async fn clogged_unix_pair() -> Result<(SocketStream, SocketStream)> {
    let (a, b) = SocketStream::unix_pair()?;
    clog(&a)?;
    clog(&b)?;
    Ok((a, b))
}

// TCP runs on the real clock: on loopback a window update or ACK can take the kernel a
// few real milliseconds (delayed ACKs), and an autojumping clock would fire the suite's
// watchdog during that pause. Nothing here sleeps; the watchdog only matters on a hang.
#[test]
fn tcp_socket_stream_pairs_are_half_closeable_streams() -> Result<()> {
    trio_core::run(|| async {
        trio_testing::check_half_closeable_stream_clogged(common::tcp_pair, clogged_tcp_pair).await
    })
}

#[test]
fn unix_socket_stream_pairs_are_half_closeable_streams() -> Result<()> {
    trio_testing::run_autojump(|| async {
        trio_testing::check_half_closeable_stream_clogged(
            || async { SocketStream::unix_pair() },
            clogged_unix_pair,
        )
        .await
    })
}
