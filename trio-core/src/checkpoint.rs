//! Checkpoints and the one blocking primitive: the only ways a task suspends for the
//! scheduler.
//!
//! * [`checkpoint`]: a schedule point, then a cancel point.
//! * [`checkpoint_if_cancelled`]: a cancel point only (never yields).
//! * [`cancel_shielded_checkpoint`]: a schedule point only.
//! * [`wait_task_rescheduled`]: block until another piece of code calls [`reschedule`],
//!   or until cancellation, which the caller's *abort function* may accept
//!   ([`Abort::Succeeded`]: the operation is undone, the wait returns `Cancelled`) or
//!   refuse ([`Abort::Failed`]: it can no longer be undone; the wait goes on until the
//!   owed `reschedule`).
//!
//! Every blocking primitive of trio-rs (parking lot, channels, I/O waits, thread waits)
//! is built on `wait_task_rescheduled`, which is what makes all of them cancel-safe the
//! same way. Its state machine is [`Park`]; a sleep uses `Park` directly, with its queue
//! key for an abort, to keep a sleeping task's future small. The abort function runs in
//! the blocked task itself, when it is next polled after its scope became cancelled;
//! until then the operation may still complete, and if it does, the wait reports that
//! success.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::context;
use crate::error::misuse;
use crate::task::{ParkState, Task, TaskData};
use crate::{Error, Result};

/// A schedule point followed by a cancel point: gives other tasks a turn, then raises
/// `Cancelled` if the task is inside a cancelled scope.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     for _ in 0..3 {
///         trio_core::checkpoint().await?; // lets siblings run; raises if cancelled
///     }
///     Ok(())
/// })
/// # }
/// ```
pub async fn checkpoint() -> Result<()> {
    YieldNow { yielded: false }.await;
    checkpoint_if_cancelled_now()
}

/// A cancel point without a schedule point: raises `Cancelled` if the task is inside a
/// cancelled scope, otherwise returns at once without yielding.
pub async fn checkpoint_if_cancelled() -> Result<()> {
    checkpoint_if_cancelled_now()
}

/// A schedule point without a cancel point: yields to other tasks, never raises.
pub async fn cancel_shielded_checkpoint() {
    YieldNow { yielded: false }.await
}

#[inline] // on every checkpoint's path
pub(crate) fn checkpoint_if_cancelled_now() -> Result<()> {
    context::with_current_task(|t| {
        t.cancel_points.set(t.cancel_points.get() + 1);
        if t.is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    })
}

/// Yields once: wakes itself and returns `Pending` the first time it is polled.
pub(crate) struct YieldNow {
    pub(crate) yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    #[inline] // on every checkpoint's path
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        context::with_current_task(|t| t.schedule_points.set(t.schedule_points.get() + 1));
        // With instruments, `TaskFuture` reports this reschedule before the next step.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The answer of an abort function: can the blocked operation still be undone?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// The operation was undone (e.g. the task removed itself from a wait queue); the
    /// wait returns `Err(Cancelled)`.
    Succeeded,
    /// Too late: the operation completed or will complete; whoever owes the wake-up will
    /// still call [`reschedule`], and the wait returns what it passes.
    Failed,
}

/// Blocks the current task until [`reschedule`] is called for it, and returns the value
/// passed there. If the task's scope is cancelled while it waits (or already is), `abort`
/// runs once to decide whether the operation can be undone (see [`Abort`]).
///
/// Before calling this, record [`current_task`](crate::lowlevel::current_task) wherever
/// the code that will call `reschedule` can find it.
///
/// # Panics
/// If the task is already blocked in another `wait_task_rescheduled` (one blocking
/// operation at a time per task; use a nursery to wait on several).
///
/// ```
/// use trio_core::lowlevel::{current_task, reschedule, wait_task_rescheduled, Abort};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let me = current_task();
///     trio_core::open_nursery(|nursery| async move {
///         nursery.start_soon(async move {
///             trio_core::checkpoint().await?;
///             reschedule(&me, Ok(())); // wake the parked task
///             Ok(())
///         });
///         wait_task_rescheduled(|| Abort::Succeeded).await
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
pub fn wait_task_rescheduled<A: FnOnce() -> Abort>(abort: A) -> WaitTaskRescheduled<A> {
    WaitTaskRescheduled {
        park: Park::new(Some(abort)),
    }
}

/// The future of [`wait_task_rescheduled`].
pub struct WaitTaskRescheduled<A: FnOnce() -> Abort> {
    park: Park<Option<A>>,
}

impl<A: FnOnce() -> Abort> Unpin for WaitTaskRescheduled<A> {}

/// Runs `abort` (if it has not run yet) for `task`; true when it succeeded (the wait then
/// returns `Cancelled`).
fn run_abort(task: &TaskData, abort: &mut Option<impl FnOnce() -> Abort>) -> bool {
    let Some(abort) = abort.take() else {
        return false;
    };
    match abort() {
        Abort::Succeeded => {
            task.park_state.set(ParkState::Running);
            true
        }
        Abort::Failed => {
            task.park_state.set(ParkState::AbortFailed);
            false
        }
    }
}

impl<A: FnOnce() -> Abort> Future for WaitTaskRescheduled<A> {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.park.poll(cx, run_abort)
    }
}

