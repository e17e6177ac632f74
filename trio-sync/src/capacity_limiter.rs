//! `CapacityLimiter`: a fixed number of tokens, each held by a known *borrower*.
//!
//! Invariants: `borrowers.len() <= total_tokens` except right after `total_tokens` was
//! lowered (holders keep what they have and no one new gets in until the count drops);
//! a borrower appears at most once among the holders and waiters together; a waiter
//! handed a token was moved into `borrowers` by the task that freed it (direct hand-off,
//! in arrival order), so a cancelled `acquire` either holds nothing or, if it was already
//! handed the token, succeeds.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use trio_core::lowlevel::{current_task, ParkingLot, Task};
use trio_core::{cancel_shielded_checkpoint, checkpoint_if_cancelled, Error, ErrorKind, Result};

/// Misuse: the borrower already holds (or waits for) a token of this limiter.
pub const BORROWER_ALREADY_HOLDS: &str = "this borrower already holds a token of this \
     CapacityLimiter (or is waiting for one): a borrower may hold at most one token";
/// Misuse: `release` by a borrower holding no token.
pub const BORROWER_HOLDS_NOTHING: &str = "this borrower holds no token of this \
     CapacityLimiter: release without a matching acquire";

/// Who holds a [`CapacityLimiter`] token: by default the current task; anything else
/// (a thread, a connection) can get a fresh identity with [`Borrower::new`].
///
/// ```
/// use trio_sync::Borrower;
/// let a = Borrower::new();
/// let b = Borrower::new();
/// assert_ne!(a, b);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Borrower(BorrowerId);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BorrowerId {
    Task(u64),
    Fresh(u64),
}

static NEXT_BORROWER: AtomicU64 = AtomicU64::new(1);

impl Borrower {
    /// A new borrower identity, distinct from every task and every other `Borrower::new`.
    ///
    /// ```
    /// assert_ne!(trio_sync::Borrower::new(), trio_sync::Borrower::new());
    /// ```
    #[allow(clippy::new_without_default)] // each call makes a distinct identity
    pub fn new() -> Self {
        Borrower(BorrowerId::Fresh(
            NEXT_BORROWER.fetch_add(1, Ordering::Relaxed),
        ))
    }

    /// The borrower identity of `task`.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let me = trio_core::lowlevel::current_task();
    ///     assert_eq!(trio_sync::Borrower::task(&me), trio_sync::Borrower::current_task());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn task(task: &Task) -> Self {
        Borrower(BorrowerId::Task(task.id()))
    }

    /// The borrower identity of the current task (the default borrower).
    ///
    /// # Panics
    /// Outside a trio task.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let _me = trio_sync::Borrower::current_task();
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn current_task() -> Self {
        Self::task(&current_task())
    }
}

impl From<&Task> for Borrower {
    fn from(task: &Task) -> Self {
        Borrower::task(task)
    }
}

/// A pool of `total_tokens` tokens, each lent to one [`Borrower`] at a time (by default
/// the current task): the tool for "at most N of these at once", such as concurrent
/// threads ([`to_thread`](crate::to_thread) uses one) or connections.
///
/// * Fair: waiters get tokens in arrival order, handed over directly.
/// * Accountable: a borrower holds at most one token; acquiring twice, or releasing
///   without holding, is an error naming the mistake.
/// * Adjustable: [`set_total_tokens`](CapacityLimiter::set_total_tokens) at run time;
///   raising it wakes waiters at once, lowering it lets current holders finish.
///
/// A `CapacityLimiter` is a cheap handle: clones share the same tokens.
///
/// ```
/// use trio_sync::CapacityLimiter;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let limiter = CapacityLimiter::new(2);
///     trio_core::open_nursery(|nursery| async move {
///         for _ in 0..5 {
///             let limiter = limiter.clone();
///             nursery.start_soon(async move {
///                 limiter.acquire().await?;
///                 assert!(limiter.borrowed_tokens() <= 2);
///                 trio_core::checkpoint().await?;
///                 limiter.release()
///             });
///         }
///         Ok(())
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct CapacityLimiter {
    inner: Rc<Inner>,
}

struct Inner {
    total: Cell<usize>,
    borrowers: RefCell<HashSet<Borrower>>,
    lot: ParkingLot,
    /// The borrower each parked task waits on behalf of, keyed by task id.
    pending: RefCell<Vec<(u64, Borrower)>>,
}

