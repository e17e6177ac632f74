//! Time as users see it: `sleep*`, `move_on_*`, `fail_*`, `current_time` and
//! `current_effective_deadline`.
//!
//! The timeouts are cancel scopes with a deadline. A sleep means exactly what Trio's
//! does, `move_on_at(deadline, sleep_forever())`, but is built without a scope: the task
//! parks (`wait_task_rescheduled`) with an entry in the run's deadline queue that
//! reschedules it when the deadline passes, and whose abort (an outer cancellation, or the
//! sleep being dropped) removes the entry. That saves the scope node, its place in the
//! tree and the cancel/absorb round trip on every sleep. The rules that make it the same
//! as the scope version:
//!
//! * a deadline that already passed: one checkpoint (a schedule point, then `Cancelled`
//!   only if an enclosing scope is cancelled);
//! * woken by the deadline, the sleep still reports `Cancelled` when an enclosing scope
//!   became cancelled before the task resumed (the scope version's `Cancelled` would not
//!   be absorbed then, rule 4 of `cancel.rs`);
//! * cancelled from outside while parked: the entry is removed, `Err(Cancelled)`.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::cancel::CancelScope;
use crate::checkpoint::{wait_task_rescheduled, Abort, WaitTaskRescheduled};
use crate::clock::Instant;
use crate::context;
use crate::deadline::{Key, Target};
use crate::error::misuse;
use crate::task::{ParkState, Task, TaskData};
use crate::{Error, ErrorKind, Result};

/// The current time of the run's clock.
///
/// # Panics
/// Outside a run.
pub fn current_time() -> Instant {
    // The system clock's time needs no trip through the run (the thread-local origin is
    // set exactly while a run on the system clock is on this thread).
    crate::clock::system_now().unwrap_or_else(|| context::with_run(|run| run.now()))
}

/// The earliest deadline in force for the current task (up to the nearest shield), or
/// `None` if there is none. If the task is already cancelled, returns
/// `Some(Instant::ZERO)`, a deadline that has passed.
pub fn current_effective_deadline() -> Option<Instant> {
    context::with_current_task(|t| t.status.with(|s| s.effective_deadline()))
}

/// Blocks until cancelled: returns only `Err(Cancelled)`.
///
/// ```
/// use std::time::Duration;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let r = trio_core::move_on_after(Duration::from_millis(1), async {
///         trio_core::sleep_forever().await?;
///         Ok(())
///     })
///     .await?;
///     assert!(r.is_none());
///     Ok(())
/// })
/// # }
/// ```
pub async fn sleep_forever() -> Result<Infallible> {
    wait_task_rescheduled(|| Abort::Succeeded).await?;
    // Someone rescheduled a task that is sleeping forever: a bug in their code.
    Err(Error::new(
        ErrorKind::Internal,
        "sleep_forever() was woken by reschedule(): only cancellation may end it",
    ))
}

/// Sleeps until the run's clock reaches `deadline`. A checkpoint even if it has passed.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let wake = trio_core::current_time() + std::time::Duration::from_millis(2);
///     trio_core::sleep_until(wake).await?;
///     assert!(trio_core::current_time() >= wake);
///     Ok(())
/// })
/// # }
/// ```
pub async fn sleep_until(deadline: Instant) -> Result<()> {
    if context::with_run(|run| run.deadline_passed(deadline)) {
        return crate::checkpoint().await;
    }
    park_until(deadline).await
}

/// Sleeps for `duration` of the run's clock. `sleep(Duration::ZERO)` is a checkpoint.
///
/// ```
/// use std::time::Duration;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let t0 = trio_core::current_time();
///     trio_core::sleep(Duration::from_millis(5)).await?;
///     assert!(trio_core::current_time() - t0 >= Duration::from_millis(5));
///     Ok(())
/// })
/// # }
/// ```
pub async fn sleep(duration: Duration) -> Result<()> {
    if duration.is_zero() {
        return crate::checkpoint().await;
    }
    // `now + duration` is later than now, saturating at `Instant::MAX` (never reached).
    park_until(current_time() + duration).await
}

/// Parks the current task until `deadline` (which has not passed yet) or cancellation.
///
/// The entry must be removed exactly when it has not fired (`Deadlines::remove`): by the
/// abort (cancelled while parked), by [`SleepWait`]'s drop (dropped after a stray
/// `reschedule`), or below (resumed by one). After its deadline fired, the sleep never
/// touches the queue again.
async fn park_until(deadline: Instant) -> Result<()> {
    let task = context::current_task();
    if task.park_state.get() != ParkState::Running {
        // Checked before registering, so a misused park leaves no entry behind.
        panic!("{}", misuse::CONCURRENT_PARK);
    }
    let reg = Registered {
        key: context::with_run(|run| {
            run.deadlines
                .borrow_mut()
                .insert(deadline, Target::wake(&task))
        }),
        task,
        aborted: Cell::new(false),
    };
    let woke = SleepWait {
        reg: &reg,
        wait: wait_task_rescheduled(|| {
            reg.aborted.set(true);
            remove_entry(reg.key);
            Abort::Succeeded
        }),
    }
    .await;
    match woke {
        // Woken by the deadline. As in the scope version: an enclosing cancellation that
        // came before the task resumed is not absorbed.
        Err(e) if is_fired(&e) => {
            if reg.task.is_cancelled() {
                Err(Error::cancelled())
            } else {
                Ok(())
            }
        }
        // Cancelled while parked: the abort removed the entry.
        woke if reg.aborted.get() => woke,
        // Someone else called `reschedule` on this task: the entry is still queued.
        Ok(()) => {
            remove_entry(reg.key);
            Err(Error::new(
                ErrorKind::Internal,
                "sleep() was woken by reschedule(): only its deadline or cancellation may end it",
            ))
        }
        Err(e) => {
            remove_entry(reg.key);
            Err(e)
        }
    }
}

