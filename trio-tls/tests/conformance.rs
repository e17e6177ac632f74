//! `TlsStream` is a trio `Stream`: pairs pass trio-testing's conformance suites, over
//! unbounded memory streams and (clogged) over lockstep streams. Over TCP: see tcp.rs.

mod common;

use common::{configs, handshake_both, tls_pair, EitherStream};
use trio_core::Result;
use trio_testing::{check_two_way_stream, check_two_way_stream_clogged, memory_stream_pair};

#[trio_testing::test(autojump)]
async fn tls_over_memory_streams_passes_check_two_way_stream() -> Result<()> {
    check_two_way_stream(|| async {
        let (c, s) = configs();
        Ok(tls_pair(memory_stream_pair(), c, s))
    })
    .await
}

#[trio_testing::test(autojump)]
async fn tls_passes_the_clogged_checks_over_lockstep_streams() -> Result<()> {
    // As Trio's own SSLStream tests: the plain checks over memory streams, the clogged
    // ones over lockstep streams (a graceful aclose must be able to send close_notify).
    check_two_way_stream_clogged(
        || async {
            let (c, s) = configs();
            Ok(tls_pair(EitherStream::memory_pair(), c, s))
        },
        // Handshakes done up front, as in Trio's own SSLStream tests: a receive_some that
        // unclogs the peer must not need to send handshake data itself.
        || async {
            let (c, s) = configs();
            let (client, server) = tls_pair(EitherStream::lockstep_pair(), c, s);
            handshake_both(client, server).await
        },
    )
    .await
}
