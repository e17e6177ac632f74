//! Regression: the deadline heap's sweep of stale entries (run when a push finds far
//! more stale entries than live ones) must never drop the entry being pushed. It once
//! did, because the scope was marked registered only after the push returned: the
//! scope's deadline then never fired and a sleep hung forever (found by trio-sync's
//! randomized cancel-safety test).

use std::time::Duration;

use trio_core::{checkpoint, current_time, fail_after, move_on_after, sleep, Runner};
use trio_testing::MockClock;

#[test]
fn a_deadline_pushed_while_stale_entries_are_swept_still_fires() {
    Runner::new()
        .clock(MockClock::new().with_autojump_threshold(Duration::ZERO))
        .run(|| async {
            // A watchdog registered first (while the heap is small, so never swept): if a
            // sleep's deadline is lost, the clock jumps here and the test fails TooSlow
            // instead of hanging.
            fail_after(Duration::from_secs(10_000), async {
                // One more stale far-future entry before each sleep: the heap grows by
                // one per round, so whatever the sweep threshold, some sleep's own push
                // is the one that triggers the sweep.
                for round in 0..300 {
                    move_on_after(Duration::from_secs(1_000_000), checkpoint()).await?;
                    let t0 = current_time();
                    sleep(Duration::from_secs(1)).await?;
                    assert_eq!(current_time() - t0, Duration::from_secs(1), "round {round}");
                }
                Ok(())
            })
            .await
        })
        .unwrap();
}
