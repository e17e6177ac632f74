//! CapacityLimiter: borrower rules, FIFO hand-off, run-time resizing, statistics.

use std::cell::RefCell;
use std::rc::Rc;

use trio_core::{open_nursery, ErrorKind};
use trio_sync::{misuse, Borrower, CapacityLimiter};
use trio_testing::{run_autojump, wait_all_tasks_blocked};

#[test]
fn same_borrower_twice_is_an_error() {
    run_autojump(|| async {
        let l = CapacityLimiter::new(5);
        l.acquire().await?;
        assert_eq!(
            l.acquire().await.unwrap_err().message(),
            Some(misuse::BORROWER_ALREADY_HOLDS)
        );
        assert_eq!(
            l.try_acquire().unwrap_err().message(),
            Some(misuse::BORROWER_ALREADY_HOLDS)
        );
        assert_eq!(l.borrowed_tokens(), 1);
        l.release()?;
        assert_eq!(
            l.release().unwrap_err().message(),
            Some(misuse::BORROWER_HOLDS_NOTHING)
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn acquire_on_behalf_of_tracks_the_given_borrower() {
    run_autojump(|| async {
        let l = CapacityLimiter::new(2);
        let job = Borrower::new();
        l.acquire_on_behalf_of(job).await?;
        l.acquire().await?; // the task itself is a different borrower
        let s = l.statistics();
        assert_eq!(s.borrowed_tokens, 2);
        assert!(s.borrowers.contains(&job));
        assert!(s.borrowers.contains(&Borrower::current_task()));
        assert!(l.release_on_behalf_of(Borrower::new()).is_err());
        l.release_on_behalf_of(job)?;
        l.release()?;
        assert_eq!(l.available_tokens(), 2);
        Ok(())
    })
    .unwrap();
}

#[test]
fn tokens_go_to_waiters_in_arrival_order_and_try_acquire_does_not_cut_in() {
    run_autojump(|| async {
        let l = CapacityLimiter::new(1);
        let order = Rc::new(RefCell::new(vec![]));
        let first = Borrower::new();
        l.acquire_on_behalf_of(first).await?;
        open_nursery(|n| {
            let (l, order) = (l.clone(), order.clone());
            async move {
                for i in 0..3 {
                    let (l, order) = (l.clone(), order.clone());
                    n.start_soon(async move {
                        l.acquire().await?;
                        order.borrow_mut().push(i);
                        trio_core::checkpoint().await?;
                        l.release()
                    });
                    wait_all_tasks_blocked().await?;
                }
                assert_eq!(l.statistics().tasks_waiting, 3);
                l.release_on_behalf_of(first)?;
                // The freed token went to the first waiter, not to a latecomer.
                assert_eq!(
                    l.try_acquire_on_behalf_of(Borrower::new())
                        .unwrap_err()
                        .kind(),
                    ErrorKind::WouldBlock
                );
                Ok(())
            }
        })
        .await?;
        assert_eq!(*order.borrow(), [0, 1, 2]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn raising_total_tokens_wakes_waiters_and_lowering_lets_holders_finish() {
    run_autojump(|| async {
        let l = CapacityLimiter::new(0);
        let got = Rc::new(RefCell::new(0));
        open_nursery(|n| {
            let (l, got) = (l.clone(), got.clone());
            async move {
                for _ in 0..3 {
                    let (l, got) = (l.clone(), got.clone());
                    n.start_soon(async move {
                        l.acquire().await?;
                        *got.borrow_mut() += 1;
                        Ok(()) // keeps its token
                    });
                }
                wait_all_tasks_blocked().await?;
                assert_eq!(*got.borrow(), 0);
                l.set_total_tokens(2);
                wait_all_tasks_blocked().await?;
                assert_eq!(*got.borrow(), 2, "raising to 2 admitted two waiters");
                l.set_total_tokens(1);
                assert_eq!(l.borrowed_tokens(), 2, "lowering takes nothing back");
                assert_eq!(l.available_tokens(), 0);
                l.set_total_tokens(3);
                Ok(())
            }
        })
        .await?;
        assert_eq!(*got.borrow(), 3);
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelled_acquire_holds_nothing() {
    run_autojump(|| async {
        let l = CapacityLimiter::new(0);
        let r = trio_core::move_on_after(std::time::Duration::from_secs(1), l.acquire()).await?;
        assert!(r.is_none());
        let s = l.statistics();
        assert_eq!((s.borrowed_tokens, s.tasks_waiting), (0, 0));
        l.set_total_tokens(1);
        assert_eq!(
            l.borrowed_tokens(),
            0,
            "the cancelled waiter is not handed a token"
        );
        l.acquire().await?; // and the same task may try again
        Ok(())
    })
    .unwrap();
}
