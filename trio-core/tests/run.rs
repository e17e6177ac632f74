//! The run loop (DESIGN §3 "Run loop"): `run` returns main's result once main and every
//! task have finished; system tasks are cancelled when main finishes and joined before
//! `run` returns, and a failing system task ends the run with an `Internal` error; runs
//! do not nest; trio calls outside a run panic naming the mistake; several runs live on
//! several threads at once.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Barrier};

use common::*;
use trio_core::lowlevel::{
    current_statistics, current_task, current_trio_token, in_trio_run, in_trio_task,
    spawn_system_task, RunVar,
};
use trio_core::{
    checkpoint, current_effective_deadline, current_time, open_nursery, run, sleep, sleep_forever,
    CancelScope, Error, ErrorKind, Result, Runner,
};
use trio_testing::MockClock;

async fn park_forever() -> Result<()> {
    sleep_forever().await.map(|never| match never {})
}

#[test]
fn run_returns_mains_value() {
    assert_eq!(run(|| async { Ok(42) }).unwrap(), 42);
    assert_eq!(autojump(|| async { Ok("mock") }).unwrap(), "mock");
}

#[test]
fn run_with_the_system_clock_sleeps_in_real_time() {
    let elapsed = run(|| async {
        let t0 = current_time();
        sleep(std::time::Duration::from_millis(2)).await?;
        Ok(current_time() - t0)
    })
    .unwrap();
    assert!(elapsed >= std::time::Duration::from_millis(2));
}

