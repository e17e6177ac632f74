//! Lockstep streams: in-memory streams with no buffer at all (Trio's
//! `lockstep_stream_one_way_pair`), so every `send_all` waits until the receiver has
//! taken all of it. They exercise the "send blocks" paths that unbounded memory streams
//! never hit.
//!
//! One shared state per direction; every change of it wakes all waiters, which re-check
//! their condition (a parking lot used as a condition variable). Invariants: data is
//! only present while a `send_all` is in progress; after either side closes, every wait
//! ends.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use trio_core::lowlevel::ParkingLot;
use trio_core::{
    checkpoint, AsyncResource, Error, ErrorKind, ReceiveStream, Result, SendStream, StapledStream,
};

use crate::conflict::ConflictDetector;

struct Lockstep {
    data: RefCell<VecDeque<u8>>,
    sender_closed: Cell<bool>,
    receiver_closed: Cell<bool>,
    receiver_waiting: Cell<bool>,
    waiters: ParkingLot,
    send_conflict: ConflictDetector,
    receive_conflict: ConflictDetector,
}

fn closed() -> Error {
    Error::new(ErrorKind::ClosedResource, "this stream was closed")
}

fn broken() -> Error {
    Error::new(
        ErrorKind::BrokenResource,
        "the receiving end of the lockstep stream was closed",
    )
}

impl Lockstep {
    fn something_happened(&self) {
        self.waiters.unpark_all();
    }

    /// Waits until `done()` or either side closes; then a checkpoint (so the call is a
    /// checkpoint even when it did not block).
    async fn wait_for(&self, done: impl Fn() -> bool) -> Result<()> {
        while !done() && !self.sender_closed.get() && !self.receiver_closed.get() {
            self.waiters.park().await?;
        }
        checkpoint().await
    }

    fn close_sender(&self) {
        self.sender_closed.set(true);
        self.something_happened();
    }

    fn close_receiver(&self) {
        self.receiver_closed.set(true);
        self.something_happened();
    }

    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.send_conflict.enter()?;
        if self.sender_closed.get() {
            return Err(closed());
        }
        if self.receiver_closed.get() {
            return Err(broken());
        }
        debug_assert!(self.data.borrow().is_empty());
        self.data.borrow_mut().extend(data);
        self.something_happened();
        // If cancelled here, what the receiver already took was sent; the stream is then
        // in an unknown state, as the trait allows.
        let waited = self.wait_for(|| self.data.borrow().is_empty()).await;
        if waited.is_err() {
            self.data.borrow_mut().clear();
        }
        waited?;
        if self.sender_closed.get() {
            return Err(closed());
        }
        if !self.data.borrow().is_empty() && self.receiver_closed.get() {
            self.data.borrow_mut().clear();
            return Err(broken());
        }
        Ok(())
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.send_conflict.enter()?;
        if self.sender_closed.get() {
            return Err(closed());
        }
        if self.receiver_closed.get() {
            return checkpoint().await;
        }
        self.wait_for(|| self.receiver_waiting.get()).await?;
        if self.sender_closed.get() {
            return Err(closed());
        }
        Ok(())
    }

    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        let _busy = self.receive_conflict.enter()?;
        if buf.is_empty() {
            return Err(Error::new(
                ErrorKind::Other,
                "receive_some needs a non-empty buffer (it returns 0 only at end of stream)",
            ));
        }
        if self.receiver_closed.get() {
            return Err(closed());
        }
        self.receiver_waiting.set(true);
        self.something_happened();
        let waited = self.wait_for(|| !self.data.borrow().is_empty()).await;
        self.receiver_waiting.set(false);
        waited?;
        if self.receiver_closed.get() {
            return Err(closed());
        }
        let mut data = self.data.borrow_mut();
        if data.is_empty() {
            debug_assert!(self.sender_closed.get());
            return Ok(0);
        }
        let n = buf.len().min(data.len());
        for (slot, byte) in buf.iter_mut().zip(data.drain(..n)) {
            *slot = byte;
        }
        drop(data);
        self.something_happened();
        Ok(n)
    }
}

/// The sending half of a lockstep stream: `send_all` returns only once the receiver has
/// taken every byte.
pub struct LockstepSendStream {
    shared: Rc<Lockstep>,
}

/// The receiving half of a lockstep stream.
pub struct LockstepReceiveStream {
    shared: Rc<Lockstep>,
}

impl LockstepSendStream {
    /// Closes at once (`aclose` without the checkpoint): later sends fail with
    /// `ClosedResource`, the receiver reads end of stream.
    pub fn close(&self) {
        self.shared.close_sender();
    }
}

impl LockstepReceiveStream {
    /// Closes at once: a blocked `send_all` fails with `BrokenResource`, as do later
    /// ones.
    pub fn close(&self) {
        self.shared.close_receiver();
    }
}

impl Drop for LockstepSendStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl Drop for LockstepReceiveStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for LockstepSendStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockstepSendStream")
            .field("closed", &self.shared.sender_closed.get())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LockstepReceiveStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockstepReceiveStream")
            .field("closed", &self.shared.receiver_closed.get())
            .finish_non_exhaustive()
    }
}

impl AsyncResource for LockstepSendStream {
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl SendStream for LockstepSendStream {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        self.shared.send_all(data).await
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        self.shared.wait_send_all_might_not_block().await
    }
}

impl AsyncResource for LockstepReceiveStream {
    async fn aclose(&self) -> Result<()> {
        self.close();
        checkpoint().await
    }
}

impl ReceiveStream for LockstepReceiveStream {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        self.shared.receive_some(buf).await
    }
}

/// A connected one-way pair with no buffering: each `send_all` blocks until the
/// receiver took all of it, and `wait_send_all_might_not_block` until a receiver waits.
///
/// ```
/// use trio_core::{open_nursery, ReceiveStream, SendStream};
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let (s, r) = trio_testing::lockstep_stream_one_way_pair();
///     open_nursery(|n| async move {
///         n.start_soon(async move { s.send_all(b"abcd").await }); // waits for the reader
///         let mut buf = [0; 2];
///         assert_eq!(r.receive_some(&mut buf).await?, 2);
///         assert_eq!(r.receive_some(&mut buf).await?, 2);
///         Ok(())
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
pub fn lockstep_stream_one_way_pair() -> (LockstepSendStream, LockstepReceiveStream) {
    let shared = Rc::new(Lockstep {
        data: RefCell::new(VecDeque::new()),
        sender_closed: Cell::new(false),
        receiver_closed: Cell::new(false),
        receiver_waiting: Cell::new(false),
        waiters: ParkingLot::new(),
        send_conflict: ConflictDetector::new("another task is already sending"),
        receive_conflict: ConflictDetector::new("another task is already receiving"),
    });
    (
        LockstepSendStream {
            shared: shared.clone(),
        },
        LockstepReceiveStream { shared },
    )
}

/// Two lockstep streams joined both ways.
pub type LockstepStream = StapledStream<LockstepSendStream, LockstepReceiveStream>;

/// Two connected bidirectional streams with no buffering (see
/// [`lockstep_stream_one_way_pair`]).
pub fn lockstep_stream_pair() -> (LockstepStream, LockstepStream) {
    let (s1, r1) = lockstep_stream_one_way_pair();
    let (s2, r2) = lockstep_stream_one_way_pair();
    (StapledStream::new(s1, r2), StapledStream::new(s2, r1))
}
