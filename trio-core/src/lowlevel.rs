//! The advanced surface, for crates that build primitives on trio-core (trio-sync,
//! trio-net, trio-os, trio-testing) and for curious users: tasks, the blocking primitive,
//! parking lots, run variables, instruments, reactor waits and foreign-thread entry.
//!
//! Only `pub use` and small accessors live here.

pub use crate::checkpoint::{reschedule, wait_task_rescheduled, Abort, WaitTaskRescheduled};
pub use crate::clock::RealTime;
pub use crate::conflict::{ConflictDetector, ConflictGuard};
pub use crate::entry_queue::TrioToken;
pub use crate::instrument::Instrument;
pub use crate::local::RunVar;
pub use crate::parking_lot::{ParkingLot, ParkingLotStatistics};
pub use crate::reactor::{
    notify_closing, read_readiness_count, wait_readable, wait_readable_after_would_block,
    wait_writable, wait_writable_after_would_block, wake_when_readable,
    wake_when_readable_after_would_block, wake_when_writable, wake_when_writable_after_would_block,
};
pub use crate::run::{spawn_system_task, wait_all_tasks_blocked, RunStatistics};
pub use crate::task::Task;

use crate::context;

/// The task being run.
///
/// # Panics
/// Outside a trio task.
pub fn current_task() -> Task {
    Task(context::current_task())
}

/// The current run's token, for entering the run from other threads.
///
/// # Panics
/// Outside a run.
pub fn current_trio_token() -> TrioToken {
    context::with_run(|run| run.token())
}

/// A snapshot of the run loop's state.
///
/// # Panics
/// Outside a run.
pub fn current_statistics() -> RunStatistics {
    context::with_run(|run| run.statistics())
}

/// True when called inside a trio run (on its thread).
pub fn in_trio_run() -> bool {
    context::in_run()
}

/// True when called inside a trio task.
pub fn in_trio_task() -> bool {
    context::try_current_task().is_some()
}