#[test]
fn main_returning_err_ends_the_run_with_that_err_after_system_tasks_were_joined() {
    let cleaned_up = Rc::new(Cell::new(None));
    let c = cleaned_up.clone();
    let err = autojump(move || async move {
        spawn_system_task(async move {
            let r = park_forever().await;
            CancelScope::new()
                .with_shield(true)
                .run(sleep(secs(3)))
                .await?;
            c.set(Some(current_time()));
            r
        });
        sleep(secs(1)).await?;
        Err::<(), _>(Error::msg("main failed"))
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "main failed");
    assert_eq!(
        cleaned_up.get(),
        Some(at(4)),
        "the system task was cancelled and joined"
    );
}

#[test]
fn system_tasks_are_cancelled_when_main_finishes() {
    let saw_cancel = Rc::new(Cell::new(false));
    let s = saw_cancel.clone();
    let v = autojump(move || async move {
        spawn_system_task(async move {
            assert!(current_task().is_system());
            let r = park_forever().await;
            s.set(r.as_ref().is_err_and(Error::is_cancelled));
            r
        });
        checkpoint().await?;
        Ok(1)
    })
    .unwrap();
    assert_eq!(v, 1);
    assert!(saw_cancel.get());
}

#[test]
fn system_tasks_are_not_cancelled_with_user_scopes() {
    autojump(|| async {
        let ran_to_end = Rc::new(Cell::new(false));
        let r = ran_to_end.clone();
        let scope = CancelScope::new();
        scope.handle().cancel();
        scope
            .run(async move {
                spawn_system_task(async move {
                    sleep(secs(1)).await?;
                    r.set(true);
                    Ok(())
                });
                Ok(())
            })
            .await?;
        sleep(secs(2)).await?;
        assert!(ran_to_end.get());
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_failing_system_task_ends_the_run_with_an_internal_error() {
    let main_cancelled = Rc::new(Cell::new(false));
    let m = main_cancelled.clone();
    let err = autojump(move || async move {
        spawn_system_task(async {
            sleep(secs(1)).await?;
            Err(Error::msg("system task broke"))
        });
        let r = park_forever().await;
        m.set(r.as_ref().is_err_and(Error::is_cancelled));
        r
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.to_string().contains("system task"), "{err}");
    let source = err.source().expect("the system task's error is the source");
    assert_eq!(source.to_string(), "system task broke");
    assert!(main_cancelled.get(), "everything was cancelled");
}

#[test]
fn a_panicking_system_task_resumes_its_panic_from_run() {
    let msg = expect_panic(|| {
        autojump(|| async {
            spawn_system_task(async {
                checkpoint().await?;
                if current_time() == at(0) {
                    panic!("system panic");
                }
                Ok(())
            });
            park_forever().await
        })
    });
    assert_eq!(msg, "system panic");
}

#[test]
fn a_panic_in_main_is_resumed_from_run() {
    let msg = expect_panic(|| {
        autojump(|| async {
            checkpoint().await?;
            if current_time() == at(0) {
                panic!("main panic");
            }
            Ok(())
        })
    });
    assert_eq!(msg, "main panic");
}

#[test]
fn a_nested_run_panics_naming_the_mistake() {
    autojump(|| async {
        let msg = expect_panic(|| run(|| async { Ok(()) }));
        assert!(msg.contains("runs cannot nest"), "{msg}");
        // The outer run is intact.
        sleep(secs(1)).await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_panic_while_starting_main_leaves_the_thread_able_to_run_again() {
    let msg =
        expect_panic(|| run(|| -> std::future::Ready<Result<()>> { panic!("main() panicked") }));
    assert_eq!(msg, "main() panicked");
    assert!(
        !in_trio_run(),
        "the failed run was uninstalled from the thread"
    );
    assert_eq!(run(|| async { Ok(1) }).unwrap(), 1);
}

#[test]
fn trio_calls_outside_a_run_panic_naming_the_mistake() {
    let check = |msg: String| assert!(msg.contains("outside a running trio loop"), "{msg}");
    assert!(!in_trio_run());
    assert!(!in_trio_task());
    check(expect_panic(current_time));
    check(expect_panic(current_task));
    check(expect_panic(current_effective_deadline));
    check(expect_panic(current_trio_token));
    check(expect_panic(current_statistics));
    check(expect_panic(|| spawn_system_task(async { Ok(()) })));
    check(expect_panic(|| poll_outside_run(checkpoint())));
    check(expect_panic(|| poll_outside_run(sleep(secs(1)))));
    check(expect_panic(|| {
        poll_outside_run(open_nursery(|_n| async { Ok(()) }))
    }));
    static VAR: RunVar<u8> = RunVar::new("outside");
    check(expect_panic(|| VAR.get()));
    // Plain values may be built anywhere; they just do nothing until used in a run.
    let scope = CancelScope::new();
    scope.handle().cancel();
    assert!(scope.handle().cancel_called());
}

#[test]
fn inside_a_run_the_context_is_visible() {
    autojump(|| async {
        assert!(in_trio_run());
        assert!(in_trio_task());
        Ok(())
    })
    .unwrap();
}

#[test]
fn several_runs_on_several_threads_at_once_are_independent() {
    static WHO: RunVar<usize> = RunVar::new("who");
    const N: usize = 4;
    let barrier = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let clock = MockClock::new().with_autojump_threshold(secs(0));
                Runner::new().clock(clock).run(move || async move {
                    WHO.set(i);
                    // Every run is alive at this point, on its own thread.
                    barrier.wait();
                    let total = Rc::new(Cell::new(0));
                    let t = total.clone();
                    open_nursery(|n| async move {
                        for k in 0..10 {
                            let t = t.clone();
                            n.start_soon(async move {
                                sleep(secs(k)).await?;
                                checkpoint().await?;
                                t.set(t.get() + k as usize);
                                Ok(())
                            });
                        }
                        Ok(())
                    })
                    .await?;
                    assert_eq!(WHO.get(), Some(i), "a RunVar is per run");
                    assert_eq!(current_time(), at(9), "each run has its own clock");
                    Ok(total.get() + i * 1000)
                })
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap().unwrap(), 45 + i * 1000);
    }
}

#[test]
fn a_thread_can_run_again_after_a_run_ends() {
    for i in 0..3 {
        assert_eq!(autojump(move || async move { Ok(i) }).unwrap(), i);
    }
}

#[test]
fn statistics_describe_the_loop() {
    autojump(|| async {
        let base = current_statistics();
        assert_eq!(base.tasks_living, 1, "just main");
        assert_eq!(base.io_waiters, 0);
        assert_eq!(base.run_sync_soon_queue_size, 0);
        open_nursery(|n| async move {
            n.start_soon(park_forever());
            n.start_soon(async { sleep(secs(5)).await });
            checkpoint().await?;
            let s = current_statistics();
            assert_eq!(s.tasks_living, 3);
            assert_eq!(s.live_deadlines, 1);
            assert_eq!(s.time_to_next_deadline, Some(secs(5)));
            n.start_soon(async { Ok(()) });
            assert_eq!(
                current_statistics().tasks_runnable,
                1,
                "the new child is queued"
            );
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        assert_eq!(current_statistics().tasks_living, 1);
        assert_eq!(current_statistics().live_deadlines, 0);
        Ok(())
    })
    .unwrap();
}
