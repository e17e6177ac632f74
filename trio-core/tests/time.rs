//! Time (DESIGN §3 "Time", §4b): the run's clock drives `sleep`, `sleep_until`,
//! `sleep_forever`, `move_on_*`, `fail_*` (`TooSlow`) and `current_effective_deadline`
//! (the nearest deadline in force, up to a shield); `Instant` arithmetic is exact.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::*;
use trio_core::lowlevel::{
    current_statistics, current_task, current_trio_token, reschedule, wait_all_tasks_blocked,
    Instrument,
};
use trio_core::{
    current_effective_deadline, current_time, fail_after, fail_at, move_on_after, move_on_at,
    open_nursery, sleep, sleep_forever, sleep_until, CancelHandle, CancelScope, ErrorKind, Instant,
    Result, Runner,
};
use trio_testing::MockClock;

async fn park_forever() -> Result<()> {
    sleep_forever().await.map(|never| match never {})
}

#[test]
fn sleep_and_sleep_until_wake_exactly_at_their_deadline_on_the_runs_clock() {
    autojump(|| async {
        assert_eq!(current_time(), Instant::ZERO);
        sleep(secs(3)).await?;
        assert_eq!(current_time(), at(3));
        sleep_until(at(10)).await?;
        assert_eq!(current_time(), at(10));
        sleep(Duration::from_nanos(1)).await?;
        assert_eq!(current_time(), at(10) + Duration::from_nanos(1));
        Ok(())
    })
    .unwrap();
}

#[test]
fn sleep_forever_ends_only_by_cancellation() {
    autojump(|| async {
        let r = move_on_after(secs(1000), sleep_forever()).await?;
        assert!(r.is_none());
        assert_eq!(current_time(), at(1000));
        Ok(())
    })
    .unwrap();
}

