//! # trio-testing: test trio-rs code without real time
//!
//! What you get:
//! * [`MockClock`]: virtual time that moves only by jumps, at a chosen rate, or by
//!   *autojumping* to the next deadline whenever every task is blocked;
//! * [`wait_all_tasks_blocked`]: wait until nothing else in the run can make progress;
//! * [`macro@test`]: `#[trio_testing::test]` / `#[trio_testing::test(autojump)]` for
//!   `async fn` tests, and [`run_autojump`] / [`run_with_mock_clock`] as plain functions;
//! * [`Sequencer`], [`assert_checkpoints`], [`assert_no_checkpoints`];
//! * in-memory streams ([`memory_stream_pair`], [`lockstep_stream_pair`], hookable
//!   halves) and the conformance suites every stream type should pass
//!   ([`check_half_closeable_stream`] and friends).
//!
//! The [`guide`] walks through testing your own code with them.
//!
//! # Model
//!
//! A test is an ordinary trio run whose clock is a [`MockClock`]. With autojump
//! threshold 0, as soon as every task is blocked the clock jumps straight to the next
//! deadline, so a test with hour-long timeouts finishes in microseconds and is
//! deterministic: a sleep of `d` ends at exactly `start + d`. Quiescence waiters take
//! priority over autojump, so a test can observe "everyone is blocked" before time moves.
//!
//! ```
//! use std::time::Duration;
//! use trio_core::{current_time, fail_after, sleep, ErrorKind, Instant};
//!
//! # fn main() -> trio_core::Result<()> {
//! trio_testing::run_autojump(|| async {
//!     sleep(Duration::from_secs(10)).await?;
//!     assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(10));
//!     let err = fail_after(Duration::from_secs(1), sleep(Duration::from_secs(5)))
//!         .await
//!         .unwrap_err();
//!     assert_eq!(err.kind(), ErrorKind::TooSlow);
//!     Ok(())
//! })
//! # }
//! ```

#![forbid(unsafe_code)]

mod byte_queue;
mod check_streams;
mod checkpoints;
mod clock;
mod conflict;
pub mod guide;
mod lockstep;
mod memory_streams;
mod quiescence;
mod runner;
mod sequencer;
mod tls;

pub use check_streams::{
    check_half_closeable_stream, check_half_closeable_stream_clogged, check_one_way_stream,
    check_one_way_stream_clogged, check_two_way_stream, check_two_way_stream_clogged,
};
pub use checkpoints::{assert_checkpoints, assert_no_checkpoints};
pub use clock::MockClock;
pub use lockstep::{
    lockstep_stream_one_way_pair, lockstep_stream_pair, LockstepReceiveStream, LockstepSendStream,
    LockstepStream,
};
pub use memory_streams::{
    memory_stream_one_way_pair, memory_stream_pair, memory_stream_pump, MemoryReceiveStream,
    MemorySendStream, MemoryStream,
};
pub use quiescence::{wait_all_tasks_blocked, wait_all_tasks_blocked_with_cushion};
pub use runner::{run_autojump, run_with_mock_clock};
pub use sequencer::{Sequencer, SequencerGuard};
pub use tls::TestCa;
/// Marks an `async fn` returning `trio_core::Result<()>` as a test run on trio.
///
/// `#[trio_testing::test]` uses the system clock; `#[trio_testing::test(autojump)]` a
/// [`MockClock`] with autojump threshold 0; `#[trio_testing::test(mock_clock)]` a
/// `MockClock` that moves only when told to. A mock-clock test may take one argument,
/// its `MockClock`. An `Err` fails the test, printing the error and its causes. Other
/// attributes (`#[should_panic]`, `#[cfg(..)]`) pass through.
///
/// ```
/// use std::time::Duration;
/// use trio_core::{current_time, sleep, Instant, Result};
/// use trio_testing::MockClock;
///
/// #[trio_testing::test(autojump)]
/// async fn a_minute_passes_instantly() -> Result<()> {
///     sleep(Duration::from_secs(60)).await?;
///     assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(60));
///     Ok(())
/// }
///
/// #[trio_testing::test(mock_clock)]
/// async fn jumps_move_time(clock: MockClock) -> Result<()> {
///     clock.jump(Duration::from_secs(3));
///     assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(3));
///     Ok(())
/// }
/// ```
///
/// Misuse is a compile error naming it:
///
/// ```compile_fail
/// #[trio_testing::test]
/// fn not_async() -> trio_core::Result<()> { Ok(()) } // needs an `async fn`
/// ```
///
/// ```compile_fail
/// #[trio_testing::test(autojump)]
/// async fn no_result() {} // must return trio_core::Result<()>
/// ```
///
/// ```compile_fail
/// #[trio_testing::test(fast)] // unknown option
/// async fn t() -> trio_core::Result<()> { Ok(()) }
/// ```
pub use trio_testing_macros::test;

#[doc(hidden)]
pub use runner::__private;
