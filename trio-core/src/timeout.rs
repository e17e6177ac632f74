//! Time as users see it: `sleep*`, `move_on_*`, `fail_*`, `current_time` and
//! `current_effective_deadline`.
//!
//! Every one of them is a cancel scope with a deadline: a sleep is `sleep_forever` inside
//! a scope whose deadline is the wake-up time, so sleeps and timeouts share one timer
//! queue and one cancellation path.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use crate::cancel::CancelScope;
use crate::checkpoint::{wait_task_rescheduled, Abort};
use crate::clock::Instant;
use crate::context;
use crate::{Error, ErrorKind, Result};

/// The current time of the run's clock.
///
/// # Panics
/// Outside a run.
pub fn current_time() -> Instant {
    context::with_run(|run| run.now())
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
pub async fn sleep_until(deadline: Instant) -> Result<()> {
    let r = CancelScope::new()
        .with_deadline(deadline)
        .run(async {
            sleep_forever().await?;
            Ok(())
        })
        .await?;
    debug_assert!(r.is_none());
    Ok(())
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
    CancelScope::new()
        .with_timeout(duration)
        .run(async {
            sleep_forever().await?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Runs `body` with a deadline `timeout` after it starts; `Ok(None)` if the deadline
/// cancelled it.
pub async fn move_on_after<T>(
    timeout: Duration,
    body: impl Future<Output = Result<T>>,
) -> Result<Option<T>> {
    CancelScope::new().with_timeout(timeout).run(body).await
}

/// Runs `body` with deadline `deadline`; `Ok(None)` if the deadline cancelled it.
pub async fn move_on_at<T>(
    deadline: Instant,
    body: impl Future<Output = Result<T>>,
) -> Result<Option<T>> {
    CancelScope::new().with_deadline(deadline).run(body).await
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
