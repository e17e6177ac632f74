//! `with_grace_and_cut`: the body's value and errors come back as from `with_grace`; on
//! the caller's cancellation the shutdown signal fires at once and the cut at the end of
//! the grace period, and the call then reports `Cancelled`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{current_time, open_nursery, CancelScope, Error, ErrorKind};
use trio_examples::graceful::with_grace_and_cut;
use trio_testing::run_autojump;

#[test]
fn an_uncancelled_body_returns_its_value_and_never_sees_either_signal() {
    run_autojump(|| async {
        let v = with_grace_and_cut(Duration::from_secs(1), |shutdown, cut| async move {
            trio_core::sleep(Duration::from_secs(3)).await?;
            assert!(!shutdown.is_triggered() && !cut.is_triggered());
            Ok(7)
        })
        .await?;
        assert_eq!(v, Some(7));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_failing_body_fails_the_call_with_its_own_error() {
    run_autojump(|| async {
        let r = with_grace_and_cut(Duration::from_secs(1), |_, _| async move {
            Err::<(), _>(Error::new(ErrorKind::Other, "body failed"))
        })
        .await;
        let e = r.expect_err("the body's error");
        assert!(!e.is_cancelled(), "{e}");
        assert!(e.to_string().contains("body failed"), "{e}");
        Ok(())
    })
    .unwrap();
}

#[test]
fn on_cancel_the_body_is_told_at_once_may_finish_within_grace_and_the_call_reports_cancelled() {
    run_autojump(|| async {
        let scope = CancelScope::new();
        let stop = scope.handle();
        let finished_at = Rc::new(Cell::new(None));
        let seen = finished_at.clone();
        let start = current_time();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let r = scope
                    .run(with_grace_and_cut(
                        Duration::from_secs(5),
                        move |shutdown, _cut| async move {
                            shutdown.wait().await;
                            // Told at once; a trio operation still works (shielded).
                            assert_eq!(current_time() - start, Duration::from_secs(1));
                            trio_core::sleep(Duration::from_secs(2)).await?;
                            seen.set(Some(current_time() - start));
                            Ok(())
                        },
                    ))
                    .await?;
                assert_eq!(r, None, "the caller's scope absorbs the Cancelled");
                Ok(())
            });
            trio_core::sleep(Duration::from_secs(1)).await?;
            stop.cancel();
            Ok(())
        })
        .await?;
        assert_eq!(finished_at.get(), Some(Duration::from_secs(3)));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_poll_based_body_that_ignores_shutdown_is_cut_at_the_end_of_the_grace_period() {
    run_autojump(|| async {
        let scope = CancelScope::new();
        let stop = scope.handle();
        let start = current_time();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                scope
                    .run(with_grace_and_cut(
                        Duration::from_secs(2),
                        move |_shutdown, cut| async move {
                            // Never parks in trio (a plain future, woken by the
                            // cut's `Waker`): only the cut can end it.
                            cut.wait().await;
                            assert_eq!(current_time() - start, Duration::from_secs(3));
                            Err::<(), _>(Error::cancelled())
                        },
                    ))
                    .await?;
                Ok(())
            });
            trio_core::sleep(Duration::from_secs(1)).await?;
            stop.cancel();
            Ok(())
        })
        .await?;
        assert_eq!(current_time() - start, Duration::from_secs(3));
        Ok(())
    })
    .unwrap();
}