#[test]
fn sleep_forever_woken_by_reschedule_is_an_internal_error() {
    autojump(|| async {
        let me = current_task();
        let err = open_nursery(|n| async move {
            n.start_soon(async move {
                trio_core::checkpoint().await?;
                reschedule(&me, Ok(()));
                Ok(())
            });
            sleep_forever().await?;
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.to_string().contains("sleep_forever"), "{err}");
        Ok(())
    })
    .unwrap();
}

#[test]
fn sleeps_in_concurrent_tasks_wake_in_deadline_order() {
    autojump(|| async {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let l = log.clone();
        open_nursery(|n| async move {
            for s in [5u64, 1, 3] {
                let l = l.clone();
                n.start_soon(async move {
                    sleep(secs(s)).await?;
                    l.borrow_mut().push((s, current_time()));
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        assert_eq!(*log.borrow(), [(1, at(1)), (3, at(3)), (5, at(5))]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn move_on_after_returns_none_on_timeout_and_the_value_otherwise() {
    autojump(|| async {
        let r = move_on_after(secs(2), async {
            sleep(secs(5)).await?;
            Ok("late")
        })
        .await?;
        assert_eq!(r, None);
        assert_eq!(current_time(), at(2));
        let r = move_on_after(secs(2), async {
            sleep(secs(1)).await?;
            Ok("early")
        })
        .await?;
        assert_eq!(r, Some("early"));
        assert_eq!(current_time(), at(3));
        let r = move_on_at(at(4), park_forever()).await?;
        assert_eq!(r, None);
        assert_eq!(current_time(), at(4));
        Ok(())
    })
    .unwrap();
}

#[test]
fn fail_after_turns_its_own_timeout_into_too_slow() {
    autojump(|| async {
        let err = fail_after(secs(2), park_forever()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooSlow);
        assert!(!err.is_cancelled());
        assert_eq!(current_time(), at(2));
        let err = fail_at(at(5), park_forever()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooSlow);
        assert_eq!(current_time(), at(5));
        assert_eq!(fail_after(secs(2), async { Ok(7) }).await?, 7);
        Ok(())
    })
    .unwrap();
}

#[test]
fn nested_timeouts_the_earlier_deadline_wins() {
    autojump(|| async {
        // Inner expires first: it catches, the outer body continues.
        let r = move_on_after(secs(10), async {
            let inner = move_on_after(secs(2), park_forever()).await?;
            assert!(inner.is_none());
            Ok(current_time())
        })
        .await?;
        assert_eq!(r, Some(at(2)));
        // Outer expires first: the inner scope does not catch it.
        let r = move_on_after(secs(1), async {
            move_on_after(secs(5), park_forever()).await?;
            unreachable!("the outer cancellation passes through the inner scope")
        })
        .await?;
        let r: Option<()> = r;
        assert!(r.is_none());
        assert_eq!(current_time(), at(3));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_huge_timeout_never_fires_and_does_not_overflow() {
    autojump(|| async {
        let r = move_on_after(Duration::MAX, sleep(secs(1))).await?;
        assert_eq!(r, Some(()));
        assert_eq!(current_effective_deadline(), None);
        Ok(())
    })
    .unwrap();
}

/// Ends the body of a scope from the run's first I/O wait after `arm`: cancels the scope
/// and wakes the poller (a `run_sync_soon` with nothing to do), recording the wait's
/// timeout.
#[derive(Clone, Default)]
struct CancelOnIdle {
    armed: Rc<RefCell<Option<CancelHandle>>>,
    seen: Rc<RefCell<Vec<Option<Duration>>>>,
}

impl Instrument for CancelOnIdle {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        if let Some(handle) = self.armed.borrow_mut().take() {
            self.seen.borrow_mut().push(timeout);
            handle.cancel();
            current_trio_token()
                .run_sync_soon(|| {})
                .expect("the run is still going");
        }
    }
}

#[test]
fn a_deadline_at_the_end_of_time_is_never_autojumped_to() {
    // Trio, MockClock(autojump_threshold=0): `move_on_after(inf)` around `sleep_forever`
    // stays parked (the clock never jumps to infinity) and
    // `seconds_to_next_deadline` is inf. `Duration::MAX` saturates at `Instant::MAX`,
    // which plays inf's part. Without that rule the autojump would fire the scope at
    // `Instant::MAX`.
    let idle = CancelOnIdle::default();
    let hook = idle.clone();
    Runner::new()
        .clock(MockClock::new().with_autojump_threshold(secs(0)))
        .instrument(hook)
        .run(move || async move {
            let scope = CancelScope::new().with_timeout(Duration::MAX);
            *idle.armed.borrow_mut() = Some(scope.handle());
            let out = scope
                .run(async {
                    assert_eq!(current_statistics().time_to_next_deadline, None);
                    park_forever().await
                })
                .await?;
            assert_eq!(out, None, "ended by the hook's cancel");
            assert_eq!(current_time(), Instant::ZERO, "the clock never moved");
            assert_eq!(
                *idle.seen.borrow(),
                [None],
                "the run waited with no timeout"
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn current_effective_deadline_is_the_nearest_deadline_in_force() {
    autojump(|| async {
        assert_eq!(current_effective_deadline(), None);
        move_on_at(at(10), async {
            assert_eq!(current_effective_deadline(), Some(at(10)));
            move_on_at(at(20), async {
                assert_eq!(current_effective_deadline(), Some(at(10)), "nearest wins");
                move_on_at(at(5), async {
                    assert_eq!(current_effective_deadline(), Some(at(5)));
                    Ok(())
                })
                .await?;
                Ok(())
            })
            .await?;
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_shield_stops_the_effective_deadline_walk() {
    autojump(|| async {
        move_on_at(at(10), async {
            CancelScope::new()
                .with_shield(true)
                .run(async {
                    assert_eq!(current_effective_deadline(), None);
                    move_on_at(at(30), async {
                        assert_eq!(current_effective_deadline(), Some(at(30)));
                        Ok(())
                    })
                    .await?;
                    Ok(())
                })
                .await?;
            let shielded_with_deadline = CancelScope::new().with_shield(true).with_deadline(at(50));
            shielded_with_deadline
                .run(async {
                    assert_eq!(current_effective_deadline(), Some(at(50)));
                    Ok(())
                })
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancelled_task_has_an_effective_deadline_in_the_past() {
    autojump(|| async {
        sleep(secs(1)).await?;
        let scope = CancelScope::new().with_deadline(at(100));
        scope.handle().cancel();
        scope
            .run(async {
                let d = current_effective_deadline().expect("a deadline");
                assert!(d <= current_time());
                Ok(())
            })
            .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn deadlines_left_behind_do_not_stay_live() {
    autojump(|| async {
        for _ in 0..200 {
            move_on_after(secs(1000), trio_core::checkpoint()).await?;
        }
        assert_eq!(current_statistics().live_deadlines, 0);
        assert_eq!(current_statistics().time_to_next_deadline, None);
        move_on_after(secs(7), async {
            let stats = current_statistics();
            assert_eq!(stats.live_deadlines, 1);
            assert_eq!(stats.time_to_next_deadline, Some(secs(7)));
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_jumped_mock_clock_wakes_sleepers_whose_deadline_passed() {
    let clock = MockClock::new();
    let handle = clock.clone();
    Runner::new()
        .clock(clock)
        .run(move || async move {
            open_nursery(|n| async move {
                n.start_soon(async {
                    sleep(secs(5)).await?;
                    assert_eq!(current_time(), at(6), "woke after the jump, not at 5");
                    Ok(())
                });
                // Once the sleeper is parked (whatever order the batch ran in).
                wait_all_tasks_blocked(Duration::ZERO).await?;
                handle.jump(secs(6));
                Ok(())
            })
            .await?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn instant_arithmetic_is_exact() {
    let t = Instant::from_nanos(1_000);
    let d = Duration::from_nanos(234);
    assert_eq!((t + d).as_nanos(), 1_234);
    assert_eq!((t + d) - t, d);
    assert_eq!((t + d) - d, t);
    let mut u = t;
    u += d;
    assert_eq!(u, t + d);
    assert!(t < t + d);
    assert_eq!(t.max(t + d), t + d);
    assert_eq!(Instant::ZERO.since_origin(), Duration::ZERO);
    assert_eq!(t.since_origin(), Duration::from_nanos(1_000));
    assert_eq!(t.saturating_duration_since(t + d), Duration::ZERO);
    assert_eq!((t + d).saturating_duration_since(t), d);
    // Saturation at both ends.
    assert_eq!(t + Duration::MAX, Instant::MAX);
    assert_eq!(t.checked_add(Duration::MAX), None);
    assert_eq!(t - Duration::from_secs(1), Instant::ZERO);
    // Copy + Eq + Ord + Hash + Debug.
    let copy = t;
    assert_eq!(copy, t);
    let mut set = std::collections::HashSet::new();
    set.insert(t);
    assert!(set.contains(&Instant::from_nanos(1_000)));
    assert_eq!(format!("{:?}", at(2)), "Instant(2s)");
}

#[test]
fn subtracting_a_later_instant_panics_naming_the_mistake() {
    let msg = expect_panic(|| at(1) - at(2));
    assert!(msg.contains("later"), "{msg}");
}

#[test]
fn jumps_without_autojump_let_a_test_stop_between_two_deadlines() {
    use std::cell::Cell;
    use std::rc::Rc;
    use trio_core::lowlevel::wait_all_tasks_blocked;
    // Repeated: the loop must never hang when time moves only by jumps.
    for _ in 0..200 {
        let clock = MockClock::new();
        let handle = clock.clone();
        Runner::new()
            .clock(clock)
            .run(move || async move {
                let fired = Rc::new(Cell::new(false));
                let f = fired.clone();
                open_nursery(|n| async move {
                    n.start_soon(async move {
                        sleep(secs(10)).await?;
                        f.set(true);
                        Ok(())
                    });
                    wait_all_tasks_blocked(secs(0)).await?;
                    handle.jump(secs(9));
                    wait_all_tasks_blocked(secs(0)).await?;
                    assert!(!fired.get());
                    handle.jump(secs(1));
                    wait_all_tasks_blocked(secs(0)).await?;
                    assert!(fired.get());
                    assert_eq!(current_time(), at(10));
                    Ok(())
                })
                .await?;
                Ok(())
            })
            .unwrap();
    }
}
