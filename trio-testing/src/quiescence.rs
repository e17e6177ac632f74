//! Quiescence: waiting until every other task in the run is blocked.
//!
//! The mechanism lives in trio-core's run loop (only the loop knows when nothing can
//! run); this module gives it Trio's testing-facing names.

use std::time::Duration;

use trio_core::Result;

/// Waits until every other task in the run is blocked (waiting on anything: a sleep, a
/// lock, I/O) and nothing is runnable. A checkpoint.
///
/// Under an autojumping [`MockClock`](crate::MockClock) this returns *before* the clock
/// jumps, so a test can observe the state just before time moves.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use trio_testing::wait_all_tasks_blocked;
///
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let reached = Rc::new(Cell::new(false));
///     let r = reached.clone();
///     trio_core::open_nursery(|n| async move {
///         n.start_soon(async move {
///             trio_core::checkpoint().await?;
///             r.set(true);
///             trio_core::sleep_forever().await?;
///             Ok(())
///         });
///         wait_all_tasks_blocked().await?; // the child is in its sleep now
///         assert!(reached.get());
///         n.cancel_scope().cancel();
///         Ok(())
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
pub async fn wait_all_tasks_blocked() -> Result<()> {
    trio_core::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await
}

/// Like [`wait_all_tasks_blocked`], but returns only once every other task has stayed
/// blocked for `cushion` of *real* time (useful when something outside the run, like a
/// worker thread or the kernel, may still wake a task). Several waiters wake in order of
/// their cushions (equal cushions together).
pub async fn wait_all_tasks_blocked_with_cushion(cushion: Duration) -> Result<()> {
    trio_core::lowlevel::wait_all_tasks_blocked(cushion).await
}
