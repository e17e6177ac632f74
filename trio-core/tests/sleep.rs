//! A sleep is Trio's `move_on_at(deadline, sleep_forever())`, built without a scope: the
//! task parks with an entry in the deadline queue (see `timeout.rs`). These tests pin
//! down that it still behaves exactly like the scope version: a checkpoint when the
//! deadline already passed, `Cancelled` when an enclosing scope was cancelled first,
//! cancel-safe, and no entry left behind however the sleep ends.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use common::*;
use trio_core::lowlevel::{current_statistics, current_task, reschedule};
use trio_core::{
    checkpoint, current_time, move_on_after, open_nursery, sleep, sleep_until, CancelScope,
    ErrorKind, Instant,
};

#[test]
fn a_sleep_whose_deadline_passed_is_a_checkpoint_that_yields_and_returns_ok() {
    autojump(|| async {
        sleep(secs(2)).await?;
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                r.set(true);
                Ok(())
            });
            // Both already passed (and equal to now): each still yields to the sibling.
            sleep_until(at(1)).await?;
            sleep_until(current_time()).await?;
            Ok(())
        })
        .await?;
        assert!(ran.get(), "the sibling ran during the sleep");
        assert_eq!(current_time(), at(2), "no time passed");
        let me = current_task();
        let before = (me.schedule_points(), me.cancel_points());
        sleep_until(at(0)).await?;
        assert_eq!(me.schedule_points(), before.0 + 1);
        assert_eq!(me.cancel_points(), before.1 + 1);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_sleep_in_a_cancelled_scope_raises_cancelled_whether_or_not_its_deadline_passed() {
    autojump(|| async {
        for deadline in [at(0), at(100)] {
            let scope = CancelScope::new();
            let handle = scope.handle();
            let inner = Rc::new(RefCell::new(None));
            let seen = inner.clone();
            let r = scope
                .run(async move {
                    handle.cancel();
                    let r = sleep_until(deadline).await;
                    *seen.borrow_mut() = Some(r.as_ref().map_err(|e| e.kind()).copied());
                    r
                })
                .await?;
            assert_eq!(r, None, "the enclosing scope absorbed it");
            assert_eq!(*inner.borrow(), Some(Err(ErrorKind::Cancelled)));
        }
        assert_eq!(current_time(), at(0), "a cancelled sleep never waited");
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_sleep_woken_by_its_deadline_still_raises_if_an_enclosing_scope_was_cancelled_first() {
    // B and A sleep to the same instant, B first: the queue fires B then A in one turn,
    // B runs first and cancels A's enclosing scope before A resumes. Trio's scope version
    // gives `Cancelled` here (the sleep's own scope does not absorb a cancellation its
    // parent also has), so the scope-less sleep must too.
    autojump(|| async {
        let outer = CancelScope::new();
        let handle = outer.handle();
        let a_result = Rc::new(RefCell::new(None));
        let seen = a_result.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep_until(at(5)).await?;
                handle.cancel();
                Ok(())
            });
            checkpoint().await?; // B registers its deadline first
            let r = outer
                .run(async move {
                    let r = sleep_until(at(5)).await;
                    *seen.borrow_mut() = Some(r.as_ref().map_err(|e| e.kind()).copied());
                    r
                })
                .await?;
            assert_eq!(r, None);
            Ok(())
        })
        .await?;
        assert_eq!(*a_result.borrow(), Some(Err(ErrorKind::Cancelled)));
        assert_eq!(current_time(), at(5));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_sleep_cancelled_while_parked_leaves_no_deadline_behind() {
    autojump(|| async {
        let r = move_on_after(secs(1), sleep(secs(1000))).await?;
        assert_eq!(r, None);
        assert_eq!(current_time(), at(1));
        let stats = current_statistics();
        assert_eq!(stats.live_deadlines, 0);
        assert_eq!(stats.time_to_next_deadline, None);
        // Nothing fires at 1000 either (a stale entry would reschedule a running task).
        sleep(secs(2000)).await?;
        assert_eq!(current_time(), at(2001));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_sleep_dropped_while_parked_removes_its_deadline() {
    autojump(|| async {
        {
            let mut s = pin!(sleep(secs(50)));
            std::future::poll_fn(|cx| {
                assert!(s.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(current_statistics().live_deadlines, 1);
        }
        assert_eq!(current_statistics().live_deadlines, 0);
        // The task can park again at once (the dropped park was undone).
        sleep(secs(100)).await?;
        assert_eq!(current_time(), at(100), "nothing woke the task at 50");
        Ok(())
    })
    .unwrap();
}

/// Returns `Pending` once without arranging a wake-up: the task sleeps until something
/// else wakes it.
async fn until_woken() {
    let mut first = true;
    std::future::poll_fn(|_| {
        if std::mem::take(&mut first) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await
}

#[test]
fn a_sleep_dropped_after_its_deadline_fired_but_before_it_resumed_leaves_nothing_behind() {
    autojump(|| async {
        {
            let mut s = pin!(sleep(secs(5)));
            std::future::poll_fn(|cx| {
                assert!(s.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            until_woken().await; // the deadline's reschedule is the only wake-up
            assert_eq!(current_time(), at(5));
            assert_eq!(current_statistics().live_deadlines, 0);
        } // dropped rescheduled: its entry is already gone and must not be removed again
        assert_eq!(current_statistics().live_deadlines, 0);
        let r = move_on_after(secs(1), sleep(secs(10))).await?;
        assert_eq!(r, None);
        assert_eq!(current_statistics().live_deadlines, 0);
        sleep(secs(3)).await?;
        assert_eq!(current_time(), at(9));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_sleep_dropped_after_someone_elses_reschedule_removes_its_deadline() {
    autojump(|| async {
        let me = current_task();
        open_nursery(|n| async move {
            let mut s = pin!(sleep(secs(10)));
            std::future::poll_fn(|cx| {
                assert!(s.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            n.start_soon(async move {
                reschedule(&me, Ok(()));
                Ok(())
            });
            until_woken().await;
            assert_eq!(current_statistics().live_deadlines, 1);
            Ok(())
        })
        .await?;
        assert_eq!(current_statistics().live_deadlines, 0);
        // Nothing fires at 10 into this task, parked elsewhere by then.
        sleep(secs(20)).await?;
        assert_eq!(current_time(), at(20));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_sleeping_task_woken_by_someone_elses_reschedule_gets_an_internal_error() {
    autojump(|| async {
        let me = current_task();
        let r = open_nursery(|n| async move {
            n.start_soon(async move {
                checkpoint().await?;
                reschedule(&me, Ok(()));
                Ok(())
            });
            sleep(secs(10)).await
        })
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(e.to_string().contains("reschedule"), "{e}");
        // Its deadline entry is gone: nothing fires at 10 into a task that is not parked.
        assert_eq!(current_statistics().live_deadlines, 0);
        sleep(secs(20)).await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn many_sleeps_to_the_same_instant_wake_together_in_the_order_they_slept() {
    autojump(|| async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        open_nursery(|n| async move {
            for i in 0..200 {
                let o = o.clone();
                n.start_soon(async move {
                    sleep_until(at(7)).await?;
                    o.borrow_mut().push((i, current_time()));
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let order = order.borrow();
        assert_eq!(order.len(), 200);
        assert!(order.iter().all(|&(_, t)| t == at(7)));
        let ids: Vec<_> = order.iter().map(|&(i, _)| i).collect();
        assert_eq!(ids, (0..200).collect::<Vec<_>>());
        Ok(())
    })
    .unwrap();
}

#[test]
fn sleeps_far_in_the_future_and_at_the_end_of_time_never_fire() {
    autojump(|| async {
        let r = move_on_after(secs(3), async {
            open_nursery(|n| async move {
                n.start_soon(sleep_until(Instant::MAX));
                n.start_soon(sleep(Duration::MAX));
                n.start_soon(sleep(Duration::from_secs(u64::MAX)));
                Ok(())
            })
            .await
        })
        .await?;
        assert_eq!(r, None, "the sleeps were cancelled at 3, not woken");
        assert_eq!(current_time(), at(3));
        Ok(())
    })
    .unwrap();
}

#[test]
fn many_concurrent_sleeps_wake_in_deadline_order() {
    // Exercises the queue's heap with out-of-order inserts and same-deadline ties.
    autojump(|| async {
        let woke = Rc::new(RefCell::new(Vec::new()));
        let w = woke.clone();
        open_nursery(|n| async move {
            let mut x = 12345u64;
            for _ in 0..1_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let d = Duration::from_millis(x % 500);
                let w = w.clone();
                n.start_soon(async move {
                    sleep(d).await?;
                    assert_eq!(current_time(), Instant::ZERO + d);
                    w.borrow_mut().push(d);
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let woke = woke.borrow();
        assert_eq!(woke.len(), 1_000);
        assert!(woke.windows(2).all(|p| p[0] <= p[1]));
        Ok(())
    })
    .unwrap();
}

/// A parked task's future stays in its allocation for as long as it is parked, so the
/// futures that park are held small: `sleep`'s is a queue key, the task and a few flags
/// (it was 144 bytes as nested `async fn`s), and the park's flags share the padding of
/// its abort state (a `Park` with its own padding made every parked future, and so every
/// idle task, 8 bytes larger).
#[test]
fn parked_futures_stay_small() {
    use std::mem::size_of_val;
    use trio_core::lowlevel::{wait_task_rescheduled, Abort};
    assert!(size_of_val(&sleep(secs(1))) <= 64);
    assert!(size_of_val(&sleep_until(Instant::ZERO)) <= 64);
    assert!(size_of_val(&wait_task_rescheduled(|| Abort::Succeeded)) <= 16);
    assert!(size_of_val(&trio_core::sleep_forever()) <= 24);
}

#[test]
fn a_relative_sleep_counts_from_its_first_poll() {
    autojump(|| async {
        let t0 = current_time();
        let s = sleep(secs(2));
        sleep(secs(5)).await?;
        s.await?;
        assert_eq!(current_time() - t0, secs(7));
        Ok(())
    })
    .unwrap();
}