/// A snapshot of a limiter, from [`CapacityLimiter::statistics`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CapacityLimiterStatistics {
    /// Tokens lent out.
    pub borrowed_tokens: usize,
    /// The limiter's size.
    pub total_tokens: usize,
    /// Who holds the lent tokens (in no particular order).
    pub borrowers: Vec<Borrower>,
    /// Tasks blocked in `acquire*`.
    pub tasks_waiting: usize,
}

impl CapacityLimiter {
    /// A limiter with `total_tokens` tokens (0 is allowed: everyone waits until it is
    /// raised; `usize::MAX` means unlimited in practice).
    ///
    /// ```
    /// assert_eq!(trio_sync::CapacityLimiter::new(40).available_tokens(), 40);
    /// ```
    pub fn new(total_tokens: usize) -> Self {
        CapacityLimiter {
            inner: Rc::new(Inner {
                total: Cell::new(total_tokens),
                borrowers: RefCell::new(HashSet::new()),
                lot: ParkingLot::new(),
                pending: RefCell::new(Vec::new()),
            }),
        }
    }

    /// Borrows a token for the current task, waiting in arrival order while none is
    /// free. A checkpoint; cancelled while waiting, it holds nothing.
    ///
    /// Errors: the current task already holds a token ([`BORROWER_ALREADY_HOLDS`]).
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let limiter = trio_sync::CapacityLimiter::new(1);
    ///     limiter.acquire().await?;
    ///     assert!(limiter.acquire().await.is_err()); // same borrower twice
    ///     limiter.release()
    /// })
    /// # }
    /// ```
    pub async fn acquire(&self) -> Result<()> {
        self.acquire_on_behalf_of(Borrower::current_task()).await
    }

    /// Borrows a token for `borrower` (for example a thread doing work for this task).
    /// As [`acquire`](CapacityLimiter::acquire) otherwise.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let limiter = trio_sync::CapacityLimiter::new(1);
    ///     let job = trio_sync::Borrower::new();
    ///     limiter.acquire_on_behalf_of(job).await?;
    ///     assert_eq!(limiter.statistics().borrowers, vec![job]);
    ///     limiter.release_on_behalf_of(job)
    /// })
    /// # }
    /// ```
    pub async fn acquire_on_behalf_of(&self, borrower: Borrower) -> Result<()> {
        checkpoint_if_cancelled().await?;
        match self.try_acquire_on_behalf_of(borrower) {
            Ok(()) => {
                cancel_shielded_checkpoint().await;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let me = current_task().id();
                self.inner.pending.borrow_mut().push((me, borrower));
                // Removes the pending entry if the wait ends without a hand-off
                // (cancelled, or the future dropped); a hand-off already removed it.
                let _pending = PendingGuard {
                    inner: &self.inner,
                    task_id: me,
                };
                self.inner.lot.park().await
            }
            Err(e) => Err(e),
        }
    }

    /// Borrows a token for the current task if one is free and nobody is waiting; else
    /// fails with [`ErrorKind::WouldBlock`]. Never blocks or yields.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let limiter = trio_sync::CapacityLimiter::new(0);
    ///     assert_eq!(limiter.try_acquire().unwrap_err().kind(), trio_core::ErrorKind::WouldBlock);
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn try_acquire(&self) -> Result<()> {
        self.try_acquire_on_behalf_of(Borrower::current_task())
    }

    /// As [`try_acquire`](CapacityLimiter::try_acquire), for `borrower`.
    ///
    /// ```
    /// let limiter = trio_sync::CapacityLimiter::new(1);
    /// let b = trio_sync::Borrower::new();
    /// limiter.try_acquire_on_behalf_of(b).unwrap();
    /// assert!(limiter.try_acquire_on_behalf_of(b).is_err());
    /// ```
    pub fn try_acquire_on_behalf_of(&self, borrower: Borrower) -> Result<()> {
        let inner = &self.inner;
        if inner.borrowers.borrow().contains(&borrower)
            || inner.pending.borrow().iter().any(|(_, b)| *b == borrower)
        {
            return Err(Error::new(ErrorKind::Other, BORROWER_ALREADY_HOLDS));
        }
        if !inner.lot.is_empty() || inner.borrowers.borrow().len() >= inner.total.get() {
            return Err(Error::new(
                ErrorKind::WouldBlock,
                "no CapacityLimiter token is free (or others are waiting first)",
            ));
        }
        inner.borrowers.borrow_mut().insert(borrower);
        Ok(())
    }

