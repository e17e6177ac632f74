//! `ParkingLot`: a fair FIFO queue of blocked tasks, the building block of locks,
//! semaphores, conditions and events.
//!
//! Invariant: a task is in at most one lot, at most once, exactly while it is blocked in
//! [`ParkingLot::park`]. The task record remembers which lot and ticket it waits under
//! (`TaskData::lot_slot`), so `repark` can move it to another lot and a later cancellation
//! still finds it there. `unpark*` removes tasks in arrival order and reschedules them; a
//! cancelled `park` removes its task (abort succeeds) unless it was already unparked.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use crate::checkpoint::{reschedule, wait_task_rescheduled, Abort};
use crate::context;
use crate::task::{Task, TaskData};
use crate::Result;

/// A fair wait queue. Cheap to create; not `Send` (it belongs to one run).
///
/// ```
/// use std::rc::Rc;
/// use trio_core::lowlevel::ParkingLot;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let lot = Rc::new(ParkingLot::new());
///     trio_core::open_nursery(|nursery| {
///         let lot = lot.clone();
///         async move {
///             let l2 = lot.clone();
///             nursery.start_soon(async move { l2.park().await });
///             while lot.statistics().tasks_waiting == 0 {
///                 trio_core::checkpoint().await?;
///             }
///             assert_eq!(lot.unpark_all().len(), 1);
///             Ok(())
///         }
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
#[derive(Default)]
pub struct ParkingLot {
    inner: Rc<LotInner>,
}

#[derive(Default)]
pub(crate) struct LotInner {
    waiters: RefCell<VecDeque<(u64, Task)>>,
    next_ticket: Cell<u64>,
}

impl LotInner {
    fn push(self: &Rc<Self>, task: Task) {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket + 1);
        task.0.lot_slot.set(Some((Rc::downgrade(self), ticket)));
        self.waiters.borrow_mut().push_back((ticket, task));
    }

    fn remove(&self, ticket: u64) -> bool {
        let mut w = self.waiters.borrow_mut();
        // Waiters are in ticket order, so a binary search finds the entry.
        match w.binary_search_by_key(&ticket, |(t, _)| *t) {
            Ok(i) => {
                w.remove(i);
                true
            }
            Err(_) => false,
        }
    }
}

/// A snapshot of a [`ParkingLot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParkingLotStatistics {
    /// How many tasks are parked.
    pub tasks_waiting: usize,
}

/// The abort function of a park: remove the task from whichever lot holds it now.
fn abort_park(task: &TaskData) -> Abort {
    let slot = task.lot_slot.take();
    match slot {
        Some((lot, ticket)) if lot.upgrade().is_some_and(|l| l.remove(ticket)) => Abort::Succeeded,
        _ => Abort::Failed,
    }
}

impl ParkingLot {
    /// An empty lot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parks the current task until `unpark`ed (`Ok`) or cancelled (`Err(Cancelled)`,
    /// and the task is no longer in any lot). A checkpoint: it always blocks.
    pub async fn park(&self) -> Result<()> {
        let task = context::current_task();
        self.inner.push(Task(task.clone()));
        wait_task_rescheduled(|| abort_park(&task)).await
    }

    /// Wakes up to `n` tasks, longest-waiting first; returns them.
    pub fn unpark(&self, n: usize) -> Vec<Task> {
        let tasks = self.take(n);
        for t in &tasks {
            reschedule(t, Ok(()));
        }
        tasks
    }

    /// Wakes the longest-waiting task, if any, and returns it. Allocation-free.
    pub fn unpark_one(&self) -> Option<Task> {
        let (_, task) = self.inner.waiters.borrow_mut().pop_front()?;
        task.0.lot_slot.take();
        reschedule(&task, Ok(()));
        Some(task)
    }

    /// Wakes every parked task.
    pub fn unpark_all(&self) -> Vec<Task> {
        self.unpark(usize::MAX)
    }

    /// Moves up to `n` parked tasks, longest-waiting first, to the back of `other`
    /// without waking them; a later cancellation removes them from `other`.
    pub fn repark(&self, other: &ParkingLot, n: usize) {
        for task in self.take(n) {
            other.inner.push(task);
        }
    }

    /// Moves every parked task to `other`.
    pub fn repark_all(&self, other: &ParkingLot) {
        self.repark(other, usize::MAX)
    }

    fn take(&self, n: usize) -> Vec<Task> {
        let mut w = self.inner.waiters.borrow_mut();
        let n = n.min(w.len());
        w.drain(..n)
            .map(|(_, task)| {
                task.0.lot_slot.take();
                task
            })
            .collect()
    }

    /// How many tasks are parked.
    pub fn statistics(&self) -> ParkingLotStatistics {
        ParkingLotStatistics {
            tasks_waiting: self.inner.waiters.borrow().len(),
        }
    }

    /// True when no task is parked.
    pub fn is_empty(&self) -> bool {
        self.inner.waiters.borrow().is_empty()
    }
}

impl std::fmt::Debug for ParkingLot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParkingLot")
            .field("tasks_waiting", &self.inner.waiters.borrow().len())
            .finish()
    }
}

/// Where a parked task waits: the lot and its ticket there.
pub(crate) type LotSlot = Option<(Weak<LotInner>, u64)>;
