//! `ParkingLot`: a fair FIFO queue of blocked tasks. Unparking goes in arrival order,
//! `repark` moves waiters without waking them, a cancelled park leaves no trace in any
//! lot, and an unpark that lands before the cancellation takes effect wins.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::*;
use trio_core::lowlevel::{current_task, ParkingLot, Task};
use trio_core::{
    checkpoint, current_time, move_on_after, open_nursery, sleep, CancelScope, Error, Nursery,
    Result,
};

/// Spawns `names` as tasks that park in `lot` in that order and log when they wake.
async fn park_in_order(
    n: &Nursery,
    lot: &Rc<ParkingLot>,
    names: &[&'static str],
    log: &Rc<RefCell<Vec<&'static str>>>,
) -> Result<Vec<Task>> {
    let tasks = Rc::new(RefCell::new(Vec::new()));
    let base = lot.statistics().tasks_waiting;
    for (i, &name) in names.iter().enumerate() {
        let (l, log, tasks) = (lot.clone(), log.clone(), tasks.clone());
        n.start_soon(async move {
            tasks.borrow_mut().push(current_task());
            l.park().await?;
            log.borrow_mut().push(name);
            Ok(())
        });
        // Let it park before the next one arrives.
        while lot.statistics().tasks_waiting < base + i + 1 {
            checkpoint().await?;
        }
    }
    let t = tasks.borrow().clone();
    Ok(t)
}

#[test]
fn unparking_goes_in_arrival_order() {
    autojump(|| async {
        let lot = Rc::new(ParkingLot::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let (l, lg) = (lot.clone(), log.clone());
        open_nursery(|n| async move {
            let tasks = park_in_order(&n, &l, &["a", "b", "c", "d"], &lg).await?;
            assert_eq!(l.statistics().tasks_waiting, 4);
            assert!(!l.is_empty());
            let woken = l.unpark(1);
            assert_eq!(woken, tasks[..1]);
            assert_eq!(l.unpark_one(), Some(tasks[1].clone()));
            checkpoint().await?;
            assert_eq!(*lg.borrow(), ["a", "b"]);
            assert_eq!(l.unpark_all(), tasks[2..]);
            assert!(l.is_empty());
            assert_eq!(l.unpark_one(), None);
            assert!(l.unpark(3).is_empty());
            Ok(())
        })
        .await?;
        assert_eq!(*log.borrow(), ["a", "b", "c", "d"]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancelled_park_leaves_the_lot_and_returns_cancelled() {
    autojump(|| async {
        let lot = ParkingLot::new();
        let r = move_on_after(secs(2), lot.park()).await?;
        assert_eq!(r, None);
        assert_eq!(current_time(), at(2));
        assert!(lot.is_empty(), "the cancelled waiter was removed");
        assert!(lot.unpark_all().is_empty());
        // Already cancelled: a checkpoint that raises and leaves nothing behind.
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(lot.park()).await?, None);
        assert!(lot.is_empty());
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_unpark_before_the_cancellation_took_effect_wins() {
    autojump(|| async {
        let lot = Rc::new(ParkingLot::new());
        let scope = CancelScope::new();
        let h = scope.handle();
        let l = lot.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                while l.is_empty() {
                    checkpoint().await?;
                }
                assert_eq!(l.unpark_all().len(), 1); // handed over ...
                h.cancel(); // ... then cancelled, in the same step
                Ok(())
            });
            let r = scope
                .run(async {
                    let r = lot.park().await;
                    assert!(r.is_ok(), "woken by unpark: not Cancelled");
                    Ok(())
                })
                .await?;
            assert_eq!(r, Some(()));
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn repark_moves_waiters_without_waking_them_and_cancellation_finds_them_there() {
    autojump(|| async {
        let a = Rc::new(ParkingLot::new());
        let b = Rc::new(ParkingLot::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let (a2, b2, lg) = (a.clone(), b.clone(), log.clone());
        open_nursery(|n| async move {
            let tasks = park_in_order(&n, &a2, &["x", "y", "z"], &lg).await?;
            a2.repark(&b2, 2);
            checkpoint().await?;
            assert!(lg.borrow().is_empty(), "repark wakes nobody");
            assert_eq!(a2.statistics().tasks_waiting, 1);
            assert_eq!(b2.statistics().tasks_waiting, 2);
            // Cancel everyone: the moved waiters are removed from `b`, not `a`.
            n.cancel_scope().cancel();
            checkpoint().await?;
            checkpoint().await?;
            assert!(a2.is_empty() && b2.is_empty());
            drop(tasks);
            Ok(())
        })
        .await?;
        assert!(log.borrow().is_empty());

        // repark_all, then unpark from the new lot, in the original order.
        let (a3, b3, lg) = (a.clone(), b.clone(), log.clone());
        open_nursery(|n| async move {
            park_in_order(&n, &a3, &["p", "q"], &lg).await?;
            a3.repark_all(&b3);
            assert!(a3.is_empty());
            b3.unpark_all();
            Ok(())
        })
        .await?;
        assert_eq!(*log.borrow(), ["p", "q"]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn park_is_a_checkpoint_that_blocks_until_unparked() {
    autojump(|| async {
        let lot = Rc::new(ParkingLot::new());
        let l = lot.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(3)).await?;
                l.unpark_all();
                Ok(())
            });
            lot.park().await?;
            assert_eq!(current_time(), at(3));
            Ok::<_, Error>(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}
