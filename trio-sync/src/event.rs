//! `Event`: a one-shot flag tasks can wait for.
//!
//! Invariant: once `set`, an event stays set and its parking lot stays empty; `wait` on a
//! set event is still a checkpoint (it yields and may raise `Cancelled`).

use std::cell::Cell;

use trio_core::lowlevel::ParkingLot;
use trio_core::Result;

/// A one-shot event: starts unset; [`set`](Event::set) wakes every waiter and makes all
/// later [`wait`](Event::wait)s return at once. There is no `clear` (as in Trio: make a
/// new `Event` instead).
///
/// Share it between tasks with an `Rc`. It belongs to one run, so it is not `Send`:
///
/// ```compile_fail
/// let event = trio_sync::Event::new();
/// std::thread::spawn(move || event.set()); // error: `Event` cannot be sent between threads
/// ```
///
/// ```
/// use std::rc::Rc;
/// use trio_sync::Event;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let ready = Rc::new(Event::new());
///     trio_core::open_nursery(|nursery| {
///         let ready = ready.clone();
///         async move {
///             let r = ready.clone();
///             nursery.start_soon(async move { r.wait().await });
///             ready.set();
///             Ok(())
///         }
///     })
///     .await?;
///     assert!(ready.is_set());
///     Ok(())
/// })
/// # }
/// ```
#[derive(Default)]
pub struct Event {
    flag: Cell<bool>,
    lot: ParkingLot,
}

/// A snapshot of an [`Event`], from [`Event::statistics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventStatistics {
    /// Tasks blocked in [`Event::wait`].
    pub tasks_waiting: usize,
}

impl Event {
    /// A new, unset event.
    ///
    /// ```
    /// assert!(!trio_sync::Event::new().is_set());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether [`set`](Event::set) was called.
    ///
    /// ```
    /// let e = trio_sync::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.flag.get()
    }

    /// Sets the event and wakes every waiting task. Idempotent; never blocks or yields.
    ///
    /// ```
    /// let e = trio_sync::Event::new();
    /// e.set();
    /// e.set(); // no effect the second time
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        if !self.flag.replace(true) {
            self.lot.unpark_all();
        }
    }

    /// Waits until the event is set. A checkpoint even when it already is: it yields, and
    /// raises `Cancelled` inside a cancelled scope.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let e = trio_sync::Event::new();
    ///     e.set();
    ///     e.wait().await // returns at once, after a checkpoint
    /// })
    /// # }
    /// ```
    pub async fn wait(&self) -> Result<()> {
        if self.flag.get() {
            trio_core::checkpoint().await
        } else {
            self.lot.park().await
        }
    }

    /// How many tasks are waiting.
    ///
    /// ```
    /// assert_eq!(trio_sync::Event::new().statistics().tasks_waiting, 0);
    /// ```
    pub fn statistics(&self) -> EventStatistics {
        EventStatistics {
            tasks_waiting: self.lot.statistics().tasks_waiting,
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.flag.get())
            .field("tasks_waiting", &self.lot.statistics().tasks_waiting)
            .finish()
    }
}
