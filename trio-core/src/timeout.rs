//! Time as users see it: `sleep*`, `move_on_*`, `fail_*`, `current_time` and
//! `current_effective_deadline`.
//!
//! The timeouts are cancel scopes with a deadline. A sleep means exactly what Trio's
//! does, `move_on_at(deadline, sleep_forever())`, but is built without a scope: the task
//! parks (the `Park` state machine behind `wait_task_rescheduled`, in a hand-written
//! future of 64 bytes) with an entry in the run's deadline queue that
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

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::cancel::CancelScope;
use crate::checkpoint::{
    checkpoint_if_cancelled_now, wait_task_rescheduled, Abort, Park, YieldNow,
};
use crate::clock::Instant;
use crate::context;
use crate::deadline::{Key, Target};
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
pub fn sleep_until(deadline: Instant) -> impl Future<Output = Result<()>> {
    Sleep::new(When::At(deadline))
}

/// Sleeps for `duration` of the run's clock, counted from the first poll.
/// `sleep(Duration::ZERO)` is a checkpoint.
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
pub fn sleep(duration: Duration) -> impl Future<Output = Result<()>> {
    Sleep::new(When::After(duration))
}

/// When a sleep ends; a relative one is measured from the first poll, as an `async fn`
/// would.
#[derive(Clone, Copy)]
enum When {
    After(Duration),
    At(Instant),
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// Written by hand rather than as an `async fn` over `wait_task_rescheduled`, for size:
/// a sleeping task's future lives in its allocation for as long as it sleeps, and the
/// nested `async fn` states (the duration, the deadline, the registration, a closure
/// borrowing it, the wait) made 144 bytes of what is a queue key, a task and a few flags.
///
/// A parked sleep's entry must be removed exactly when it has not fired
/// (`Deadlines::remove`): by the abort (cancelled while parked), by the drop (dropped
/// while parked, or after a stray `reschedule`), or when a stray `reschedule` resumes it.
/// After its deadline fired, the sleep never touches the queue again.
struct Sleep {
    when: When,
    phase: Phase,
    /// The park, with the queue entry while it may still be queued as its abort state:
    /// taken by the abort, so `None` after the park began means the abort ran (and
    /// removed it).
    park: Park<Option<Key>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    /// The deadline had passed on the first poll: one checkpoint (`yielded` once the
    /// schedule point was made).
    Checkpoint {
        yielded: bool,
    },
    Parked,
    Done,
}

impl Sleep {
    fn new(when: When) -> Self {
        Sleep {
            when,
            phase: Phase::Start,
            park: Park::new(None),
        }
    }

    /// The deadline, or `None` when it has already passed (then the sleep is a
    /// checkpoint).
    fn deadline(&self) -> Option<Instant> {
        match self.when {
            When::After(d) if d.is_zero() => None,
            // `now + duration` is later than now, saturating at `Instant::MAX` (never
            // reached).
            When::After(d) => Some(current_time() + d),
            When::At(deadline) => {
                (!context::with_run(|run| run.deadline_passed(deadline))).then_some(deadline)
            }
        }
    }

    /// What the woken park's value means for the sleep.
    fn outcome(&mut self, woke: Result<()>) -> Result<()> {
        match woke {
            // Woken by the deadline. As in the scope version: an enclosing cancellation
            // that came before the task resumed is not absorbed.
            Err(e) if is_fired(&e) => {
                let task = self.park.task().expect("a parked sleep has its task");
                if task.is_cancelled() {
                    Err(Error::cancelled())
                } else {
                    Ok(())
                }
            }
            // Cancelled while parked: the abort removed the entry.
            woke if self.park.abort.is_none() => woke,
            // Someone else called `reschedule` on this task: the entry is still queued.
            Ok(()) => {
                remove_entry(self.park.abort.take());
                Err(Error::new(
                    ErrorKind::Internal,
                    "sleep() was woken by reschedule(): only its deadline or cancellation may end it",
                ))
            }
            Err(e) => {
                remove_entry(self.park.abort.take());
                Err(e)
            }
        }
    }
}

/// The abort of a parked sleep: remove its entry (always possible while it is parked).
fn abort_sleep(task: &TaskData, key: &mut Option<Key>) -> bool {
    match key.take() {
        Some(key) => {
            remove_entry(Some(key));
            task.park_state.set(ParkState::Running);
            true
        }
        None => false,
    }
}

impl Future for Sleep {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = &mut *self;
        let woke = match this.phase {
            Phase::Start => match this.deadline() {
                None => {
                    this.phase = Phase::Checkpoint { yielded: false };
                    return Pin::new(this).poll(cx);
                }
                Some(deadline) => {
                    // `begin` panics on a misused park before anything is registered.
                    this.park.begin(context::current_task());
                    let task = this.park.task().expect("the park has begun");
                    let key = context::with_run(|run| {
                        run.deadlines
                            .borrow_mut()
                            .insert(deadline, Target::wake(task))
                    });
                    this.park.abort = Some(key);
                    this.phase = Phase::Parked;
                    this.park.poll_parked(cx, true, abort_sleep)
                }
            },
            Phase::Checkpoint { yielded } => {
                let mut step = YieldNow { yielded };
                if Pin::new(&mut step).poll(cx).is_pending() {
                    this.phase = Phase::Checkpoint { yielded: true };
                    return Poll::Pending;
                }
                this.phase = Phase::Done;
                return Poll::Ready(checkpoint_if_cancelled_now());
            }
            Phase::Parked => this.park.poll(cx, abort_sleep),
            Phase::Done => panic!("a sleep was polled after it completed"),
        };
        match woke {
            Poll::Pending => Poll::Pending,
            Poll::Ready(woke) => {
                this.phase = Phase::Done;
                Poll::Ready(this.outcome(woke))
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.phase != Phase::Parked || self.park.finished() {
            return;
        }
        // Rescheduled but dropped before resuming: by the deadline (the entry is gone),
        // or by someone else (the entry is still queued). Checked before the park's own
        // drop forgets the rescheduled value. Parked: the park's drop runs the abort,
        // which removes the entry.
        if let Some(task) = self.park.task() {
            if task.park_state.get() == ParkState::Rescheduled {
                let value = task.park_value.take();
                let fired = matches!(&value, Some(Err(e)) if is_fired(e));
                task.park_value.set(value);
                if !fired {
                    remove_entry(self.park.abort.take());
                }
            }
        }
        self.park.drop_with(abort_sleep);
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

fn remove_entry(key: Option<Key>) {
    if let Some(key) = key {
        context::try_with_run(|run| run.deadlines.borrow_mut().remove(key));
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
