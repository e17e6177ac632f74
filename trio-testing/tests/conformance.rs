//! The conformance suites pass the memory and lockstep streams, and catch deliberately
//! broken streams.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use trio_core::{AsyncResource, ReceiveStream, Result, SendStream};
use trio_testing::{
    check_half_closeable_stream, check_one_way_stream, check_one_way_stream_clogged,
    check_two_way_stream, check_two_way_stream_clogged, lockstep_stream_one_way_pair,
    lockstep_stream_pair, memory_stream_one_way_pair, memory_stream_pair, run_autojump,
    MemoryReceiveStream, MemorySendStream,
};

#[trio_testing::test(autojump)]
async fn memory_one_way_pair_passes_check_one_way_stream() -> Result<()> {
    check_one_way_stream(|| async { Ok(memory_stream_one_way_pair()) }).await
}

#[trio_testing::test(autojump)]
async fn memory_stream_pair_passes_check_half_closeable_stream() -> Result<()> {
    check_half_closeable_stream(|| async { Ok(memory_stream_pair()) }).await
}

#[trio_testing::test(autojump)]
async fn lockstep_one_way_pair_passes_the_clogged_one_way_checks() -> Result<()> {
    let maker = || async { Ok(lockstep_stream_one_way_pair()) };
    check_one_way_stream_clogged(maker, maker).await
}

#[trio_testing::test(autojump)]
async fn lockstep_pair_passes_the_clogged_two_way_checks() -> Result<()> {
    let maker = || async { Ok(lockstep_stream_pair()) };
    check_two_way_stream_clogged(maker, maker).await
}

#[trio_testing::test(autojump)]
async fn a_maker_error_is_returned() -> Result<()> {
    let err = check_two_way_stream(|| async {
        Err::<(trio_testing::MemoryStream, trio_testing::MemoryStream), _>(trio_core::Error::msg(
            "cannot connect",
        ))
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot connect"));
    Ok(())
}

/// Runs `suite` on the mock clock and returns the panic message it must produce.
fn suite_panics<F, Fut>(suite: F) -> String
where
    F: FnOnce() -> Fut + 'static,
    Fut: std::future::Future<Output = Result<()>> + 'static,
{
    let caught = catch_unwind(AssertUnwindSafe(|| run_autojump(suite)));
    match caught {
        Ok(r) => panic!("the suite accepted a broken stream (returned {r:?})"),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

/// A one-way stream whose `send_all` drops the last byte of every non-empty send.
struct DropsLastByte(MemorySendStream);

impl AsyncResource for DropsLastByte {
    async fn aclose(&self) -> Result<()> {
        self.0.aclose().await
    }
}

impl SendStream for DropsLastByte {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        self.0.send_all(&data[..data.len().saturating_sub(1)]).await
    }
    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        self.0.wait_send_all_might_not_block().await
    }
}

#[test]
fn the_suite_catches_a_stream_that_drops_the_last_byte() {
    let msg = suite_panics(|| {
        check_one_way_stream(|| async {
            let (s, r) = memory_stream_one_way_pair();
            Ok((DropsLastByte(s), r))
        })
    });
    assert!(msg.contains("hangs"), "{msg}");
}

/// A receive stream that never reports BusyResource: a second concurrent receive just
/// waits too.
struct NeverBusy {
    inner: MemoryReceiveStream,
    /// Serializes receivers without raising (a queue instead of a conflict check).
    turn: Cell<bool>,
    lot: trio_core::lowlevel::ParkingLot,
}

impl AsyncResource for NeverBusy {
    async fn aclose(&self) -> Result<()> {
        self.lot.unpark_all();
        self.inner.aclose().await
    }
}

impl ReceiveStream for NeverBusy {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        while self.turn.replace(true) {
            self.lot.park().await?;
        }
        let r = self.inner.receive_some(buf).await;
        self.turn.set(false);
        self.lot.unpark_one();
        r
    }
}

#[test]
fn the_suite_catches_a_stream_that_never_raises_busy_resource() {
    let msg = suite_panics(|| {
        check_one_way_stream(|| async {
            let (s, r) = memory_stream_one_way_pair();
            Ok((
                s,
                NeverBusy {
                    inner: r,
                    turn: Cell::new(false),
                    lot: Default::default(),
                },
            ))
        })
    });
    assert!(msg.contains("BusyResource"), "{msg}");
}

/// A sender that hides a closed receiver: sends to a vanished peer "succeed".
struct NeverBroken(MemorySendStream);

impl AsyncResource for NeverBroken {
    async fn aclose(&self) -> Result<()> {
        self.0.aclose().await
    }
}

impl SendStream for NeverBroken {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        match self.0.send_all(data).await {
            Err(e) if e.kind() == trio_core::ErrorKind::BrokenResource => Ok(()),
            other => other,
        }
    }
    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        self.0.wait_send_all_might_not_block().await
    }
}

#[test]
fn the_suite_catches_a_sender_that_never_reports_broken_resource() {
    let msg = suite_panics(|| {
        check_one_way_stream(|| async {
            let (s, r) = memory_stream_one_way_pair();
            Ok((NeverBroken(s), r))
        })
    });
    assert!(msg.contains("expected BrokenResource"), "{msg}");
}

/// A pair whose `send_all` puts the data straight into the receiver, skipping the
/// checkpoint every trio operation must execute.
struct NoCheckpoint(Rc<MemoryReceiveStream>);
struct SharedReceive(Rc<MemoryReceiveStream>);

impl AsyncResource for NoCheckpoint {
    async fn aclose(&self) -> Result<()> {
        self.0.put_eof();
        trio_core::checkpoint().await
    }
}

impl SendStream for NoCheckpoint {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        self.0.put_data(data).map_err(|_| {
            trio_core::Error::new(trio_core::ErrorKind::BrokenResource, "receiver closed")
        })
    }
    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        trio_core::checkpoint().await
    }
}

impl AsyncResource for SharedReceive {
    async fn aclose(&self) -> Result<()> {
        self.0.aclose().await
    }
}

impl ReceiveStream for SharedReceive {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        self.0.receive_some(buf).await
    }
}

#[test]
fn the_suite_catches_a_send_all_that_does_not_checkpoint() {
    let msg = suite_panics(|| {
        check_one_way_stream(|| async {
            let r = Rc::new(MemoryReceiveStream::new());
            Ok((NoCheckpoint(r.clone()), SharedReceive(r)))
        })
    });
    assert!(msg.contains("did not checkpoint"), "{msg}");
}
