//! The task record kept small (see `BENCHMARKS.md`, "Idle task memory"): a task keeps
//! its waker only once it first blocks, so a wake-up that arrives during the very poll
//! that parked it must still wake it; rarely used parts (an owned name, child
//! nurseries) live in a side box allocated on demand; ids come from per-thread blocks
//! and stay unique in the process; a nursery lists its `start_soon` children through
//! its scope and its `start`ed ones itself.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use common::*;
use trio_core::lowlevel::{
    current_task, reschedule, wait_all_tasks_blocked, wait_task_rescheduled, Abort,
};
use trio_core::{checkpoint, open_nursery, sleep_forever, CancelHandle, CancelScope};

/// Runs `wake` (given the child and the scope around its park) inside the poll in which a
/// child task parks, then makes that poll return `Pending` with nothing else due to wake
/// the child. Returns whether the child finished
/// before the run went quiet (if the wake-up was lost it would sleep forever; the test
/// then wakes it by hand so it fails instead of hanging).
fn woken_during_the_parking_poll(
    wake: impl FnOnce(&trio_core::lowlevel::Task, &CancelHandle) + 'static,
) -> bool {
    autojump(|| async move {
        let done = Rc::new(Cell::new(false));
        let stuck: Rc<RefCell<Option<Waker>>> = Rc::default();
        let (d, s) = (done.clone(), stuck.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                let me = current_task();
                let scope = CancelScope::new();
                let handle = scope.handle();
                scope
                    .run(async move {
                        let mut park = pin!(wait_task_rescheduled(|| Abort::Succeeded));
                        let mut wake = Some(wake);
                        poll_fn(|cx| match wake.take() {
                            Some(wake) => {
                                // Parks: the task never blocked before, so it has kept no
                                // waker yet.
                                assert!(park.as_mut().poll(cx).is_pending());
                                wake(&me, &handle);
                                *s.borrow_mut() = Some(cx.waker().clone());
                                Poll::Pending
                            }
                            None => Poll::Ready(()),
                        })
                        .await;
                        park.await
                    })
                    .await?;
                d.set(true);
                Ok(())
            });
            wait_all_tasks_blocked(secs(0)).await?;
            let woke = done.get();
            if !woke {
                // Unstick the child so the run can end: cancel its park, resume its poll.
                n.cancel_scope().cancel();
                if let Some(w) = stuck.borrow_mut().take() {
                    w.wake();
                }
            }
            Ok(woke)
        })
        .await
        .map(|woke| woke.unwrap_or(false))
    })
    .unwrap()
}

#[test]
fn a_reschedule_during_the_poll_that_parked_the_task_still_wakes_it() {
    assert!(woken_during_the_parking_poll(|me, _| reschedule(
        me,
        Ok(())
    )));
}

#[test]
fn a_cancellation_during_the_poll_that_parked_the_task_still_wakes_it() {
    assert!(woken_during_the_parking_poll(|_, scope| scope.cancel()));
}

#[test]
fn a_task_that_blocked_once_is_woken_by_later_reschedules_too() {
    autojump(|| async {
        let me = current_task();
        open_nursery(|n| async move {
            n.start_soon(async move {
                for _ in 0..3 {
                    checkpoint().await?;
                    reschedule(&me, Ok(()));
                }
                Ok(())
            });
            for _ in 0..3 {
                wait_task_rescheduled(|| Abort::Succeeded).await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_owned_task_name_is_kept() {
    autojump(|| async {
        open_nursery(|n| async move {
            for i in 0..3 {
                n.start_soon_named(format!("worker-{i}"), async move {
                    assert_eq!(current_task().name(), format!("worker-{i}"));
                    Ok(())
                });
            }
            n.start_soon_named("static", async {
                assert_eq!(current_task().name(), "static");
                Ok(())
            });
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_task_lists_only_the_nurseries_it_has_open() {
    autojump(|| async {
        let me = current_task();
        assert!(me.child_nurseries().is_empty());
        open_nursery(|_| async {
            assert_eq!(current_task().child_nurseries().len(), 1);
            open_nursery(|_| async {
                assert_eq!(current_task().child_nurseries().len(), 2);
                Ok(())
            })
            .await?;
            assert_eq!(current_task().child_nurseries().len(), 1);
            Ok(())
        })
        .await?;
        assert!(me.child_nurseries().is_empty());
        Ok(())
    })
    .unwrap();
}

#[test]
fn task_ids_are_unique_across_threads_and_id_blocks() {
    let ids_of_a_run = || {
        std::thread::spawn(|| {
            autojump(|| async {
                let ids = Rc::new(RefCell::new(Vec::new()));
                let i = ids.clone();
                open_nursery(|n| async move {
                    // More than one per-thread block of ids.
                    for _ in 0..2500 {
                        let i = i.clone();
                        n.start_soon(async move {
                            i.borrow_mut().push(current_task().id());
                            Ok(())
                        });
                    }
                    Ok(())
                })
                .await?;
                let ids = ids.borrow().clone();
                Ok(ids)
            })
            .unwrap()
        })
    };
    let (a, b) = (ids_of_a_run(), ids_of_a_run());
    let mut all: Vec<u64> = a.join().unwrap();
    all.extend(b.join().unwrap());
    assert_eq!(all.len(), 5000);
    let unique: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "a task id was handed out twice");
}

#[test]
fn a_nursery_lists_both_its_soon_and_its_started_children_until_they_end() {
    autojump(|| async {
        open_nursery(|n| async move {
            let soon = Rc::new(RefCell::new(None));
            let s = soon.clone();
            n.start_soon(async move {
                *s.borrow_mut() = Some(current_task());
                sleep_forever().await?;
                Ok(())
            });
            let started = n
                .start(|status| async move {
                    status.started(current_task());
                    sleep_forever().await?;
                    Ok(())
                })
                .await?;
            let soon = soon.borrow().clone().expect("the soon child ran");
            let children = n.child_tasks();
            assert_eq!(children.len(), 2);
            assert!(children.contains(&soon) && children.contains(&started));
            assert_eq!(
                started.parent_nursery().map(|p| p.parent_task()),
                Some(current_task())
            );
            n.cancel_scope().cancel();
            wait_all_tasks_blocked(secs(0)).await?;
            assert!(n.child_tasks().is_empty());
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_nursery_waits_for_a_started_child_after_its_soon_children_ended() {
    autojump(|| async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let o = order.clone();
        open_nursery(|n| async move {
            let o1 = o.clone();
            n.start_soon(async move {
                o1.borrow_mut().push("soon");
                Ok(())
            });
            let o2 = o.clone();
            n.start(|status| async move {
                status.started(());
                for _ in 0..5 {
                    checkpoint().await?;
                }
                o2.borrow_mut().push("started");
                Ok(())
            })
            .await?;
            Ok(())
        })
        .await?;
        order.borrow_mut().push("joined");
        assert_eq!(*order.borrow(), ["soon", "started", "joined"]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_wake_up_checks_above_can_fail_a_child_that_nobody_woke() {
    // Without a wake-up the helper reports `false` (rather than hanging): the two tests
    // using it are not vacuous.
    assert!(!woken_during_the_parking_poll(|_, _| {}));
}
