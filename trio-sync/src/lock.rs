//! `Lock` and `StrictFIFOLock`: fair, owned, non-reentrant mutual exclusion.
//!
//! Invariant: `owner` is `None` exactly when the lock is free, and a free lock has no
//! waiters: `release` hands ownership straight to the longest waiter (it becomes the
//! owner before it even runs), so the releasing task can never barge back in ahead of
//! the queue. A waiter that is cancelled before the hand-off leaves the queue and holds
//! nothing; one handed the lock before its cancellation took effect returns `Ok`.

use std::cell::RefCell;

use trio_core::lowlevel::{current_task, ParkingLot, Task};
use trio_core::{cancel_shielded_checkpoint, checkpoint_if_cancelled, Error, ErrorKind, Result};

/// Misuse: a task tried to acquire a lock it already holds.
pub const REACQUIRE_OWN_LOCK: &str = "attempt to re-acquire a Lock the current task already \
     holds: trio locks are not reentrant (this would deadlock)";
/// Misuse: a task tried to release a lock it does not hold.
pub const RELEASE_UNHELD_LOCK: &str = "attempt to release a Lock the current task does not \
     hold: only the task that acquired it may release it";

/// A fair mutual-exclusion lock, owned by the task that acquired it.
///
/// * Fair: when released, ownership passes straight to the task that has waited longest.
/// * Owned: [`statistics`](Lock::statistics) reports the owner; acquiring a lock you hold
///   or [`release`](Lock::release)-ing one you do not is an error naming the mistake.
/// * Released when its [`LockGuard`] drops (or explicitly with [`LockGuard::release`]).
///
/// Share it between tasks with an `Rc`.
///
/// ```
/// use std::rc::Rc;
/// use trio_sync::Lock;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let lock = Rc::new(Lock::new());
///     trio_core::open_nursery(|nursery| {
///         let lock = lock.clone();
///         async move {
///             for _ in 0..3 {
///                 let lock = lock.clone();
///                 nursery.start_soon(async move {
///                     let _guard = lock.acquire().await?;
///                     trio_core::checkpoint().await?; // nobody else is inside
///                     Ok(())
///                 });
///             }
///             Ok(())
///         }
///     })
///     .await?;
///     assert!(!lock.locked());
///     Ok(())
/// })
/// # }
/// ```
#[derive(Default)]
pub struct Lock {
    /// # Invariant
    /// `None` implies `lot` is empty.
    owner: RefCell<Option<Task>>,
    lot: ParkingLot,
}

/// Proof that the current task holds a [`Lock`]; releases it when dropped.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let lock = trio_sync::Lock::new();
///     let guard = lock.acquire().await?;
///     assert!(lock.locked());
///     guard.release();
///     assert!(!lock.locked());
///     Ok(())
/// })
/// # }
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    /// The task that acquired the lock, so a guard outliving a manual `Lock::release`
    /// does not release someone else's ownership.
    holder: Task,
}

/// A snapshot of a lock, from [`Lock::statistics`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockStatistics {
    /// Whether some task holds the lock.
    pub locked: bool,
    /// The task holding it.
    pub owner: Option<Task>,
    /// Tasks blocked in `acquire`.
    pub tasks_waiting: usize,
}

