//! Condition: wait releases and re-acquires the lock (even when cancelled), notify(n)
//! wakes in order, and misuse is an error.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use trio_core::lowlevel::current_task;
use trio_core::{move_on_after, open_nursery, CancelScope};
use trio_sync::{misuse, Condition, Lock};
use trio_testing::{run_autojump, wait_all_tasks_blocked};

#[test]
fn wait_releases_the_lock_and_notify_wakes_holding_it() {
    run_autojump(|| async {
        let cond = Rc::new(Condition::default());
        open_nursery(|n| {
            let cond = cond.clone();
            async move {
                let c = cond.clone();
                n.start_soon(async move {
                    let g = c.lock().acquire().await?;
                    c.wait(&g).await?;
                    assert_eq!(c.lock().statistics().owner, Some(current_task()));
                    Ok(())
                });
                wait_all_tasks_blocked().await?;
                assert!(!cond.lock().locked(), "wait released the lock");
                assert_eq!(cond.statistics().tasks_waiting, 1);
                let g = cond.lock().acquire().await?;
                cond.notify(1)?;
                assert_eq!(cond.statistics().tasks_waiting, 0);
                assert_eq!(
                    cond.lock().statistics().tasks_waiting,
                    1,
                    "moved to the lock"
                );
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
fn cancelled_wait_still_reacquires_the_lock() {
    run_autojump(|| async {
        let cond = Rc::new(Condition::default());
        let holder = Rc::new(Lock::new()); // unrelated; keeps the test honest about owners
        drop(holder);
        let g = cond.lock().acquire().await?;
        let r = move_on_after(Duration::from_secs(1), cond.wait(&g)).await?;
        assert!(r.is_none());
        assert_eq!(cond.lock().statistics().owner, Some(current_task()));
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelled_after_notify_waits_for_the_lock_before_reporting() {
    run_autojump(|| async {
        let cond = Rc::new(Condition::default());
        let scope = CancelScope::new();
        let handle = scope.handle();
        let held_on_return = Rc::new(RefCell::new(None));
        open_nursery(|n| {
            let (cond, held) = (cond.clone(), held_on_return.clone());
            async move {
                let (c, h) = (cond.clone(), held.clone());
                n.start_soon(async move {
                    let g = c.lock().acquire().await?;
                    let r = scope.run(c.wait(&g)).await;
                    *h.borrow_mut() = Some(c.lock().statistics().owner == Some(current_task()));
                    r.map(drop)
                });
                wait_all_tasks_blocked().await?;
                let g = cond.lock().acquire().await?;
                cond.notify_all()?;
                handle.cancel(); // cancelled while queued for the lock
                wait_all_tasks_blocked().await?;
                assert!(
                    held.borrow().is_none(),
                    "it cannot return before getting the lock"
                );
                drop(g);
                Ok(())
            }
        })
        .await?;
        assert_eq!(*held_on_return.borrow(), Some(true));
        Ok(())
    })
    .unwrap();
}

#[test]
fn notify_n_wakes_the_n_longest_waiters_in_order() {
    run_autojump(|| async {
        let cond = Rc::new(Condition::default());
        let order = Rc::new(RefCell::new(vec![]));
        open_nursery(|n| {
            let (cond, order) = (cond.clone(), order.clone());
            async move {
                for i in 0..4 {
                    let (c, order) = (cond.clone(), order.clone());
                    n.start_soon(async move {
                        let g = c.lock().acquire().await?;
                        c.wait(&g).await?;
                        order.borrow_mut().push(i);
                        Ok(())
                    });
                    wait_all_tasks_blocked().await?;
                }
                {
                    let _g = cond.lock().acquire().await?;
                    cond.notify(2)?;
                }
                wait_all_tasks_blocked().await?;
                assert_eq!(*order.borrow(), [0, 1]);
                let _g = cond.lock().acquire().await?;
                cond.notify_all()?;
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
fn wait_and_notify_without_the_lock_are_errors() {
    run_autojump(|| async {
        let cond = Condition::default();
        assert_eq!(
            cond.notify(1).unwrap_err().message(),
            Some(misuse::CONDITION_LOCK_NOT_HELD)
        );
        let other = Lock::new();
        let g = other.acquire().await?;
        assert_eq!(
            cond.wait(&g).await.unwrap_err().message(),
            Some(misuse::CONDITION_FOREIGN_GUARD)
        );
        Ok(())
    })
    .unwrap();
}
