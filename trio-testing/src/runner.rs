//! Running a test body on a trio run: the plain functions, and the helpers the
//! `#[trio_testing::test]` expansion calls.
//!
//! Invariant: a test that returns `Err` panics with the error's `Debug` form, which
//! prints the whole chain of causes, so the failure names what went wrong.

use std::future::Future;
use std::time::Duration;

use trio_core::{Result, Runner};

use crate::MockClock;

/// Runs `main` on a fresh run whose clock is a [`MockClock`] with autojump threshold 0:
/// whenever every task is blocked, time jumps to the next deadline, so sleeps and
/// timeouts cost no real time. What `#[trio_testing::test(autojump)]` uses.
///
/// ```
/// use std::time::Duration;
/// use trio_core::{current_time, move_on_after, sleep_forever, Instant};
///
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let r = move_on_after(Duration::from_secs(30), sleep_forever()).await?;
///     assert!(r.is_none());
///     assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(30));
///     Ok(())
/// })
/// # }
/// ```
pub fn run_autojump<F, Fut, T>(main: F) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>> + 'static,
    T: 'static,
{
    let clock = MockClock::new().with_autojump_threshold(Duration::ZERO);
    Runner::new().clock(clock).run(main)
}

/// Runs `main` on a fresh run whose clock is a new [`MockClock`] (time frozen at
/// [`Instant::ZERO`](trio_core::Instant::ZERO), no autojump), handing `main` a clone of
/// it to jump, change the rate or turn on autojump.
///
/// ```
/// use std::time::Duration;
/// use trio_core::{current_time, Instant};
///
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_with_mock_clock(|clock| async move {
///     clock.jump(Duration::from_secs(2));
///     assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(2));
///     Ok(())
/// })
/// # }
/// ```
pub fn run_with_mock_clock<F, Fut, T>(main: F) -> Result<T>
where
    F: FnOnce(MockClock) -> Fut,
    Fut: Future<Output = Result<T>> + 'static,
    T: 'static,
{
    let clock = MockClock::new();
    let handle = clock.clone();
    Runner::new().clock(clock).run(move || main(handle))
}

/// Panics with the error's full chain: how a failing test reports.
fn check(result: Result<()>) {
    if let Err(e) = result {
        panic!("the trio test returned an error: {e:?}");
    }
}

/// Support for the `#[trio_testing::test]` expansion; not a public API.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// Runs a test on the system clock.
    pub fn run_test<F, Fut>(main: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<()>> + 'static,
    {
        check(trio_core::run(main));
    }

    /// Runs a test on a mock clock (autojump threshold 0 when `autojump`).
    pub fn run_test_mock<F, Fut>(autojump: bool, main: F)
    where
        F: FnOnce(MockClock) -> Fut,
        Fut: Future<Output = Result<()>> + 'static,
    {
        let clock = MockClock::new();
        if autojump {
            clock.set_autojump_threshold(Some(Duration::ZERO));
        }
        let handle = clock.clone();
        check(Runner::new().clock(clock).run(move || main(handle)));
    }
}
