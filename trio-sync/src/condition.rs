//! `Condition`: wait for a notification while giving up a lock, and get it back.
//!
//! Invariant: a task returning from `wait` (with `Ok` *or* `Err`) holds the lock again.
//! `notify` moves waiters from the condition's queue straight onto the lock's queue
//! (ParkingLot::repark), so a notified task wakes only when the lock is handed to it;
//! a task cancelled in either queue leaves it and re-acquires the lock shielded from
//! cancellation before reporting `Cancelled`.

use std::ptr;

use trio_core::lowlevel::{current_task, ParkingLot};
use trio_core::{CancelScope, Error, ErrorKind, Result};

use crate::lock::{Lock, LockGuard};

/// Misuse: a `Condition` operation was called without holding its lock.
pub const CONDITION_LOCK_NOT_HELD: &str = "Condition::wait/notify called by a task that does \
     not hold the condition's lock: acquire it first (condition.lock().acquire())";
/// Misuse: `wait` was given the guard of some other lock.
pub const CONDITION_FOREIGN_GUARD: &str = "Condition::wait was given the guard of a different \
     Lock than the condition's own (condition.lock())";

/// A condition variable: tasks holding [`lock`](Condition::lock) call
/// [`wait`](Condition::wait) to release it and sleep until another task
/// [`notify`](Condition::notify)s; they wake holding the lock again. Waiters are
/// notified in arrival order.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use trio_sync::Condition;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let cond = Rc::new(Condition::default());
///     let ready = Rc::new(Cell::new(false));
///     trio_core::open_nursery(|nursery| {
///         let (cond, ready) = (cond.clone(), ready.clone());
///         async move {
///             let (c, r) = (cond.clone(), ready.clone());
///             nursery.start_soon(async move {
///                 let guard = c.lock().acquire().await?;
///                 while !r.get() {
///                     c.wait(&guard).await?; // lock released while asleep
///                 }
///                 Ok(())
///             });
///             trio_core::lowlevel::wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
///             let _guard = cond.lock().acquire().await?;
///             ready.set(true);
///             cond.notify_all()
///         }
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
#[derive(Default, Debug)]
pub struct Condition {
    lock: Lock,
    lot: ParkingLot,
}

/// A snapshot of a condition, from [`Condition::statistics`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConditionStatistics {
    /// Tasks blocked in `wait` and not yet notified.
    pub tasks_waiting: usize,
    /// The lock's statistics (notified tasks wait there).
    pub lock_statistics: crate::LockStatistics,
}

impl Condition {
    /// A condition around `lock` (which should be unlocked). `Condition::default()`
    /// makes its own.
    ///
    /// ```
    /// let cond = trio_sync::Condition::new(trio_sync::Lock::new());
    /// assert!(!cond.lock().locked());
    /// ```
    pub fn new(lock: Lock) -> Self {
        Condition {
            lock,
            lot: ParkingLot::new(),
        }
    }

    /// The condition's lock; hold it to `wait` or `notify`.
    ///
    /// ```
    /// assert!(!trio_sync::Condition::default().lock().locked());
    /// ```
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Releases the lock, waits for a notification, and re-acquires the lock before
    /// returning, *even when cancelled*: on return, `Ok` or `Err`, the current task holds
    /// the lock again (and `guard` is still valid). A checkpoint.
    ///
    /// Errors: `guard` belongs to another lock ([`CONDITION_FOREIGN_GUARD`]), or the
    /// current task does not hold the lock ([`CONDITION_LOCK_NOT_HELD`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let cond = trio_sync::Condition::default();
    ///     let guard = cond.lock().acquire().await?;
    ///     // Nobody notifies: the timeout cancels the wait, which still re-acquires.
    ///     let r = trio_core::move_on_after(Duration::from_millis(1), cond.wait(&guard)).await?;
    ///     assert!(r.is_none());
    ///     assert!(cond.lock().locked());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn wait(&self, guard: &LockGuard<'_>) -> Result<()> {
        if !ptr::eq(guard.lock(), &self.lock) {
            return Err(Error::new(ErrorKind::Other, CONDITION_FOREIGN_GUARD));
        }
        if !self.lock.is_owned_by(&current_task()) {
            return Err(Error::new(ErrorKind::Other, CONDITION_LOCK_NOT_HELD));
        }
        self.lock.hand_off();
        match self.lot.park().await {
            // Unparked from the lock's queue: the lock was handed to us.
            Ok(()) => Ok(()),
            Err(e) => {
                // Cancelled in either queue: take the lock back before reporting it.
                CancelScope::new()
                    .with_shield(true)
                    .run(self.lock.acquire_raw())
                    .await?;
                Err(e)
            }
        }
    }

    /// Wakes up to `n` waiters, longest-waiting first: each moves to the lock's queue and
    /// returns from `wait` when the lock is handed to it. Never blocks.
    ///
    /// Errors: the current task does not hold the lock ([`CONDITION_LOCK_NOT_HELD`]).
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let cond = trio_sync::Condition::default();
    ///     assert!(cond.notify(1).is_err()); // lock not held
    ///     let _g = cond.lock().acquire().await?;
    ///     cond.notify(1) // nobody waiting: fine
    /// })
    /// # }
    /// ```
    pub fn notify(&self, n: usize) -> Result<()> {
        self.check_held()?;
        self.lot.repark(self.lock.lot(), n);
        Ok(())
    }

    /// Wakes every waiter (see [`notify`](Condition::notify)).
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let cond = trio_sync::Condition::default();
    ///     let _g = cond.lock().acquire().await?;
    ///     cond.notify_all()
    /// })
    /// # }
    /// ```
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }

    /// Waiters, and the lock's state.
    ///
    /// ```
    /// assert_eq!(trio_sync::Condition::default().statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> ConditionStatistics {
        ConditionStatistics {
            tasks_waiting: self.lot.statistics().tasks_waiting,
            lock_statistics: self.lock.statistics(),
        }
    }

    fn check_held(&self) -> Result<()> {
        if self.lock.is_owned_by(&current_task()) {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Other, CONDITION_LOCK_NOT_HELD))
        }
    }
}
