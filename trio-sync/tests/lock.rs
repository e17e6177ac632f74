//! Lock and StrictFIFOLock: fairness, owner rules, guards, statistics, cancel safety.

use std::cell::RefCell;
use std::rc::Rc;

use trio_core::lowlevel::current_task;
use trio_core::{open_nursery, CancelScope, ErrorKind};
use trio_sync::{misuse, Lock, StrictFIFOLock};
use trio_testing::{assert_checkpoints, run_autojump, wait_all_tasks_blocked};

#[test]
fn lock_is_handed_to_waiters_in_arrival_order() {
    run_autojump(|| async {
        let lock = Rc::new(Lock::new());
        let order = Rc::new(RefCell::new(Vec::new()));
        let guard = lock.acquire().await?;
        open_nursery(|n| {
            let (lock, order) = (lock.clone(), order.clone());
            async move {
                for i in 0..5 {
                    let (lock, order) = (lock.clone(), order.clone());
                    n.start_soon(async move {
                        let _g = lock.acquire().await?;
                        order.borrow_mut().push(i);
                        trio_core::checkpoint().await
                    });
                    // Make arrival order explicit.
                    wait_all_tasks_blocked().await?;
                }
                assert_eq!(lock.statistics().tasks_waiting, 5);
                drop(guard);
                Ok(())
            }
        })
        .await?;
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn strict_fifo_lock_serves_in_arrival_order() {
    run_autojump(|| async {
        let lock = Rc::new(StrictFIFOLock::new());
        let order = Rc::new(RefCell::new(Vec::new()));
        let guard = lock.acquire().await?;
        open_nursery(|n| {
            let (lock, order) = (lock.clone(), order.clone());
            async move {
                for i in 0..4 {
                    let (lock, order) = (lock.clone(), order.clone());
                    n.start_soon(async move {
                        let _g = lock.acquire().await?;
                        order.borrow_mut().push(i);
                        Ok(())
                    });
                    wait_all_tasks_blocked().await?;
                }
                drop(guard);
                Ok(())
            }
        })
        .await?;
        assert_eq!(*order.borrow(), [0, 1, 2, 3]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn releasing_task_cannot_barge_back_ahead_of_a_waiter() {
    run_autojump(|| async {
        let lock = Rc::new(Lock::new());
        let guard = lock.acquire().await?;
        open_nursery(|n| {
            let lock = lock.clone();
            async move {
                let l = lock.clone();
                n.start_soon(async move {
                    let _g = l.acquire().await?;
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                drop(guard);
                // The waiter owns it now, before it even ran.
                assert!(lock.locked());
                assert_ne!(lock.statistics().owner, Some(current_task()));
                assert_eq!(
                    lock.try_acquire().unwrap_err().kind(),
                    ErrorKind::WouldBlock
                );
                Ok(())
            }
        })
        .await?;
        assert!(!lock.locked());
        Ok(())
    })
    .unwrap();
}

#[test]
fn acquiring_a_lock_you_hold_is_an_error_not_a_deadlock() {
    run_autojump(|| async {
        let lock = Lock::new();
        let _g = lock.acquire().await?;
        let err = lock.acquire().await.unwrap_err();
        assert_eq!(err.message(), Some(misuse::REACQUIRE_OWN_LOCK));
        let err = lock.try_acquire().unwrap_err();
        assert_eq!(err.message(), Some(misuse::REACQUIRE_OWN_LOCK));
        Ok(())
    })
    .unwrap();
}

#[test]
fn releasing_a_lock_you_do_not_hold_is_an_error() {
    run_autojump(|| async {
        let lock = Rc::new(Lock::new());
        assert_eq!(
            lock.release().unwrap_err().message(),
            Some(misuse::RELEASE_UNHELD_LOCK)
        );
        let _g = lock.acquire().await?;
        open_nursery(|n| {
            let lock = lock.clone();
            async move {
                n.start_soon(async move {
                    let err = lock.release().unwrap_err();
                    assert_eq!(err.message(), Some(misuse::RELEASE_UNHELD_LOCK));
                    assert!(lock.locked(), "a failed release changes nothing");
                    Ok(())
                });
                Ok(())
            }
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn statistics_report_locked_owner_and_waiters() {
    run_autojump(|| async {
        let lock = Rc::new(Lock::new());
        let s = lock.statistics();
        assert!(!s.locked);
        assert_eq!(s.owner, None);
        let g = lock.acquire().await?;
        open_nursery(|n| {
            let lock = lock.clone();
            async move {
                for _ in 0..2 {
                    let l = lock.clone();
                    n.start_soon(async move {
                        let _g = l.acquire().await?;
                        Ok(())
                    });
                }
                wait_all_tasks_blocked().await?;
                let s = lock.statistics();
                assert!(s.locked);
                assert_eq!(s.owner, Some(current_task()));
                assert_eq!(s.tasks_waiting, 2);
                drop(g);
                Ok(())
            }
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelled_acquire_holds_nothing_and_leaves_the_queue() {
    run_autojump(|| async {
        let lock = Rc::new(Lock::new());
        let g = lock.acquire().await?;
        let scope = CancelScope::new();
        let handle = scope.handle();
        open_nursery(|n| {
            let lock = lock.clone();
            async move {
                let l = lock.clone();
                n.start_soon(async move {
                    let r = scope.run(async { l.acquire().await.map(drop) }).await?;
                    assert!(r.is_none(), "the acquire was cancelled");
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                handle.cancel();
                wait_all_tasks_blocked().await?;
                assert_eq!(lock.statistics().tasks_waiting, 0);
                drop(g);
                assert!(!lock.locked(), "nobody was handed the lock");
                Ok(())
            }
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn acquire_handed_over_before_cancellation_reports_success() {
    run_autojump(|| async {
        let lock = Rc::new(Lock::new());
        let g = lock.acquire().await?;
        let scope = CancelScope::new();
        let handle = scope.handle();
        let got = Rc::new(RefCell::new(None));
        open_nursery(|n| {
            let (lock, got) = (lock.clone(), got.clone());
            async move {
                let (l, got2) = (lock.clone(), got.clone());
                n.start_soon(async move {
                    scope
                        .run(async {
                            let r = l.acquire().await;
                            *got2.borrow_mut() = Some(r.is_ok());
                            Ok(())
                        })
                        .await?;
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                // Hand-off and cancellation in the same step: the hand-off wins.
                drop(g);
                handle.cancel();
                Ok(())
            }
        })
        .await?;
        assert_eq!(*got.borrow(), Some(true));
        assert!(!lock.locked(), "the guard released it");
        Ok(())
    })
    .unwrap();
}

#[test]
fn acquire_is_a_checkpoint_even_when_free() {
    run_autojump(|| async {
        let lock = Lock::new();
        drop(assert_checkpoints(lock.acquire()).await?);
        let scope = CancelScope::new();
        scope.handle().cancel();
        let r = scope.run(async { lock.acquire().await.map(drop) }).await?;
        assert!(r.is_none());
        assert!(
            !lock.locked(),
            "a cancelled acquire of a free lock takes nothing"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn guard_outliving_a_manual_release_does_not_release_the_next_owner() {
    run_autojump(|| async {
        let lock = Rc::new(Lock::new());
        let g = lock.acquire().await?;
        open_nursery(|n| {
            let lock = lock.clone();
            async move {
                let l = lock.clone();
                n.start_soon(async move {
                    let _g = l.acquire().await?;
                    trio_core::checkpoint().await?;
                    trio_core::checkpoint().await
                });
                wait_all_tasks_blocked().await?;
                lock.release()?; // hands it to the waiter
                let waiter = lock.statistics().owner;
                drop(g); // must not take it away from the waiter
                assert_eq!(lock.statistics().owner, waiter);
                Ok(())
            }
        })
        .await?;
        Ok(())
    })
    .unwrap();
}