/// The message of the value a sleep's deadline reschedules it with; recognised by
/// address, so no `reschedule` from outside can forge it.
static FIRED: &str = "internal: a sleep's deadline fired";

fn is_fired(e: &Error) -> bool {
    e.message().is_some_and(|m| std::ptr::eq(m, FIRED))
}

/// The deadline queue's action for a sleep whose deadline passed: reschedule the task
/// with a value that tells the sleep its entry is gone, so it never looks it up again
/// (that lookup was a cache miss per sleep).
pub(crate) fn deadline_fired(task: Rc<TaskData>) {
    crate::checkpoint::reschedule(
        &Task(task),
        Err(Error::from_static(ErrorKind::Internal, &FIRED)),
    );
}

fn remove_entry(key: Key) {
    context::try_with_run(|run| run.deadlines.borrow_mut().remove(key));
}

/// A sleep's entry in the deadline queue, and the sleeping task.
struct Registered {
    key: Key,
    task: Rc<TaskData>,
    /// The park's abort ran (and removed the entry).
    aborted: Cell<bool>,
}

/// A sleep's park: the wait, plus a `Drop` that runs before the wait's own (which forgets
/// the rescheduled value), while the task's park state still tells whether a dropped
/// sleep's entry fired.
struct SleepWait<'a, A: FnOnce() -> Abort> {
    reg: &'a Registered,
    wait: WaitTaskRescheduled<A>,
}

impl<A: FnOnce() -> Abort> Future for SleepWait<'_, A> {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.wait).poll(cx)
    }
}

impl<A: FnOnce() -> Abort> Drop for SleepWait<'_, A> {
    fn drop(&mut self) {
        // Parked: the wait's drop runs the abort, which removes the entry. Running: the
        // wait completed (`park_until` handles the entry) or its abort ran. Rescheduled
        // (dropped before resuming): by the deadline, or by someone else (the entry is
        // still queued).
        let task = &self.reg.task;
        if task.park_state.get() == ParkState::Rescheduled {
            let value = task.park_value.take();
            let fired = matches!(&value, Some(Err(e)) if is_fired(e));
            task.park_value.set(value);
            if !fired {
                remove_entry(self.reg.key);
            }
        }
    }
}

/// Runs `body` with a deadline `timeout` after it starts; `Ok(None)` if the deadline
/// cancelled it.
///
/// The scope is entered (and a relative deadline starts) when the returned future is
/// first polled.
pub fn move_on_after<T>(
    timeout: Duration,
    body: impl Future<Output = Result<T>>,
) -> impl Future<Output = Result<Option<T>>> {
    CancelScope::new().with_timeout(timeout).run(body)
}

/// Runs `body` with deadline `deadline`; `Ok(None)` if the deadline cancelled it.
///
/// The scope is entered (and a relative deadline starts) when the returned future is
/// first polled.
pub fn move_on_at<T>(
    deadline: Instant,
    body: impl Future<Output = Result<T>>,
) -> impl Future<Output = Result<Option<T>>> {
    CancelScope::new().with_deadline(deadline).run(body)
}

/// Runs `body` with a deadline `timeout` after it starts; an error of kind
/// [`ErrorKind::TooSlow`] if the deadline cancelled it.
///
/// ```
/// use std::time::Duration;
/// use trio_core::ErrorKind;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let e = trio_core::fail_after(Duration::from_millis(1), trio_core::sleep(Duration::from_secs(1)))
///         .await
///         .unwrap_err();
///     assert_eq!(e.kind(), ErrorKind::TooSlow);
///     Ok(())
/// })
/// # }
/// ```
pub async fn fail_after<T>(timeout: Duration, body: impl Future<Output = Result<T>>) -> Result<T> {
    too_slow(CancelScope::new().with_timeout(timeout).run(body).await)
}

/// Runs `body` with deadline `deadline`; [`ErrorKind::TooSlow`] if it cancelled the body.
pub async fn fail_at<T>(deadline: Instant, body: impl Future<Output = Result<T>>) -> Result<T> {
    too_slow(CancelScope::new().with_deadline(deadline).run(body).await)
}

fn too_slow<T>(r: Result<Option<T>>) -> Result<T> {
    // A static message: an expired `fail_after` costs no allocation.
    r?.ok_or(Error::from_static(
        ErrorKind::TooSlow,
        &"deadline expired (fail_after/fail_at)",
    ))
}
