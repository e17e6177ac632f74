//! The blocking primitive, `wait_task_rescheduled` + `Abort` + `reschedule` (DESIGN §3
//! "Blocking operations and cancel safety"): a cancelled wait whose abort succeeds
//! reports `Cancelled` and had no effect; one whose abort fails waits for the owed
//! `reschedule` and returns its value, never `Cancelled`; a reschedule that lands before
//! the cancellation takes effect wins. Misuse panics naming the mistake.

mod common;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use common::*;
use trio_core::lowlevel::{current_task, reschedule, wait_task_rescheduled, Abort};
use trio_core::{checkpoint, current_time, open_nursery, sleep, CancelScope, Error, Result};

fn is_cancelled<T>(r: &Result<T>) -> bool {
    r.as_ref().err().is_some_and(Error::is_cancelled)
}

#[test]
fn reschedule_wakes_the_task_with_the_value_passed() {
    autojump(|| async {
        let me = current_task();
        let me2 = me.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                reschedule(&me2, Err(Error::msg("handed over")));
                Ok(())
            });
            let r = wait_task_rescheduled(|| Abort::Succeeded).await;
            assert_eq!(r.unwrap_err().to_string(), "handed over");
            assert_eq!(current_time(), at(1));
            Ok(())
        })
        .await?;
        let _ = me;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_wait_cancelled_while_blocked_runs_its_abort_and_returns_cancelled() {
    autojump(|| async {
        let aborted = Rc::new(Cell::new(0));
        let a = aborted.clone();
        let scope = CancelScope::new().with_deadline(at(2));
        let r = scope
            .run(async move {
                let r = wait_task_rescheduled(|| {
                    a.set(a.get() + 1);
                    Abort::Succeeded
                })
                .await;
                assert!(is_cancelled(&r));
                r
            })
            .await?;
        assert_eq!(r, None);
        assert_eq!(aborted.get(), 1);
        assert_eq!(current_time(), at(2));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_failed_abort_returns_the_rescheduled_value_not_cancelled() {
    autojump(|| async {
        let me = current_task();
        let aborted = Rc::new(Cell::new(false));
        let a = aborted.clone();
        let scope = CancelScope::new();
        let h = scope.handle();
        open_nursery(|n| async move {
            let a2 = a.clone();
            n.start_soon(async move {
                checkpoint().await?; // the main task is parked now
                h.cancel();
                while !a2.get() {
                    checkpoint().await?; // its abort runs when it is next polled
                }
                sleep(secs(1)).await?; // the operation completes later
                reschedule(&me, Ok(()));
                Ok(())
            });
            let r = scope
                .run(async move {
                    let r = wait_task_rescheduled(|| {
                        a.set(true);
                        Abort::Failed
                    })
                    .await;
                    assert!(
                        r.is_ok(),
                        "a completed operation is never reported as cancelled"
                    );
                    assert_eq!(current_time(), at(1));
                    // Still level-triggered: the next checkpoint raises.
                    assert!(is_cancelled(&checkpoint().await));
                    Ok(())
                })
                .await?;
            assert_eq!(r, Some(()));
            Ok(())
        })
        .await?;
        assert!(aborted.get());
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_reschedule_before_the_cancellation_took_effect_wins() {
    autojump(|| async {
        let me = current_task();
        let aborted = Rc::new(Cell::new(false));
        let a = aborted.clone();
        let scope = CancelScope::new();
        let h = scope.handle();
        open_nursery(|n| async move {
            n.start_soon(async move {
                checkpoint().await?;
                reschedule(&me, Ok(())); // completes ...
                h.cancel(); // ... then the scope is cancelled, in the same step
                Ok(())
            });
            scope
                .run(async move {
                    let r = wait_task_rescheduled(|| {
                        a.set(true);
                        Abort::Succeeded
                    })
                    .await;
                    assert!(r.is_ok(), "completed: not Cancelled");
                    Ok(())
                })
                .await?;
            Ok(())
        })
        .await?;
        assert!(!aborted.get(), "nothing to abort once rescheduled");
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_wait_dropped_while_blocked_runs_its_abort() {
    autojump(|| async {
        let aborted = Rc::new(Cell::new(false));
        let a = aborted.clone();
        let mut w = wait_task_rescheduled(move || {
            a.set(true);
            Abort::Succeeded
        });
        assert!(poll_once(Pin::new(&mut w)).await.is_pending());
        drop(w);
        assert!(aborted.get());
        // The task is free to block again.
        sleep(secs(1)).await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_dropped_wait_whose_abort_failed_swallows_the_owed_reschedule() {
    autojump(|| async {
        let me = current_task();
        let mut w = wait_task_rescheduled(|| Abort::Failed);
        assert!(poll_once(Pin::new(&mut w)).await.is_pending());
        drop(w);
        reschedule(&me, Ok(())); // the owed wake-up: swallowed, not a panic
                                 // And the task blocks normally afterwards.
        let me2 = me.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                reschedule(&me2, Ok(()));
                Ok(())
            });
            wait_task_rescheduled(|| Abort::Succeeded).await
        })
        .await?;
        assert_eq!(current_time(), at(1));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_wait_is_a_schedule_point_and_a_cancel_point() {
    autojump(|| async {
        let me = current_task();
        let (c0, s0) = (me.cancel_points(), me.schedule_points());
        sleep(secs(1)).await?;
        assert_eq!(me.cancel_points() - c0, 1);
        assert_eq!(me.schedule_points() - s0, 1);
        Ok(())
    })
    .unwrap();
}

#[test]
fn blocking_in_two_operations_at_once_panics_naming_the_mistake() {
    autojump(|| async {
        let caught = catch_panic(async {
            let mut a = wait_task_rescheduled(|| Abort::Succeeded);
            let mut b = wait_task_rescheduled(|| Abort::Succeeded);
            std::future::poll_fn(|cx| {
                let _ = Pin::new(&mut a).poll(cx);
                let _ = Pin::new(&mut b).poll(cx);
                Poll::Ready(())
            })
            .await;
        })
        .await;
        let msg = panic_message(&*caught.expect_err("a second park panics"));
        assert!(msg.contains("only one trio operation at a time"), "{msg}");
        // The first wait was undone when it was dropped: the task works normally.
        sleep(secs(1)).await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn rescheduling_a_task_that_is_not_blocked_panics_naming_the_mistake() {
    autojump(|| async {
        let me = current_task();
        let msg = expect_panic(|| reschedule(&me, Ok(())));
        assert!(msg.contains("not blocked"), "{msg}");
        Ok(())
    })
    .unwrap();
}
