//! A scope entered by `CancelScope::run` is linked into the cancel tree (its parent's
//! children, its task, the deadline queue) only when its body first returns `Pending`
//! (`ScopeNode::enter_lazily`). These tests pin down that nothing observable depends on
//! that: cancellation reaching the scope synchronously from inside its own body, shields
//! flipped there, `TaskStatus::started` moving it, deadlines set or moved before the
//! first yield, and the entry check of an already-passed deadline on the real clock.

mod common;

use std::time::Duration;

use common::*;
use trio_core::lowlevel::current_statistics;
use trio_core::{
    checkpoint, checkpoint_if_cancelled, current_time, move_on_at, open_nursery, sleep,
    CancelScope, ErrorKind, Instant, Runner, SystemClock,
};

#[test]
fn cancelling_an_ancestor_from_inside_a_body_that_never_yielded_reaches_it() {
    autojump(|| async {
        let outer = CancelScope::new();
        let handle = outer.handle();
        let r = outer
            .run(async move {
                let middle = CancelScope::new()
                    .run(async move {
                        let inner = CancelScope::new()
                            .run(async move {
                                // No yield so far in any of the three scopes.
                                checkpoint_if_cancelled().await?;
                                handle.cancel();
                                checkpoint_if_cancelled().await?;
                                Ok("not reached")
                            })
                            .await;
                        let e = inner.unwrap_err();
                        assert_eq!(e.kind(), ErrorKind::Cancelled);
                        Err::<(), _>(e)
                    })
                    .await;
                assert_eq!(middle.unwrap_err().kind(), ErrorKind::Cancelled);
                checkpoint_if_cancelled().await
            })
            .await?;
        assert_eq!(r, None, "the outermost cancelled scope absorbed it");
        Ok(())
    })
    .unwrap();
}

#[test]
fn unshielding_an_inner_scope_that_never_yielded_exposes_the_outer_cancellation() {
    autojump(|| async {
        let outer = CancelScope::new();
        outer.handle().cancel();
        let r = outer
            .run(async {
                let shielded = CancelScope::new().with_shield(true);
                let h = shielded.handle();
                let inner = shielded
                    .run(async move {
                        checkpoint_if_cancelled().await?; // shielded: fine
                        h.set_shield(false);
                        checkpoint_if_cancelled().await?;
                        Ok(())
                    })
                    .await;
                assert_eq!(inner.unwrap_err().kind(), ErrorKind::Cancelled);
                Ok(())
            })
            .await?;
        assert_eq!(r, Some(()));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_started_task_moved_into_a_cancelled_nursery_sees_it_in_a_scope_that_never_yielded() {
    autojump(|| async {
        open_nursery(|target| async move {
            target.cancel_scope().cancel();
            // The caller is shielded, so the hidden scope `start` runs the task in is not
            // cancelled; `started()` moves the task under the cancelled target.
            let r = CancelScope::new()
                .with_shield(true)
                .run(target.start(|status| async move {
                    let r = CancelScope::new()
                        .run(async move {
                            checkpoint_if_cancelled().await?;
                            status.started(());
                            checkpoint_if_cancelled().await?;
                            Ok(())
                        })
                        .await;
                    assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
                    Ok(())
                }))
                .await?;
            assert_eq!(r, Some(()), "start got its value");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_deadline_scope_left_without_yielding_never_reaches_the_queue_and_never_fires() {
    autojump(|| async {
        for i in 0..1_000u64 {
            let r = move_on_at(at(1 + i % 7), async { Ok(i) }).await?;
            assert_eq!(r, Some(i));
        }
        assert_eq!(current_statistics().live_deadlines, 0);
        sleep(secs(100)).await?;
        assert_eq!(current_time(), at(100));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_deadline_set_or_moved_before_the_first_yield_is_the_one_that_fires() {
    autojump(|| async {
        // Moved earlier, later, and removed, all before the body yields.
        for (first, moved, expect) in [
            (at(50), Some(at(5)), Some(at(5))),
            (at(5), Some(at(50)), Some(at(50))),
            (at(5), None, None),
        ] {
            let t0 = current_time();
            let scope = CancelScope::new().with_deadline(t0 + (first - Instant::ZERO));
            let h = scope.handle();
            let r = scope
                .run(async move {
                    h.set_deadline(moved.map(|m| t0 + (m - Instant::ZERO)));
                    assert_eq!(
                        current_statistics().live_deadlines,
                        usize::from(moved.is_some())
                    );
                    sleep(secs(60)).await
                })
                .await?;
            let took = current_time() - t0;
            match expect {
                Some(d) => {
                    assert_eq!(r, None);
                    assert_eq!(took, d - Instant::ZERO);
                }
                None => {
                    assert_eq!(r, Some(()));
                    assert_eq!(took, secs(60));
                }
            }
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn on_the_system_clock_a_deadline_already_seen_passing_cancels_the_scope_on_entry() {
    // The coarse-clock shortcut may only skip the precise read for deadlines provably
    // ahead: one the program just read from the clock has passed and must cancel.
    let check = || async {
        for _ in 0..1_000 {
            let now = current_time();
            let r = move_on_at(now, checkpoint_if_cancelled()).await?;
            assert_eq!(r, None, "entered cancelled");
            let earlier = now - Duration::from_millis(1);
            let h = CancelScope::new().with_deadline(earlier);
            let handle = h.handle();
            h.run(async { Ok(()) }).await?;
            assert!(handle.cancel_called());
        }
        // And one an hour ahead does not.
        let far = current_time() + secs(3600);
        let r = move_on_at(far, checkpoint()).await?;
        assert_eq!(r, Some(()));
        Ok(())
    };
    trio_core::run(check).unwrap();
    Runner::new().clock(SystemClock::new()).run(check).unwrap();
}