impl<A: FnOnce() -> Abort> Drop for WaitTaskRescheduled<A> {
    fn drop(&mut self) {
        self.park.drop_with(run_abort);
    }
}

/// The state machine of one park, shared by [`WaitTaskRescheduled`] and the futures that
/// park without a closure (a sleep, whose abort needs only its queue key). `abort` is
/// what the operation needs to undo itself (inside this struct, so the flags share its
/// padding: every parked future is part of an idle task's memory); the owner passes
/// `try_abort(task, &mut abort)`, which undoes the operation at most once over the park's
/// life and returns true when it succeeded (then it has set the park state back to
/// `Running`).
pub(crate) struct Park<X> {
    /// The operation's abort state.
    pub(crate) abort: X,
    task: Option<Rc<TaskData>>,
    finished: bool,
    /// An abort succeeded on the first poll (the task was already cancelled): the next
    /// poll returns `Cancelled`. A blocking operation always yields once, as Trio's does,
    /// so a task retrying it in a cancelled scope cannot starve others. (A flag, not the
    /// stored result: it keeps every parked future, and so every idle task, 16 bytes
    /// smaller.)
    early_cancelled: bool,
}

impl<X> Park<X> {
    pub(crate) const fn new(abort: X) -> Self {
        Park {
            abort,
            task: None,
            finished: false,
            early_cancelled: false,
        }
    }

    /// The parked task, once the park has begun.
    pub(crate) fn task(&self) -> Option<&Rc<TaskData>> {
        self.task.as_ref()
    }

    /// Whether the park returned its value.
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// Marks `task` (the current task) parked: the first step of the first poll.
    ///
    /// # Panics
    /// If the task is already parked elsewhere.
    pub(crate) fn begin(&mut self, task: Rc<TaskData>) {
        if task.park_state.get() != ParkState::Running {
            panic!("{}", misuse::CONCURRENT_PARK);
        }
        task.park_state.set(ParkState::Parked);
        task.schedule_points.set(task.schedule_points.get() + 1);
        task.cancel_points.set(task.cancel_points.get() + 1);
        self.task = Some(task);
    }

    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        try_abort: impl FnOnce(&TaskData, &mut X) -> bool,
    ) -> Poll<Result<()>> {
        if std::mem::take(&mut self.early_cancelled) {
            return Poll::Ready(Err(Error::cancelled()));
        }
        let first_poll = self.task.is_none();
        if first_poll {
            self.begin(context::current_task());
        }
        self.poll_parked(cx, first_poll, try_abort)
    }

    /// A poll after [`Park::begin`]; `first_poll` when `begin` ran in this same poll.
    pub(crate) fn poll_parked(
        &mut self,
        cx: &mut Context<'_>,
        first_poll: bool,
        try_abort: impl FnOnce(&TaskData, &mut X) -> bool,
    ) -> Poll<Result<()>> {
        let task = self.task.as_deref().expect("the park has begun");
        if task.park_state.get() == ParkState::Rescheduled {
            task.park_state.set(ParkState::Running);
            self.finished = true;
            let value = task.park_value.take().unwrap_or(Ok(()));
            return Poll::Ready(value);
        }
        if task.park_state.get() == ParkState::Parked
            && task.is_cancelled()
            && try_abort(task, &mut self.abort)
        {
            self.finished = true;
            if first_poll {
                self.early_cancelled = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return Poll::Ready(Err(Error::cancelled()));
        }
        Poll::Pending
    }

    /// The park's future is being dropped: if it was still blocked (a `select!` dropped
    /// the operation), undo the operation if possible, else swallow the owed wake-up.
    pub(crate) fn drop_with(&mut self, try_abort: impl FnOnce(&TaskData, &mut X) -> bool) {
        let Some(task) = self.task.take() else { return };
        if self.finished {
            return;
        }
        match task.park_state.get() {
            ParkState::Parked => {
                if !try_abort(&task, &mut self.abort) {
                    task.park_state.set(ParkState::Abandoned);
                }
            }
            ParkState::AbortFailed => task.park_state.set(ParkState::Abandoned),
            ParkState::Rescheduled => {
                task.park_value.take();
                task.park_state.set(ParkState::Running);
            }
            ParkState::Running | ParkState::Abandoned => {}
        }
    }
}

/// Wakes `task`, blocked in [`wait_task_rescheduled`], which then returns `value`.
/// Call it exactly once per wait (after the abort function said [`Abort::Failed`], or
/// instead of letting it run). Never blocks.
///
/// # Panics
/// If the task is not blocked in `wait_task_rescheduled`, or was already rescheduled.
pub fn reschedule(task: &Task, value: Result<()>) {
    let t = &task.0;
    match t.park_state.get() {
        ParkState::Parked | ParkState::AbortFailed => {
            t.park_value.set(Some(value));
            t.park_state.set(ParkState::Rescheduled);
            // The instrument flag is a plain thread-local read; the run is borrowed only
            // when there are instruments (every sleep's wake-up comes through here).
            if context::instrumented() {
                crate::task::report_scheduled(t);
            }
            t.wake();
        }
        ParkState::Abandoned => t.park_state.set(ParkState::Running),
        ParkState::Running | ParkState::Rescheduled => panic!("{}", misuse::RESCHEDULE_NOT_PARKED),
    }
}
