//! `assert_checkpoints` / `assert_no_checkpoints`: check that an operation does (or does
//! not) pass through a checkpoint.
//!
//! Built on trio-core's per-task counters of cancel points and schedule points
//! ([`Task::cancel_points`](trio_core::lowlevel::Task::cancel_points)); a full checkpoint
//! increments both.

use std::future::Future;

use trio_core::lowlevel::current_task;
use trio_core::Result;

fn counts() -> (u64, u64) {
    let task = current_task();
    (task.cancel_points(), task.schedule_points())
}

/// Runs `fut` and panics unless it executed a full checkpoint: at least one cancel point
/// *and* one schedule point. As in Trio, nothing is checked when `fut` returns `Err`
/// (an operation that fails early need not have checkpointed).
///
/// ```
/// use trio_testing::assert_checkpoints;
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     assert_checkpoints(trio_core::checkpoint()).await?;
///     Ok(())
/// })
/// # }
/// ```
///
/// # Panics
/// If `fut` returned `Ok` without a full checkpoint.
pub async fn assert_checkpoints<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    let (cancel, schedule) = counts();
    let out = fut.await;
    if out.is_ok() {
        let (cancel_now, schedule_now) = counts();
        if cancel_now == cancel || schedule_now == schedule {
            panic!(
                "assert_checkpoints: the operation did not checkpoint \
                 (cancel points +{}, schedule points +{}; both must grow)",
                cancel_now - cancel,
                schedule_now - schedule
            );
        }
    }
    out
}

/// Runs `fut` and panics if it passed through any cancel point or schedule point.
///
/// ```
/// use trio_testing::assert_no_checkpoints;
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let n = assert_no_checkpoints(async { 1 + 1 }).await;
///     assert_eq!(n, 2);
///     Ok(())
/// })
/// # }
/// ```
///
/// # Panics
/// If `fut` checkpointed, whatever it returned.
pub async fn assert_no_checkpoints<T>(fut: impl Future<Output = T>) -> T {
    let before = counts();
    let out = fut.await;
    let after = counts();
    if after != before {
        panic!(
            "assert_no_checkpoints: the operation checkpointed \
             (cancel points +{}, schedule points +{})",
            after.0 - before.0,
            after.1 - before.1
        );
    }
    out
}
