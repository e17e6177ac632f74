//! `SocketStream` pairs (TCP on loopback and Unix domain) pass trio-testing's
//! half-closeable stream conformance suite, including the clogged checks.

mod common;

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use trio_core::lowlevel::RealTime;
use trio_core::Result;
use trio_net::SocketStream;

/// Sends until the next send would block; returns how many bytes went.
fn fill(sock: &Socket) -> io::Result<usize> {
    let chunk = [b'x'; 4096];
    let mut sent = 0;
    loop {
        match sock.send(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(sent),
            Err(e) => return Err(e),
        }
    }
}

/// Fills `s`'s send path (its send buffer and the peer's receive buffer) until the next
/// send would block, so `send_all` blocks until the peer receives.
fn clog(s: &SocketStream) -> Result<()> {
    s.with_socket(|sock| {
        sock.set_send_buffer_size(4096)?;
        fill(sock).map(drop)
    })
}

/// TCP segments `sock` has sent that the peer has not acknowledged yet (TCP_INFO).
#[allow(unsafe_code)]
fn unacked_segments(sock: &Socket) -> io::Result<u32> {
    // SAFETY: `tcp_info` is plain integers, for which all-zero bytes are a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a live, writable `tcp_info` of `len` bytes; the kernel writes at
    // most `len` bytes into it and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.tcpi_unacked)
}

/// Clogs a TCP socket for good. A send can fail with `WouldBlock` while sent segments
/// are still unacknowledged; their ACK (delayed ~40 ms by the peer, later still on a
/// loaded machine) then frees send-buffer space or opens window, so a "clogged" stream
/// would turn writable with no receiver reading, and the suite saw a blocked send finish
/// on its own. So: fill, wait until every sent segment is acknowledged, fill again, until
/// a fill after the ACKs sends nothing. Then only the peer's full receive buffer holds
/// the data back, and only a receive frees it.
fn clog_tcp(s: &SocketStream) -> Result<()> {
    s.with_socket(|sock| {
        sock.set_send_buffer_size(4096)?;
        // Generous last-resort bound (a loopback ACK takes microseconds, a retransmission
        // a fraction of a second); the loop normally ends after one or two rounds.
        let give_up = RealTime::now().after(Duration::from_secs(30));
        let mut sent = fill(sock)?;
        while sent > 0 {
            while unacked_segments(sock)? > 0 {
                if RealTime::now() > give_up {
                    return Err(io::Error::other("loopback TCP data never acknowledged"));
                }
                std::thread::yield_now();
            }
            sent = fill(sock)?;
        }
        Ok(())
    })
}

/// A TCP pair on loopback whose receive buffers are small from the start: set before the
/// handshake, so neither side ever advertises a window bigger than its buffer (data the
/// peer could send but the receiver would have to drop, leaving segments unacknowledged
/// for good, as when the buffer shrinks after the handshake).
fn small_window_tcp_pair() -> Result<(SocketStream, SocketStream)> {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    listener.set_recv_buffer_size(4096)?; // inherited by the accepted socket
    listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    listener.listen(1)?;
    let client = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    client.set_recv_buffer_size(4096)?;
    // Loopback: the handshake completes inside connect, and accept finds it queued.
    client.connect(&listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    Ok((SocketStream::new(client)?, SocketStream::new(server)?))
}

async fn clogged_tcp_pair() -> Result<(SocketStream, SocketStream)> {
    let (a, b) = small_window_tcp_pair()?;
    clog_tcp(&a)?;
    clog_tcp(&b)?;
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
