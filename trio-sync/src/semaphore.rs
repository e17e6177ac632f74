//! `Semaphore`: a counter of anonymous tokens, with an optional ceiling.
//!
//! Invariant: `value > 0` implies no task waits; `release` with waiters hands the token
//! straight to the longest waiter (the value stays 0), so a releaser cannot take it back
//! ahead of the queue. A cancelled `acquire` leaves the queue holding nothing.

use std::cell::Cell;

use trio_core::lowlevel::ParkingLot;
use trio_core::{cancel_shielded_checkpoint, checkpoint_if_cancelled, Error, ErrorKind, Result};

/// Misuse: `release` would push a bounded semaphore past its `max_value`.
pub const SEMAPHORE_OVER_RELEASE: &str = "semaphore released too many times: its value \
     would exceed max_value (more releases than acquires?)";

/// A semaphore: [`acquire`](Semaphore::acquire) takes a token, waiting while the value is
/// 0; [`release`](Semaphore::release) gives one back. Tokens are not owned (any task may
/// release), as in Trio; for per-task accounting use [`CapacityLimiter`](crate::CapacityLimiter).
/// Fair: waiters are served in arrival order.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let sem = trio_sync::Semaphore::with_max_value(1, 2);
///     sem.acquire().await?;
///     assert_eq!(sem.value(), 0);
///     sem.release()?;
///     sem.release()?;
///     assert!(sem.release().is_err()); // would exceed max_value 2
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Semaphore {
    /// # Invariant
    /// `value > 0` implies `lot` is empty.
    value: Cell<usize>,
    max_value: Option<usize>,
    lot: ParkingLot,
}

/// A snapshot of a semaphore, from [`Semaphore::statistics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemaphoreStatistics {
    /// Tasks blocked in `acquire`.
    pub tasks_waiting: usize,
}

impl Semaphore {
    /// A semaphore holding `initial_value` tokens, with no ceiling.
    ///
    /// ```
    /// assert_eq!(trio_sync::Semaphore::new(3).value(), 3);
    /// ```
    pub fn new(initial_value: usize) -> Self {
        Semaphore {
            value: Cell::new(initial_value),
            max_value: None,
            lot: ParkingLot::new(),
        }
    }

    /// A semaphore holding `initial_value` tokens that may never hold more than
    /// `max_value`.
    ///
    /// # Panics
    /// If `initial_value > max_value` (naming both).
    ///
    /// ```
    /// let sem = trio_sync::Semaphore::with_max_value(0, 1);
    /// assert_eq!(sem.max_value(), Some(1));
    /// ```
    pub fn with_max_value(initial_value: usize, max_value: usize) -> Self {
        assert!(
            initial_value <= max_value,
            "Semaphore::with_max_value: initial_value {initial_value} exceeds max_value {max_value}"
        );
        Semaphore {
            value: Cell::new(initial_value),
            max_value: Some(max_value),
            lot: ParkingLot::new(),
        }
    }

    /// The tokens available now.
    ///
    /// ```
    /// assert_eq!(trio_sync::Semaphore::new(2).value(), 2);
    /// ```
    pub fn value(&self) -> usize {
        self.value.get()
    }

    /// The ceiling, if any.
    ///
    /// ```
    /// assert_eq!(trio_sync::Semaphore::new(2).max_value(), None);
    /// ```
    pub fn max_value(&self) -> Option<usize> {
        self.max_value
    }

    /// Takes a token, waiting (in arrival order) while none is available. A checkpoint;
    /// cancelled while waiting, it takes nothing.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let sem = trio_sync::Semaphore::new(1);
    ///     sem.acquire().await?;
    ///     assert_eq!(sem.value(), 0);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<()> {
        checkpoint_if_cancelled().await?;
        if self.try_acquire().is_ok() {
            cancel_shielded_checkpoint().await;
            Ok(())
        } else {
            // Ok from park means `release` handed us its token.
            self.lot.park().await
        }
    }

    /// Takes a token if one is available now, else fails with [`ErrorKind::WouldBlock`].
    /// Never blocks or yields.
    ///
    /// ```
    /// let sem = trio_sync::Semaphore::new(1);
    /// assert!(sem.try_acquire().is_ok());
    /// assert!(sem.try_acquire().is_err());
    /// ```
    pub fn try_acquire(&self) -> Result<()> {
        match self.value.get() {
            0 => Err(Error::new(
                ErrorKind::WouldBlock,
                "the semaphore's value is 0",
            )),
            v => {
                self.value.set(v - 1);
                Ok(())
            }
        }
    }

    /// Gives a token back: to the longest waiter if there is one, else to the counter.
    /// Never blocks or yields.
    ///
    /// Errors: the value would exceed `max_value` ([`SEMAPHORE_OVER_RELEASE`]).
    ///
    /// ```
    /// let sem = trio_sync::Semaphore::with_max_value(0, 1);
    /// sem.release().unwrap();
    /// assert_eq!(sem.value(), 1);
    /// assert!(sem.release().is_err());
    /// ```
    pub fn release(&self) -> Result<()> {
        let v = self.value.get();
        if self.max_value == Some(v) {
            return Err(Error::new(ErrorKind::Other, SEMAPHORE_OVER_RELEASE));
        }
        if self.lot.unpark_one().is_none() {
            self.value.set(v + 1);
        }
        Ok(())
    }

    /// How many tasks are waiting.
    ///
    /// ```
    /// assert_eq!(trio_sync::Semaphore::new(0).statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> SemaphoreStatistics {
        SemaphoreStatistics {
            tasks_waiting: self.lot.statistics().tasks_waiting,
        }
    }
}