impl Lock {
    /// A new, unlocked lock.
    ///
    /// ```
    /// assert!(!trio_sync::Lock::new().locked());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until the lock is free (and every earlier waiter has had its turn), then
    /// takes it. A checkpoint. Cancelled while waiting: holds nothing and returns
    /// `Cancelled`; once the lock was handed over it returns `Ok` even if cancellation
    /// arrives right after.
    ///
    /// Errors: acquiring a lock the current task already holds ([`REACQUIRE_OWN_LOCK`]).
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::Lock::new();
    ///     let guard = lock.acquire().await?;
    ///     assert!(lock.acquire().await.is_err()); // not reentrant: an error, not a deadlock
    ///     drop(guard);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<LockGuard<'_>> {
        self.acquire_raw().await?;
        Ok(LockGuard {
            lock: self,
            holder: current_task(),
        })
    }

    /// Takes the lock if it is free and nobody is waiting for it; otherwise fails with
    /// [`ErrorKind::WouldBlock`]. Never blocks or yields.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::Lock::new();
    ///     let _guard = lock.try_acquire()?;
    ///     assert!(lock.locked());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn try_acquire(&self) -> Result<LockGuard<'_>> {
        let me = current_task();
        self.try_acquire_raw(&me)?;
        Ok(LockGuard {
            lock: self,
            holder: me,
        })
    }

    /// Releases the lock held by the current task without a guard: the counterpart of a
    /// guard given up with `std::mem::forget`. Ownership passes to the longest waiter.
    ///
    /// Errors: the current task does not hold the lock ([`RELEASE_UNHELD_LOCK`]).
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::Lock::new();
    ///     assert!(lock.release().is_err()); // not held
    ///     std::mem::forget(lock.acquire().await?); // hold it without a guard
    ///     lock.release()?;
    ///     assert!(!lock.locked());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn release(&self) -> Result<()> {
        let me = current_task();
        if self.owner.borrow().as_ref() != Some(&me) {
            return Err(Error::new(ErrorKind::Other, RELEASE_UNHELD_LOCK));
        }
        self.hand_off();
        Ok(())
    }

    /// Whether some task holds the lock.
    ///
    /// ```
    /// assert!(!trio_sync::Lock::new().locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.owner.borrow().is_some()
    }

    /// Whether, who, and how many are waiting.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::Lock::new();
    ///     let _g = lock.acquire().await?;
    ///     let s = lock.statistics();
    ///     assert!(s.locked);
    ///     assert_eq!(s.owner, Some(trio_core::lowlevel::current_task()));
    ///     assert_eq!(s.tasks_waiting, 0);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn statistics(&self) -> LockStatistics {
        LockStatistics {
            locked: self.locked(),
            owner: self.owner.borrow().clone(),
            tasks_waiting: self.lot.statistics().tasks_waiting,
        }
    }

    pub(crate) async fn acquire_raw(&self) -> Result<()> {
        checkpoint_if_cancelled().await?;
        let me = current_task();
        match self.try_acquire_raw(&me) {
            Ok(()) => {
                cancel_shielded_checkpoint().await;
                Ok(())
            }
            // Ok from park means `hand_off` already made us the owner.
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.lot.park().await,
            Err(e) => Err(e),
        }
    }

    fn try_acquire_raw(&self, me: &Task) -> Result<()> {
        let mut owner = self.owner.borrow_mut();
        match &*owner {
            None => {
                debug_assert!(self.lot.is_empty(), "a free lock has no waiters");
                *owner = Some(me.clone());
                Ok(())
            }
            Some(o) if o == me => Err(Error::new(ErrorKind::Other, REACQUIRE_OWN_LOCK)),
            Some(_) => Err(Error::new(
                ErrorKind::WouldBlock,
                "the lock is held by another task",
            )),
        }
    }

    /// Gives the lock to the longest waiter, or frees it.
    pub(crate) fn hand_off(&self) {
        let next = self.lot.unpark_one();
        *self.owner.borrow_mut() = next;
    }

    /// Whether `task` holds the lock.
    pub(crate) fn is_owned_by(&self, task: &Task) -> bool {
        self.owner.borrow().as_ref() == Some(task)
    }

    pub(crate) fn lot(&self) -> &ParkingLot {
        &self.lot
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.statistics();
        f.debug_struct("Lock")
            .field("locked", &s.locked)
            .field("owner", &s.owner)
            .field("tasks_waiting", &s.tasks_waiting)
            .finish()
    }
}

impl<'a> LockGuard<'a> {
    /// Releases the lock now (the same as dropping the guard); ownership passes to the
    /// longest waiter.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::Lock::new();
    ///     lock.acquire().await?.release();
    ///     assert!(!lock.locked());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn release(self) {
        drop(self)
    }

    /// The lock this guard holds.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::Lock::new();
    ///     let guard = lock.acquire().await?;
    ///     assert!(std::ptr::eq(guard.lock(), &lock));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // The guard is the proof of ownership, so the releasing task is not checked (the
        // guard may have been handed to another task of the same run); the owner is, in
        // case the holder already released it with `Lock::release`.
        if self.lock.is_owned_by(&self.holder) {
            self.lock.hand_off();
        }
    }
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

/// A [`Lock`] whose contract explicitly promises strict first-in, first-out order:
/// tasks acquire it in exactly the order they called `acquire`, and a releasing task
/// never barges ahead of a waiter. Use it where that order is part of correctness (for
/// example, to serialize sends on a stream so messages are not reordered).
///
/// In trio-rs [`Lock`] behaves the same way today; `StrictFIFOLock` makes the guarantee
/// part of the type, so the code stays correct if `Lock` is ever allowed to be less fair.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let lock = trio_sync::StrictFIFOLock::new();
///     let guard = lock.acquire().await?;
///     assert!(lock.locked());
///     drop(guard);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Default, Debug)]
pub struct StrictFIFOLock {
    inner: Lock,
}

impl StrictFIFOLock {
    /// A new, unlocked lock.
    ///
    /// ```
    /// assert!(!trio_sync::StrictFIFOLock::new().locked());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// As [`Lock::acquire`], in strict arrival order.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::StrictFIFOLock::new();
    ///     let _g = lock.acquire().await?;
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<LockGuard<'_>> {
        self.inner.acquire().await
    }

    /// As [`Lock::try_acquire`]: fails with `WouldBlock` if held or if anyone waits.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::StrictFIFOLock::new();
    ///     let _g = lock.try_acquire()?;
    ///     assert!(lock.try_acquire().is_err());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn try_acquire(&self) -> Result<LockGuard<'_>> {
        self.inner.try_acquire()
    }

    /// As [`Lock::release`].
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let lock = trio_sync::StrictFIFOLock::new();
    ///     assert!(lock.release().is_err());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn release(&self) -> Result<()> {
        self.inner.release()
    }

    /// As [`Lock::locked`].
    ///
    /// ```
    /// assert!(!trio_sync::StrictFIFOLock::new().locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// As [`Lock::statistics`].
    ///
    /// ```
    /// assert_eq!(trio_sync::StrictFIFOLock::new().statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> LockStatistics {
        self.inner.statistics()
    }
}
