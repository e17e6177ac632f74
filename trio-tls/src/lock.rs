//! The fair task lock a `TlsStream` needs, built on `ParkingLot` (trio-tls depends on
//! trio-core only; it yields only when it has to wait); the conflict detector that turns
//! concurrent misuse into `BusyResource` is trio-core's.
//!
//! Invariant of [`TaskLock`]: `held` is true exactly while some task owns the lock. A
//! release with waiters hands ownership straight to the longest-waiting task (so `held`
//! stays true), which makes the lock FIFO-fair: whoever queued first sends first, and
//! TLS records leave in the order rustls produced them.

use std::cell::Cell;

use trio_core::lowlevel::ParkingLot;
use trio_core::{checkpoint_if_cancelled, Result};

/// A fair async mutex without data, for one run (not `Send`).
#[derive(Debug, Default)]
pub(crate) struct TaskLock {
    held: Cell<bool>,
    lot: ParkingLot,
}

/// Releases a [`TaskLock`] when dropped.
pub(crate) struct TaskLockGuard<'a> {
    lock: &'a TaskLock,
}

impl TaskLock {
    /// Acquires the lock. A cancel point; it yields only when it has to wait. Taking a
    /// free lock or joining the queue happens synchronously at the first poll, which keeps
    /// acquisition order equal to call order. Cancelled while waiting: holds nothing.
    pub(crate) async fn acquire(&self) -> Result<TaskLockGuard<'_>> {
        checkpoint_if_cancelled().await?;
        if self.held.get() {
            // `release` hands the lock over before unparking us, so Ok means we own it;
            // a cancelled park removed us from the queue, so Err means we own nothing.
            self.lot.park().await?;
        } else {
            self.held.set(true);
        }
        Ok(TaskLockGuard { lock: self })
    }

    /// True while some task owns the lock.
    pub(crate) fn is_held(&self) -> bool {
        self.held.get()
    }

    fn release(&self) {
        if self.lot.unpark_one().is_none() {
            self.held.set(false);
        }
    }
}

impl Drop for TaskLockGuard<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

pub(crate) use trio_core::lowlevel::ConflictDetector;
