//! `Nursery::start` and `TaskStatus::started` (DESIGN §3, §4b): until `started(value)`
//! the child runs under the caller's cancel scope and its failure is returned by `start`;
//! afterwards it belongs to the nursery. `started` when the caller is already cancelled
//! does nothing; once it took effect, `start` returns `Ok` even if the caller is
//! cancelled before it resumes.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::*;
use trio_core::lowlevel::current_task;
use trio_core::{
    checkpoint, current_time, move_on_after, open_nursery, sleep, sleep_forever, CancelScope,
    Error, Nursery, Result, TaskStatus,
};

async fn park_forever() -> Result<()> {
    sleep_forever().await.map(|never| match never {})
}

/// Opens a nursery in its own task (so callers of `start` are *not* inside its scope),
/// and returns it once open. The nursery stays open until cancelled.
async fn nursery_in_other_task(top: &Nursery) -> Result<Nursery> {
    let slot: Rc<RefCell<Option<Nursery>>> = Rc::default();
    let s = slot.clone();
    top.start_soon(async move {
        open_nursery(|n| async move {
            *s.borrow_mut() = Some(n);
            park_forever().await
        })
        .await?;
        Ok(())
    });
    loop {
        if let Some(n) = slot.borrow_mut().take() {
            return Ok(n);
        }
        checkpoint().await?;
    }
}

