//! Nurseries (DESIGN §3 "Nurseries and tasks"): the body and the children are one unit,
//! failures cancel the rest and come back (one as is, several as a group, in order),
//! panics are resumed after siblings were joined, closed nurseries refuse new tasks, and a
//! nursery dropped early still has its children cancelled and waited for.

mod common;

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use common::*;
use trio_core::lowlevel::current_task;
use trio_core::{
    checkpoint, checkpoint_if_cancelled, current_effective_deadline, current_time, move_on_after,
    open_nursery, sleep, sleep_forever, CancelHandle, CancelScope, Error, ErrorKind, Nursery,
    Result, TaskStatus,
};

/// Blocks until cancelled, then propagates the `Cancelled`.
async fn park_forever() -> Result<()> {
    sleep_forever().await.map(|never| match never {})
}

/// Blocks until cancelled, then fails with a real error `msg` (a task whose cleanup fails).
async fn fail_when_cancelled(msg: &'static str) -> Result<()> {
    match sleep_forever().await {
        Ok(never) => match never {},
        Err(e) if e.is_cancelled() => Err(Error::msg(msg)),
        Err(e) => Err(e),
    }
}

/// Sleeps `s` seconds, then fails with `msg`.
async fn fail_after_secs(s: u64, msg: &'static str) -> Result<()> {
    sleep(secs(s)).await?;
    Err(Error::msg(msg))
}

fn leaf_messages(e: &Error) -> Vec<String> {
    e.leaves().map(|l| l.to_string()).collect()
}

