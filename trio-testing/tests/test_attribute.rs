//! `#[trio_testing::test]`: expansion, clocks, and failure reporting.

use std::time::Duration;

use trio_core::{current_time, sleep, Error, ErrorKind, Instant, Result};
use trio_testing::MockClock;

#[trio_testing::test]
async fn plain_test_runs_on_the_system_clock() -> Result<()> {
    // The system clock's origin is the run's start, and real time passes.
    trio_core::checkpoint().await?;
    assert!(trio_core::lowlevel::in_trio_task());
    Ok(())
}

#[trio_testing::test(autojump)]
async fn autojump_test_sleeps_in_virtual_time() -> Result<()> {
    sleep(Duration::from_secs(86_400)).await?;
    assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(86_400));
    Ok(())
}

#[trio_testing::test(autojump)]
async fn autojump_test_may_take_its_clock(clock: MockClock) -> Result<()> {
    assert_eq!(clock.autojump_threshold(), Some(Duration::ZERO));
    sleep(Duration::from_secs(1)).await?;
    assert_eq!(clock.current_time(), Instant::ZERO + Duration::from_secs(1));
    Ok(())
}

#[trio_testing::test(mock_clock)]
async fn mock_clock_test_does_not_autojump(clock: MockClock) -> Result<()> {
    assert_eq!(clock.autojump_threshold(), None);
    clock.jump(Duration::from_secs(2));
    sleep(Duration::from_secs(0)).await?;
    assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(2));
    Ok(())
}

#[trio_testing::test]
#[should_panic(expected = "deliberate failure")]
async fn an_err_result_fails_the_test() -> Result<()> {
    Err(Error::new(ErrorKind::Other, "deliberate failure"))
}

#[trio_testing::test]
#[should_panic(expected = "caused by: the root cause")]
async fn the_failure_prints_the_error_chain() -> Result<()> {
    let root = std::io::Error::other("the root cause");
    Err(Error::with_source(ErrorKind::Io, "outer context", root))
}
