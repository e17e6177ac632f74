//! Cancel scopes (DESIGN §3 "Cancellation"): `cancel()` before, during and after the
//! scope runs and from any task; deadlines moved while a task is blocked; shields (also
//! toggled while running); level-triggered delivery; the absorption rule (the outermost
//! effectively cancelled scope catches, shields end the chain, `Cancelled` leaves are
//! stripped from a group); cancellation reaching grandchildren.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::*;
use trio_core::{
    checkpoint, checkpoint_if_cancelled, current_effective_deadline, current_time, fail_after,
    move_on_after, open_nursery, sleep, sleep_forever, CancelScope, Error, ErrorKind, Result,
};

async fn park_forever() -> Result<()> {
    sleep_forever().await.map(|never| match never {})
}

fn is_cancelled<T>(r: &Result<T>) -> bool {
    r.as_ref().err().is_some_and(Error::is_cancelled)
}

#[test]
fn a_scope_cancelled_before_it_runs_is_cancelled_from_its_first_checkpoint() {
    autojump(|| async {
        let scope = CancelScope::new();
        let h = scope.handle();
        h.cancel();
        assert!(h.cancel_called());
        let r = scope.run(checkpoint()).await?;
        assert_eq!(r, None);
        assert!(h.cancelled_caught());
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancelled_scope_whose_body_never_checkpoints_completes_normally() {
    autojump(|| async {
        let scope = CancelScope::new();
        let h = scope.handle();
        h.cancel();
        let r = scope.run(async { Ok(5) }).await?;
        assert_eq!(r, Some(5));
        assert!(h.cancel_called());
        assert!(!h.cancelled_caught(), "nothing was caught");
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_a_scope_that_already_exited_only_sets_cancel_called() {
    autojump(|| async {
        let scope = CancelScope::new();
        let h = scope.handle();
        assert_eq!(scope.run(checkpoint()).await?, Some(()));
        h.cancel();
        assert!(h.cancel_called());
        assert!(!h.cancelled_caught());
        // Nothing around us was affected.
        checkpoint().await?;
        sleep(secs(1)).await?;
        // A later scope is not confused with the old one (scope nodes are reused).
        let again = CancelScope::new();
        assert!(!again.handle().cancel_called());
        assert_eq!(again.run(checkpoint()).await?, Some(()));
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancel_from_another_task_wakes_a_blocked_task() {
    autojump(|| async {
        let scope = CancelScope::new();
        let h = scope.handle();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(3)).await?;
                h.cancel();
                Ok(())
            });
            let r = scope.run(park_forever()).await?;
            assert_eq!(r, None);
            assert_eq!(current_time(), at(3));
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancellation_is_level_triggered_every_checkpoint_raises_until_control_leaves() {
    autojump(|| async {
        let scope = CancelScope::new();
        let h = scope.handle();
        let r = scope
            .run(async move {
                h.cancel();
                let mut raised = 0;
                for _ in 0..3 {
                    if is_cancelled(&checkpoint().await) {
                        raised += 1;
                    }
                }
                // ... in cleanup code too ...
                if is_cancelled(&sleep(secs(1)).await) {
                    raised += 1;
                }
                if is_cancelled(&checkpoint_if_cancelled().await) {
                    raised += 1;
                }
                assert_eq!(raised, 5);
                // ... until a shield.
                CancelScope::new()
                    .with_shield(true)
                    .run(sleep(secs(1)))
                    .await?
                    .expect("a shielded sleep completes");
                assert_eq!(current_time(), at(1));
                checkpoint().await?;
                Ok(())
            })
            .await?;
        assert_eq!(r, None);
        checkpoint().await?; // control left the cancelled scope
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_body_that_swallows_cancelled_completes_and_nothing_is_caught() {
    autojump(|| async {
        let scope = CancelScope::new();
        let h = scope.handle();
        let h2 = h.clone();
        let r = scope
            .run(async move {
                h2.cancel();
                assert!(is_cancelled(&checkpoint().await));
                assert!(is_cancelled(&checkpoint().await));
                Ok(())
            })
            .await?;
        assert_eq!(r, Some(()));
        assert!(!h.cancelled_caught());
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_shielded_scope_inside_a_cancelled_one_is_not_cancelled() {
    autojump(|| async {
        let outer = CancelScope::new();
        let h = outer.handle();
        h.cancel();
        let inner_finished = Rc::new(Cell::new(false));
        let f = inner_finished.clone();
        let r = outer
            .run(async move {
                let inner = CancelScope::new().with_shield(true);
                let ih = inner.handle();
                inner
                    .run(async {
                        checkpoint().await?;
                        sleep(secs(2)).await?;
                        assert_eq!(current_time(), at(2));
                        Ok(())
                    })
                    .await?;
                assert!(!ih.cancelled_caught());
                f.set(true);
                checkpoint().await?; // back in the cancelled scope
                Ok(())
            })
            .await?;
        assert_eq!(r, None);
        assert!(inner_finished.get());
        assert!(h.cancelled_caught());
        Ok(())
    })
    .unwrap();
}

#[test]
fn turning_a_shield_off_while_running_lets_the_outer_cancellation_in() {
    autojump(|| async {
        let outer = CancelScope::new();
        let oh = outer.handle();
        let inner = CancelScope::new().with_shield(true);
        let ih = inner.handle();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                oh.cancel(); // the sleeper is shielded: nothing happens
                sleep(secs(1)).await?;
                ih.set_shield(false); // now it is cancelled
                Ok(())
            });
            let r = outer
                .run(async {
                    let r = inner.run(park_forever()).await;
                    assert!(is_cancelled(&r), "the inner scope does not catch it");
                    assert_eq!(current_time(), at(2));
                    r
                })
                .await?;
            assert_eq!(r, None, "the outer scope caught it");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn turning_a_shield_on_while_running_stops_the_outer_cancellation() {
    autojump(|| async {
        let outer = CancelScope::new();
        outer.handle().cancel();
        let r = outer
            .run(async {
                let inner = CancelScope::new();
                let ih = inner.handle();
                inner
                    .run(async move {
                        assert!(is_cancelled(&checkpoint().await));
                        ih.set_shield(true);
                        assert!(ih.shield());
                        checkpoint().await?;
                        sleep(secs(1)).await?;
                        ih.set_shield(false);
                        assert!(is_cancelled(&checkpoint().await));
                        Ok(())
                    })
                    .await?;
                Ok(())
            })
            .await?;
        assert_eq!(r, Some(()));
        Ok(())
    })
    .unwrap();
}

#[test]
fn moving_a_deadline_earlier_while_a_task_sleeps_wakes_it_earlier() {
    autojump(|| async {
        let scope = CancelScope::new().with_deadline(at(10));
        let h = scope.handle();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                h.set_deadline(Some(at(4)));
                assert_eq!(h.deadline(), Some(at(4)));
                Ok(())
            });
            assert_eq!(scope.run(park_forever()).await?, None);
            assert_eq!(current_time(), at(4));
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn moving_a_deadline_later_while_a_task_sleeps_wakes_it_later() {
    autojump(|| async {
        let scope = CancelScope::new().with_deadline(at(3));
        let h = scope.handle();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                h.set_deadline(Some(at(20)));
                Ok(())
            });
            assert_eq!(scope.run(park_forever()).await?, None);
            assert_eq!(current_time(), at(20));
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn removing_a_deadline_while_a_task_sleeps_lets_it_finish() {
    autojump(|| async {
        let scope = CancelScope::new().with_deadline(at(3));
        let h = scope.handle();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                h.set_deadline(None);
                Ok(())
            });
            assert_eq!(scope.run(sleep(secs(7))).await?, Some(()));
            assert_eq!(current_time(), at(7));
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn moving_a_deadline_into_the_past_cancels_at_once() {
    autojump(|| async {
        sleep(secs(5)).await?;
        let scope = CancelScope::new().with_deadline(at(100));
        let h = scope.handle();
        let r = scope
            .run(async move {
                h.set_deadline(Some(at(1)));
                assert!(h.cancel_called(), "an expired deadline reads as cancelled");
                park_forever().await
            })
            .await?;
        assert_eq!(r, None);
        assert_eq!(current_time(), at(5));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_deadline_already_passed_when_the_scope_is_entered_cancels_it_on_entry() {
    // As Trio: `with move_on_at(past): await checkpoint_if_cancelled()` raises.
    autojump(|| async {
        sleep(secs(5)).await?;
        let r = CancelScope::new()
            .with_deadline(at(1))
            .run(checkpoint_if_cancelled())
            .await?;
        assert_eq!(r, None);
        let r = move_on_after(secs(0), checkpoint_if_cancelled()).await?;
        assert_eq!(r, None, "a zero timeout is already expired");
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_outermost_effectively_cancelled_scope_catches_and_inner_ones_do_not() {
    autojump(|| async {
        let outer = CancelScope::new();
        let middle = CancelScope::new();
        let inner = CancelScope::new();
        let (oh, mh, ih) = (outer.handle(), middle.handle(), inner.handle());
        let (mh2, ih2) = (mh.clone(), ih.clone());
        let r = outer
            .run(async move {
                middle
                    .run(async move {
                        inner
                            .run(async move {
                                ih2.cancel();
                                mh2.cancel();
                                park_forever().await
                            })
                            .await
                    })
                    .await
            })
            .await?;
        assert_eq!(
            r,
            Some(None),
            "the middle scope caught it, not the outer one"
        );
        assert!(
            !ih.cancelled_caught(),
            "inner: its cancellation is hidden behind middle's"
        );
        assert!(mh.cancelled_caught());
        assert!(!oh.cancelled_caught());
        assert!(!oh.cancel_called());
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_shield_ends_the_chain_of_cancelled_scopes() {
    autojump(|| async {
        let outer = CancelScope::new();
        let inner = CancelScope::new().with_shield(true);
        let (oh, ih) = (outer.handle(), inner.handle());
        let ih2 = ih.clone();
        oh.cancel();
        let r = outer
            .run(async move {
                let r = inner
                    .run(async move {
                        ih2.cancel();
                        park_forever().await
                    })
                    .await?;
                assert_eq!(
                    r, None,
                    "the shielded inner scope catches its own cancellation"
                );
                checkpoint().await?;
                Ok(())
            })
            .await?;
        assert_eq!(r, None);
        assert!(ih.cancelled_caught());
        assert!(oh.cancelled_caught());
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelled_leaves_are_stripped_from_a_group_and_the_real_error_kept() {
    autojump(|| async {
        let scope = CancelScope::new();
        let h = scope.handle();
        let h2 = h.clone();
        let err = scope
            .run(open_nursery(|n| async move {
                n.start_soon(park_forever());
                n.start_soon(async {
                    // Cleanup that fails for real.
                    match sleep_forever().await {
                        Ok(never) => match never {},
                        Err(_) => Err(Error::msg("cleanup failed")),
                    }
                });
                sleep(secs(1)).await?;
                h2.cancel();
                park_forever().await
            }))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "cleanup failed");
        assert!(err.group().is_none(), "{err:?}");
        assert!(!err.contains(ErrorKind::Cancelled));
        assert!(
            h.cancelled_caught(),
            "the Cancelled leaves were caught here"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancellation_reaches_grandchildren() {
    autojump(|| async {
        let grandchild_cancelled = Rc::new(Cell::new(false));
        let g = grandchild_cancelled.clone();
        let r = open_nursery(|n| async move {
            let h = n.cancel_scope();
            n.start_soon(async move {
                open_nursery(|inner| async move {
                    inner.start_soon(async move {
                        let r = park_forever().await;
                        g.set(is_cancelled(&r));
                        r
                    });
                    park_forever().await
                })
                .await?;
                Ok(())
            });
            sleep(secs(1)).await?;
            h.cancel();
            park_forever().await
        })
        .await?;
        assert_eq!(r, None);
        assert!(grandchild_cancelled.get());
        assert_eq!(current_time(), at(1));
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancel_called_reports_an_expired_deadline() {
    autojump(|| async {
        let scope = CancelScope::new().with_deadline(at(2));
        let h = scope.handle();
        assert!(!h.cancel_called());
        let r = scope
            .run(async {
                sleep(secs(5)).await?;
                Ok(())
            })
            .await?;
        assert_eq!(r, None);
        assert!(h.cancel_called());
        assert!(h.cancelled_caught());
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_timeout_inside_a_cancelled_scope_lets_the_outer_scope_catch() {
    autojump(|| async {
        let outer = CancelScope::new();
        let oh = outer.handle();
        let r = outer
            .run(async move {
                oh.cancel();
                // fail_after must not turn the outer cancellation into TooSlow ...
                let r = fail_after(secs(1), park_forever()).await;
                assert!(is_cancelled(&r), "{r:?}");
                // ... and move_on_after must not swallow it.
                let r = move_on_after(secs(1), park_forever()).await;
                assert!(is_cancelled(&r), "{r:?}");
                r.map(|_| ())
            })
            .await?;
        assert_eq!(r, None);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_handle_reports_and_adjusts_the_scope() {
    autojump(|| async {
        let scope = CancelScope::new().with_deadline(at(9)).with_shield(true);
        let h = scope.handle();
        assert_eq!(h.deadline(), Some(at(9)));
        assert!(h.shield());
        assert!(h.same_scope(&h.clone()));
        assert!(!h.same_scope(&CancelScope::new().handle()));
        let relative = CancelScope::new().with_timeout(secs(3));
        let rh = relative.handle();
        sleep(secs(1)).await?;
        relative
            .run(async {
                assert_eq!(rh.deadline(), Some(at(4)), "relative to entry");
                assert_eq!(current_effective_deadline(), Some(at(4)));
                Ok(())
            })
            .await?;
        Ok(())
    })
    .unwrap();
}