#[test]
fn nursery_returns_only_after_the_body_and_every_child_finished() {
    autojump(|| async {
        let done = Rc::new(Cell::new(0));
        let d = done.clone();
        let r = open_nursery(|n| async move {
            for i in 1..=3 {
                let d = d.clone();
                n.start_soon(async move {
                    sleep(secs(i)).await?;
                    d.set(d.get() + 1);
                    Ok(())
                });
            }
            Ok("body value")
        })
        .await?;
        assert_eq!(r, Some("body value"));
        assert_eq!(done.get(), 3);
        assert_eq!(current_time(), at(3));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_child_failing_while_the_body_is_blocked_cancels_the_body_and_returns_that_error() {
    autojump(|| async {
        let body_cancelled = Rc::new(Cell::new(false));
        let b = body_cancelled.clone();
        let err = open_nursery(|n| async move {
            n.start_soon(fail_after_secs(1, "boom"));
            let r = park_forever().await;
            b.set(r.as_ref().is_err_and(Error::is_cancelled));
            r
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert!(err.group().is_none(), "one failure comes back as it is");
        assert!(body_cancelled.get(), "the body got Cancelled");
        assert_eq!(current_time(), at(1));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_failing_child_cancels_its_siblings() {
    autojump(|| async {
        let sibling_cancelled = Rc::new(Cell::new(false));
        let s = sibling_cancelled.clone();
        let err = open_nursery(|n| async move {
            n.start_soon(async move {
                let r = sleep(secs(100)).await;
                s.set(r.as_ref().is_err_and(Error::is_cancelled));
                r
            });
            n.start_soon(fail_after_secs(1, "boom"));
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert!(sibling_cancelled.get());
        assert_eq!(
            current_time(),
            at(1),
            "the sibling did not sleep to the end"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn two_failing_children_come_back_as_a_group_in_the_order_they_failed() {
    autojump(|| async {
        let err = open_nursery(|n| async move {
            // Spawned first, fails second (in its cancellation cleanup).
            n.start_soon(fail_when_cancelled("second"));
            n.start_soon(fail_after_secs(1, "first"));
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Group);
        let members = err.group().expect("a group");
        assert_eq!(members.len(), 2);
        assert_eq!(leaf_messages(&err), ["first", "second"]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_body_error_and_a_child_error_form_a_group_body_first() {
    autojump(|| async {
        let err = open_nursery(|n| async move {
            n.start_soon(fail_when_cancelled("child"));
            checkpoint().await?; // the child starts and blocks
            Err::<(), _>(Error::msg("body"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Group);
        assert_eq!(leaf_messages(&err), ["body", "child"]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn nested_nurseries_nest_their_groups() {
    autojump(|| async {
        let err = open_nursery(|outer| async move {
            outer.start_soon(fail_when_cancelled("outer child"));
            open_nursery(|inner| async move {
                inner.start_soon(fail_after_secs(1, "a"));
                inner.start_soon(fail_when_cancelled("b"));
                Ok(())
            })
            .await?;
            Ok(())
        })
        .await
        .unwrap_err();
        let outer = err.group().expect("outer group");
        assert_eq!(outer.len(), 2);
        let inner = outer[0]
            .group()
            .expect("the inner nursery's group is nested");
        assert_eq!(
            inner.iter().map(Error::to_string).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(outer[1].to_string(), "outer child");
        assert_eq!(leaf_messages(&err), ["a", "b", "outer child"]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelled_children_of_a_failed_nursery_leave_only_the_real_error() {
    autojump(|| async {
        let err = open_nursery(|n| async move {
            for _ in 0..3 {
                n.start_soon(park_forever());
            }
            n.start_soon(fail_after_secs(1, "real"));
            park_forever().await
        })
        .await
        .unwrap_err();
        assert!(!err.is_cancelled());
        assert!(
            err.group().is_none(),
            "Cancelled leaves were stripped: {err:?}"
        );
        assert_eq!(err.to_string(), "real");
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_child_panic_is_resumed_from_the_nursery_after_siblings_were_cancelled_and_joined() {
    autojump(|| async {
        let cleaned_up = Rc::new(Cell::new(None));
        let c = cleaned_up.clone();
        let caught = catch_panic(open_nursery(|n| async move {
            n.start_soon(async move {
                let r = park_forever().await;
                // Async cleanup after being cancelled, under a shield.
                CancelScope::new()
                    .with_shield(true)
                    .run(sleep(secs(5)))
                    .await?;
                c.set(Some(current_time()));
                r
            });
            n.start_soon(async {
                sleep(secs(1)).await?;
                if current_time() == at(1) {
                    panic!("kaboom");
                }
                Ok(())
            });
            Ok(())
        }))
        .await;
        let payload = caught.expect_err("the panic comes out of open_nursery");
        assert_eq!(panic_message(&*payload), "kaboom");
        assert_eq!(
            cleaned_up.get(),
            Some(at(6)),
            "the sibling was cancelled at t=1 and joined after its cleanup"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_body_panic_is_resumed_from_the_nursery_after_the_children_were_cancelled_and_joined() {
    autojump(|| async {
        let cleaned_up = Rc::new(Cell::new(None));
        let c = cleaned_up.clone();
        let caught = catch_panic(open_nursery(|n| async move {
            n.start_soon(async move {
                let r = park_forever().await;
                CancelScope::new()
                    .with_shield(true)
                    .run(sleep(secs(5)))
                    .await?;
                c.set(Some(current_time()));
                r
            });
            sleep(secs(1)).await?;
            if current_time() == at(1) {
                panic!("body panicked");
            }
            Ok(())
        }))
        .await;
        let payload = caught.expect_err("the panic comes out of open_nursery");
        assert_eq!(panic_message(&*payload), "body panicked");
        assert_eq!(
            cleaned_up.get(),
            Some(at(6)),
            "the child was cancelled and joined before the panic left the nursery"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_body_panic_is_resumed_even_when_no_child_failed() {
    autojump(|| async {
        let caught = catch_panic(open_nursery(|_n| async move {
            checkpoint().await?;
            if current_time() == at(0) {
                panic!("lonely body panicked");
            }
            Ok(())
        }))
        .await;
        let payload = caught.expect_err("the panic comes out of open_nursery");
        assert_eq!(panic_message(&*payload), "lonely body panicked");
        Ok(())
    })
    .unwrap();
}

#[test]
fn start_soon_runs_none_of_the_child_before_returning() {
    autojump(|| async {
        open_nursery(|n| async move {
            let ran = Rc::new(Cell::new(false));
            let r = ran.clone();
            n.start_soon(async move {
                r.set(true);
                Ok(())
            });
            assert!(!ran.get(), "start_soon ran child code");
            checkpoint().await?;
            assert!(ran.get(), "the child runs once the body yields");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn spawning_into_a_closed_nursery_panics_naming_the_mistake() {
    autojump(|| async {
        let saved: Rc<RefCell<Option<Nursery>>> = Rc::default();
        let s = saved.clone();
        open_nursery(|n| async move {
            *s.borrow_mut() = Some(n.clone());
            Ok(())
        })
        .await?;
        let n = saved.borrow_mut().take().expect("saved");
        assert!(n.is_closed());
        let msg = expect_panic(|| n.start_soon(async { Ok(()) }));
        assert!(msg.contains("nursery is closed"), "{msg}");
        let caught = catch_panic(n.start(|status: TaskStatus<()>| async move {
            status.started(());
            Ok(())
        }))
        .await;
        let msg = panic_message(&*caught.expect_err("start on a closed nursery panics"));
        assert!(msg.contains("nursery is closed"), "{msg}");
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_nursery_whose_body_finished_still_accepts_children_from_its_children() {
    autojump(|| async {
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        open_nursery(|n| async move {
            let n2 = n.clone();
            n.start_soon(async move {
                sleep(secs(1)).await?;
                assert!(!n2.is_closed(), "open while a child runs");
                let c = c.clone();
                n2.start_soon(async move {
                    sleep(secs(1)).await?;
                    c.set(c.get() + 1);
                    Ok(())
                });
                Ok(())
            });
            Ok(())
        })
        .await?;
        assert_eq!(count.get(), 1);
        assert_eq!(current_time(), at(2));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_child_cancelling_the_nursery_scope_makes_open_nursery_return_none() {
    autojump(|| async {
        let saved: Rc<RefCell<Option<CancelHandle>>> = Rc::default();
        let s = saved.clone();
        let r = open_nursery(|n| async move {
            let h = n.cancel_scope();
            *s.borrow_mut() = Some(h.clone());
            n.start_soon(park_forever());
            n.start_soon(async move {
                sleep(secs(1)).await?;
                h.cancel();
                Ok(())
            });
            park_forever().await?;
            Ok("unreachable")
        })
        .await?;
        assert_eq!(r, None);
        let h = saved.borrow_mut().take().expect("saved");
        assert!(h.cancelled_caught());
        assert_eq!(current_time(), at(1));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_body_that_cancels_its_children_and_returns_keeps_its_value() {
    autojump(|| async {
        let saved: Rc<RefCell<Option<CancelHandle>>> = Rc::default();
        let s = saved.clone();
        let r = open_nursery(|n| async move {
            *s.borrow_mut() = Some(n.cancel_scope());
            n.start_soon(park_forever());
            sleep(secs(1)).await?;
            n.cancel_scope().cancel();
            Ok(42)
        })
        .await?;
        assert_eq!(r, Some(42), "the body finished: its value is not lost");
        let h = saved.borrow_mut().take().expect("saved");
        assert!(h.cancelled_caught(), "the children's Cancelled was caught");
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_nursery_opened_in_a_cancelled_scope_starts_cancelled() {
    autojump(|| async {
        let scope = CancelScope::new();
        scope.handle().cancel();
        let child_cancelled = Rc::new(Cell::new(false));
        let c = child_cancelled.clone();
        let r = scope
            .run(open_nursery(|n| async move {
                n.start_soon(async move {
                    let r = checkpoint_if_cancelled().await;
                    c.set(r.as_ref().is_err_and(Error::is_cancelled));
                    r
                });
                Ok(())
            }))
            .await?;
        assert_eq!(r, None);
        assert!(child_cancelled.get());
        Ok(())
    })
    .unwrap();
}

#[test]
fn children_inherit_the_deadline_of_where_the_nursery_was_opened() {
    autojump(|| async {
        let r = move_on_after(secs(5), async {
            open_nursery(|n| async move {
                n.start_soon(async {
                    assert_eq!(current_effective_deadline(), Some(at(5)));
                    park_forever().await
                });
                Ok(())
            })
            .await
        })
        .await?;
        assert_eq!(r, None);
        assert_eq!(current_time(), at(5));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_nursery_future_dropped_early_cancels_its_children_and_the_run_waits_for_them() {
    let finished_at = Rc::new(Cell::new(None));
    let f = finished_at.clone();
    autojump(move || async move {
        let saw_cancel = Rc::new(Cell::new(false));
        let s = saw_cancel.clone();
        let mut fut = Box::pin(open_nursery(|n| async move {
            n.start_soon(async move {
                let r = park_forever().await;
                s.set(r.as_ref().is_err_and(Error::is_cancelled));
                CancelScope::new()
                    .with_shield(true)
                    .run(sleep(secs(10)))
                    .await?;
                f.set(Some(current_time()));
                r
            });
            park_forever().await
        }));
        assert!(poll_once(fut.as_mut()).await.is_pending());
        drop(fut); // misuse, as a `select!` would do
        sleep(secs(1)).await?;
        assert!(saw_cancel.get(), "the orphaned child was cancelled");
        Ok(())
    })
    .unwrap();
    assert_eq!(
        finished_at.get(),
        Some(at(10)),
        "run() waited for the orphaned child's cleanup"
    );
}

#[test]
fn a_real_error_in_a_dropped_nurserys_child_fails_the_run() {
    let err = autojump(|| async {
        let mut fut = Box::pin(open_nursery(|n| async move {
            n.start_soon(fail_when_cancelled("lost"));
            park_forever().await
        }));
        assert!(poll_once(fut.as_mut()).await.is_pending());
        drop(fut);
        Ok(())
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.to_string().contains("dropped"), "{err}");
    let source = err.source().expect("the lost error is the source");
    assert!(source.to_string().contains("lost"), "{source}");
}

#[test]
fn a_panic_in_a_dropped_nurserys_child_comes_out_of_run_with_its_payload() {
    let caught = catch_unwind(AssertUnwindSafe(|| {
        autojump(|| async {
            let mut fut = Box::pin(open_nursery(|n| async move {
                n.start_soon(async {
                    let r = park_forever().await;
                    if r.is_err() {
                        panic!("child cleanup broke");
                    }
                    r
                });
                park_forever().await
            }));
            assert!(poll_once(fut.as_mut()).await.is_pending());
            drop(fut);
            Ok(())
        })
    }));
    let payload = caught.expect_err("the child's panic is not lost");
    assert_eq!(panic_message(&*payload), "child cleanup broke");
}

#[test]
fn a_task_knows_its_nursery_and_a_nursery_its_children() {
    autojump(|| async {
        let main = current_task();
        assert!(main.parent_nursery().is_none());
        open_nursery(|n| async move {
            assert_eq!(n.parent_task(), main);
            assert_eq!(main.child_nurseries().len(), 1);
            let n2 = n.clone();
            n.start_soon_named("worker", async move {
                let me = current_task();
                assert_eq!(me.name(), "worker");
                let parent = me.parent_nursery().expect("a child has a nursery");
                assert_eq!(parent.parent_task(), n2.parent_task());
                assert!(n2.child_tasks().contains(&me));
                Ok(())
            });
            Ok(())
        })
        .await?;
        assert!(current_task().child_nurseries().is_empty());
        Ok(())
    })
    .unwrap();
}