    /// Gives back the current task's token; it goes to the longest waiter. Never blocks.
    ///
    /// Errors: the current task holds no token ([`BORROWER_HOLDS_NOTHING`]).
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let limiter = trio_sync::CapacityLimiter::new(1);
    ///     assert!(limiter.release().is_err());
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn release(&self) -> Result<()> {
        self.release_on_behalf_of(Borrower::current_task())
    }

    /// Gives back `borrower`'s token. Never blocks; may be called from any task.
    ///
    /// ```
    /// let limiter = trio_sync::CapacityLimiter::new(1);
    /// let b = trio_sync::Borrower::new();
    /// limiter.try_acquire_on_behalf_of(b).unwrap();
    /// limiter.release_on_behalf_of(b).unwrap();
    /// assert_eq!(limiter.borrowed_tokens(), 0);
    /// ```
    pub fn release_on_behalf_of(&self, borrower: Borrower) -> Result<()> {
        if !self.inner.borrowers.borrow_mut().remove(&borrower) {
            return Err(Error::new(ErrorKind::Other, BORROWER_HOLDS_NOTHING));
        }
        self.inner.wake_waiters();
        Ok(())
    }

    /// The limiter's size.
    ///
    /// ```
    /// assert_eq!(trio_sync::CapacityLimiter::new(3).total_tokens(), 3);
    /// ```
    pub fn total_tokens(&self) -> usize {
        self.inner.total.get()
    }

    /// Resizes the limiter. Raising it hands tokens to waiters at once (in arrival
    /// order); lowering it below the tokens lent out takes nothing back, but no one new
    /// gets a token until enough are released.
    ///
    /// ```
    /// let limiter = trio_sync::CapacityLimiter::new(1);
    /// limiter.set_total_tokens(4);
    /// assert_eq!(limiter.available_tokens(), 4);
    /// ```
    pub fn set_total_tokens(&self, total_tokens: usize) {
        self.inner.total.set(total_tokens);
        self.inner.wake_waiters();
    }

    /// Tokens lent out now.
    ///
    /// ```
    /// assert_eq!(trio_sync::CapacityLimiter::new(3).borrowed_tokens(), 0);
    /// ```
    pub fn borrowed_tokens(&self) -> usize {
        self.inner.borrowers.borrow().len()
    }

    /// Tokens free now (0 if the limiter was shrunk below what is lent out).
    ///
    /// ```
    /// assert_eq!(trio_sync::CapacityLimiter::new(3).available_tokens(), 3);
    /// ```
    pub fn available_tokens(&self) -> usize {
        self.total_tokens().saturating_sub(self.borrowed_tokens())
    }

    /// Sizes, holders and waiters.
    ///
    /// ```
    /// let s = trio_sync::CapacityLimiter::new(3).statistics();
    /// assert_eq!((s.borrowed_tokens, s.total_tokens, s.tasks_waiting), (0, 3, 0));
    /// ```
    pub fn statistics(&self) -> CapacityLimiterStatistics {
        CapacityLimiterStatistics {
            borrowed_tokens: self.borrowed_tokens(),
            total_tokens: self.total_tokens(),
            borrowers: self.inner.borrowers.borrow().iter().copied().collect(),
            tasks_waiting: self.inner.lot.statistics().tasks_waiting,
        }
    }
}

impl Inner {
    /// Hands free tokens to waiters, longest-waiting first.
    fn wake_waiters(&self) {
        while self.borrowers.borrow().len() < self.total.get() {
            let Some(task) = self.lot.unpark_one() else {
                break;
            };
            let mut pending = self.pending.borrow_mut();
            let i = pending
                .iter()
                .position(|(id, _)| *id == task.id())
                .expect("every parked limiter waiter has a pending borrower");
            let (_, borrower) = pending.swap_remove(i);
            self.borrowers.borrow_mut().insert(borrower);
        }
    }
}

struct PendingGuard<'a> {
    inner: &'a Inner,
    task_id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut pending = self.inner.pending.borrow_mut();
        if let Some(i) = pending.iter().position(|(id, _)| *id == self.task_id) {
            pending.swap_remove(i);
        }
    }
}

impl std::fmt::Debug for CapacityLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.statistics();
        f.debug_struct("CapacityLimiter")
            .field("borrowed_tokens", &s.borrowed_tokens)
            .field("total_tokens", &s.total_tokens)
            .field("tasks_waiting", &s.tasks_waiting)
            .finish()
    }
}
