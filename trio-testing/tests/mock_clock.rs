//! MockClock: virtual time, jumps, rate, autojump.

use std::time::Duration;

use trio_core::lowlevel::RealTime;
use trio_core::{
    current_time, move_on_after, open_nursery, sleep, sleep_forever, Instant, Result, Runner,
};
use trio_testing::{run_autojump, run_with_mock_clock, wait_all_tasks_blocked, MockClock};

fn at(secs: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(secs)
}

#[test]
fn time_starts_at_zero_and_stays_frozen_without_jumps() {
    let clock = MockClock::new();
    assert_eq!(clock.current_time(), Instant::ZERO);
    assert_eq!(clock.rate(), 0.0);
    assert_eq!(clock.autojump_threshold(), None);
    let t = RealTime::now();
    while t.elapsed() < Duration::from_millis(2) {}
    assert_eq!(clock.current_time(), Instant::ZERO);
}

#[test]
fn jump_adds_exactly_and_clones_share_the_clock() {
    let clock = MockClock::new();
    let other = clock.clone();
    clock.jump(Duration::from_millis(1500));
    other.jump(Duration::from_millis(500));
    assert_eq!(clock.current_time(), at(2));
    assert_eq!(other.current_time(), at(2));
}

#[test]
fn positive_rate_follows_real_time_scaled() {
    let clock = MockClock::new().with_rate(1000.0);
    let t = RealTime::now();
    while t.elapsed() < Duration::from_millis(3) {}
    // 3 ms of real time at rate 1000 is at least 3 s of virtual time.
    assert!(clock.current_time() >= at(3), "{:?}", clock.current_time());
}

#[test]
fn changing_the_rate_never_moves_time_backwards() {
    let clock = MockClock::new().with_rate(1000.0);
    let t = RealTime::now();
    while t.elapsed() < Duration::from_millis(1) {}
    let before = clock.current_time();
    clock.set_rate(0.0);
    let after = clock.current_time();
    assert!(after >= before);
    let t = RealTime::now();
    while t.elapsed() < Duration::from_millis(1) {}
    assert_eq!(clock.current_time(), after, "rate 0 freezes time");
}

#[test]
#[should_panic(expected = "rate must be finite and >= 0")]
fn negative_rate_is_refused() {
    MockClock::new().set_rate(-1.0);
}

#[test]
fn autojump_sleep_ends_exactly_at_its_deadline() -> Result<()> {
    run_autojump(|| async {
        sleep(Duration::from_secs(3600)).await?;
        assert_eq!(current_time(), at(3600));
        sleep(Duration::from_nanos(7)).await?;
        assert_eq!(current_time(), at(3600) + Duration::from_nanos(7));
        Ok(())
    })
}

#[test]
fn autojump_goes_to_the_nearest_deadline_first() -> Result<()> {
    run_autojump(|| async {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let o = order.clone();
        open_nursery(|n| async move {
            for secs in [5u64, 1, 3] {
                let o = o.clone();
                n.start_soon(async move {
                    sleep(Duration::from_secs(secs)).await?;
                    o.borrow_mut().push((secs, current_time()));
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        assert_eq!(*order.borrow(), vec![(1, at(1)), (3, at(3)), (5, at(5))]);
        Ok(())
    })
}

#[test]
fn without_autojump_a_jump_from_inside_releases_a_sleeper() -> Result<()> {
    run_with_mock_clock(|clock| async move {
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(Duration::from_secs(10)).await?;
                assert_eq!(current_time(), at(10));
                Ok(())
            });
            trio_testing::wait_all_tasks_blocked().await?;
            assert_eq!(current_time(), Instant::ZERO, "no autojump: time is frozen");
            clock.jump(Duration::from_secs(9));
            trio_testing::wait_all_tasks_blocked().await?;
            assert_eq!(current_time(), at(9));
            clock.jump(Duration::from_secs(1));
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn autojump_can_be_turned_on_during_the_run() -> Result<()> {
    run_with_mock_clock(|clock| async move {
        clock.set_autojump_threshold(Some(Duration::ZERO));
        let r = move_on_after(Duration::from_secs(42), sleep_forever()).await?;
        assert!(r.is_none());
        assert_eq!(current_time(), at(42));
        Ok(())
    })
}

#[test]
fn autojump_threshold_is_measured_in_real_time() -> Result<()> {
    let clock = MockClock::new().with_autojump_threshold(Duration::from_millis(20));
    let started = RealTime::now();
    Runner::new().clock(clock).run(|| async {
        sleep(Duration::from_secs(1000)).await?;
        assert_eq!(current_time(), at(1000));
        Ok(())
    })?;
    assert!(started.elapsed() >= Duration::from_millis(20));
    Ok(())
}

#[test]
fn the_clock_is_usable_after_the_run() -> Result<()> {
    let clock = MockClock::new().with_autojump_threshold(Duration::ZERO);
    Runner::new()
        .clock(clock.clone())
        .run(|| async { sleep(Duration::from_secs(4)).await })?;
    assert_eq!(clock.current_time(), at(4));
    clock.jump(Duration::from_secs(1));
    assert_eq!(clock.current_time(), at(5));
    Ok(())
}

#[test]
fn a_jump_from_another_thread_wakes_a_sleeping_loop() -> Result<()> {
    let clock = MockClock::new();
    let remote = clock.clone();
    Runner::new().clock(clock).run(move || async move {
        let jumper = open_nursery(|n| async move {
            n.start_soon(async {
                sleep(Duration::from_secs(5)).await?;
                assert!(current_time() >= at(5));
                Ok(())
            });
            // Only once the sleeper's deadline (t = 5 s) is registered may the other
            // thread jump; then the loop blocks with no timeout (rate 0, no autojump)
            // and only the jump's wake-up can release the sleeper.
            wait_all_tasks_blocked().await?;
            Ok(std::thread::spawn(move || {
                remote.jump(Duration::from_secs(5))
            }))
        })
        .await?
        .expect("nursery body finished");
        jumper.join().expect("jumper thread");
        Ok(())
    })
}