#[test]
fn start_returns_the_started_value_and_the_child_then_belongs_to_the_nursery() {
    autojump(|| async {
        open_nursery(|n| async move {
            let v = n
                .start(|status| async move {
                    assert!(
                        current_task().parent_nursery().is_none(),
                        "not the nursery's child before started()"
                    );
                    sleep(secs(1)).await?;
                    status.started(7u32);
                    assert!(current_task().parent_nursery().is_some());
                    park_forever().await
                })
                .await?;
            assert_eq!(v, 7);
            assert_eq!(current_time(), at(1));
            assert_eq!(n.child_tasks().len(), 1);
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn until_started_the_child_is_under_the_callers_scope_not_the_nurserys() {
    autojump(|| async {
        open_nursery(|top| async move {
            let target = nursery_in_other_task(&top).await?;
            target.cancel_scope().cancel(); // the nursery is cancelled before the child runs
            let cancelled_after_start = Rc::new(Cell::new(false));
            let c = cancelled_after_start.clone();
            let v = target
                .start(|status| async move {
                    // Not cancelled: the target's cancellation does not reach us yet.
                    sleep(secs(1)).await?;
                    status.started(5);
                    // Now under the cancelled nursery.
                    let r = checkpoint().await;
                    c.set(r.as_ref().is_err_and(Error::is_cancelled));
                    r
                })
                .await?;
            assert_eq!(v, 5);
            assert_eq!(current_time(), at(1));
            // The target nursery can close only after the moved child ended.
            sleep(secs(1)).await?;
            assert!(cancelled_after_start.get());
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_the_caller_before_started_cancels_the_child_and_start_returns_cancelled() {
    autojump(|| async {
        open_nursery(|top| async move {
            let target = nursery_in_other_task(&top).await?;
            let child_cancelled = Rc::new(Cell::new(false));
            let c = child_cancelled.clone();
            let r = move_on_after(
                secs(3),
                target.start(|status: TaskStatus<()>| async move {
                    let r = park_forever().await;
                    c.set(r.as_ref().is_err_and(Error::is_cancelled));
                    r?;
                    status.started(());
                    Ok(())
                }),
            )
            .await?;
            assert_eq!(r, None, "start raised Cancelled, absorbed by move_on_after");
            assert!(child_cancelled.get());
            assert_eq!(current_time(), at(3));
            assert!(
                !target.cancel_scope().cancel_called(),
                "the target is unaffected"
            );
            top.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_child_failing_before_started_makes_start_return_that_error_and_spares_the_nursery() {
    autojump(|| async {
        let r = open_nursery(|n| async move {
            let sibling_ok = Rc::new(Cell::new(false));
            let s = sibling_ok.clone();
            n.start_soon(async move {
                sleep(secs(5)).await?;
                s.set(true);
                Ok(())
            });
            let err = n
                .start(|_status: TaskStatus<u16>| async move {
                    sleep(secs(1)).await?;
                    Err(Error::msg("bind failed"))
                })
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), "bind failed");
            assert!(!n.cancel_scope().cancel_called());
            sleep(secs(5)).await?;
            assert!(sibling_ok.get(), "the sibling was not cancelled");
            Ok("body done")
        })
        .await?;
        assert_eq!(r, Some("body done"));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_child_returning_without_started_is_an_error_naming_the_mistake() {
    autojump(|| async {
        open_nursery(|n| async move {
            let err = n
                .start(|_status: TaskStatus<()>| async move { checkpoint().await })
                .await
                .unwrap_err();
            assert!(!err.is_cancelled());
            assert!(err.to_string().contains("started()"), "{err}");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_child_panicking_before_started_resumes_the_panic_from_start() {
    autojump(|| async {
        open_nursery(|n| async move {
            let caught = catch_panic(n.start(|_status: TaskStatus<()>| async move {
                checkpoint().await?;
                if current_time() == at(0) {
                    panic!("start child panicked");
                }
                Ok(())
            }))
            .await;
            let payload = caught.expect_err("the panic comes out of start()");
            assert_eq!(panic_message(&*payload), "start child panicked");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn started_when_the_caller_is_already_cancelled_does_nothing() {
    autojump(|| async {
        open_nursery(|n| async move {
            let scope = CancelScope::new();
            let h = scope.handle();
            let still_orphan = Rc::new(Cell::new(false));
            let o = still_orphan.clone();
            let r = scope
                .run(n.start(move |status| async move {
                    h.cancel(); // the caller is now cancelled
                    status.started(1);
                    // Nothing moved: we are not the nursery's child, and still cancelled.
                    o.set(current_task().parent_nursery().is_none());
                    checkpoint().await?;
                    Ok(())
                }))
                .await?;
            assert_eq!(
                r, None,
                "start raised the child's Cancelled; the scope caught it"
            );
            assert!(still_orphan.get());
            assert!(
                !n.cancel_scope().cancel_called(),
                "the nursery was not touched"
            );
            assert!(n.child_tasks().is_empty());
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn start_returns_ok_when_the_caller_is_cancelled_after_started_took_effect() {
    autojump(|| async {
        open_nursery(|n| async move {
            let scope = CancelScope::new();
            let h = scope.handle();
            let got = Rc::new(Cell::new(None));
            let g = got.clone();
            let r = scope
                .run(async {
                    let v = n
                        .start(move |status| async move {
                            status.started(9);
                            h.cancel(); // after started took effect, before the caller resumes
                            Ok(())
                        })
                        .await?;
                    g.set(Some(v));
                    checkpoint().await?; // level-triggered: the next cancel point raises
                    Ok(())
                })
                .await?;
            assert_eq!(
                got.get(),
                Some(9),
                "a completed start is never reported as cancelled"
            );
            assert_eq!(r, None);
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn ignored_task_status_lets_a_start_function_run_with_start_soon() {
    autojump(|| async {
        async fn server(status: TaskStatus<u32>) -> Result<()> {
            status.started(80);
            sleep(secs(1)).await
        }
        open_nursery(|n| async move {
            n.start_soon(server(TaskStatus::ignored()));
            assert_eq!(n.start(server).await?, 80);
            Ok(())
        })
        .await?;
        assert_eq!(current_time(), at(1));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_dropped_start_cancels_its_child_the_nursery_waits_for_it_and_siblings_are_spared() {
    autojump(|| async {
        let cleaned_up = Rc::new(Cell::new(None));
        let sibling_ok = Rc::new(Cell::new(false));
        let (c, s) = (cleaned_up.clone(), sibling_ok.clone());
        let r = open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(5)).await?;
                s.set(true);
                Ok(())
            });
            let mut fut = Box::pin(n.start(|status: TaskStatus<()>| async move {
                let r = park_forever().await;
                CancelScope::new()
                    .with_shield(true)
                    .run(sleep(secs(2)))
                    .await?;
                c.set(Some(current_time()));
                r?;
                status.started(());
                Ok(())
            }));
            assert!(poll_once(fut.as_mut()).await.is_pending());
            drop(fut);
            Ok(1)
        })
        .await?;
        assert_eq!(r, Some(1));
        assert_eq!(
            cleaned_up.get(),
            Some(at(2)),
            "the nursery joined the child"
        );
        assert!(
            sibling_ok.get(),
            "the child's Cancelled did not cancel its siblings"
        );
        assert_eq!(current_time(), at(5));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_start_whose_child_started_at_once_is_still_a_schedule_point() {
    autojump(|| async {
        open_nursery(|n| async move {
            let me = current_task();
            let s0 = me.schedule_points();
            let v = n
                .start(|status| async move {
                    status.started("ready");
                    Ok(())
                })
                .await?;
            assert_eq!(v, "ready");
            assert!(me.schedule_points() > s0, "start yielded");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn after_started_a_failing_child_fails_the_nursery_not_the_caller() {
    autojump(|| async {
        let err = open_nursery(|n| async move {
            let v = n
                .start(|status| async move {
                    status.started(3);
                    sleep(secs(1)).await?;
                    Err(Error::msg("server crashed"))
                })
                .await?;
            assert_eq!(v, 3, "start itself succeeded");
            park_forever().await // cancelled by the child's failure
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "server crashed");
        assert_eq!(current_time(), at(1));
        Ok(())
    })
    .unwrap();
}
