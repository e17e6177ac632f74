//! Semaphore: counting, max_value, FIFO hand-off, cancel safety.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{move_on_after, open_nursery, ErrorKind};
use trio_sync::{misuse, Semaphore};
use trio_testing::{run_autojump, wait_all_tasks_blocked};

#[test]
fn acquire_takes_tokens_until_zero_then_waits() {
    run_autojump(|| async {
        let sem = Semaphore::new(2);
        sem.acquire().await?;
        sem.acquire().await?;
        assert_eq!(sem.value(), 0);
        assert_eq!(sem.try_acquire().unwrap_err().kind(), ErrorKind::WouldBlock);
        let r = move_on_after(Duration::from_secs(1), sem.acquire()).await?;
        assert!(r.is_none(), "no token: acquire blocks");
        assert_eq!(
            sem.statistics().tasks_waiting,
            0,
            "the cancelled acquire left"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn release_past_max_value_is_an_error() {
    let sem = Semaphore::with_max_value(1, 1);
    let err = sem.release().unwrap_err();
    assert_eq!(err.message(), Some(misuse::SEMAPHORE_OVER_RELEASE));
    assert_eq!(sem.value(), 1, "a failed release changes nothing");
    let unbounded = Semaphore::new(0);
    for _ in 0..5 {
        unbounded.release().unwrap();
    }
    assert_eq!(unbounded.value(), 5);
}

#[test]
#[should_panic(expected = "exceeds max_value")]
fn initial_value_above_max_value_panics_naming_it() {
    let _ = Semaphore::with_max_value(3, 2);
}

#[test]
fn release_hands_the_token_to_the_longest_waiter() {
    run_autojump(|| async {
        let sem = Rc::new(Semaphore::new(0));
        let order = Rc::new(RefCell::new(vec![]));
        open_nursery(|n| {
            let (sem, order) = (sem.clone(), order.clone());
            async move {
                for i in 0..3 {
                    let (sem, order) = (sem.clone(), order.clone());
                    n.start_soon(async move {
                        sem.acquire().await?;
                        order.borrow_mut().push(i);
                        Ok(())
                    });
                    wait_all_tasks_blocked().await?;
                }
                sem.release()?;
                // Handed over: the value stays 0 and the releaser cannot take it back.
                assert_eq!(sem.value(), 0);
                assert!(sem.try_acquire().is_err());
                sem.release()?;
                sem.release()?;
                Ok(())
            }
        })
        .await?;
        assert_eq!(*order.borrow(), [0, 1, 2]);
        assert_eq!(sem.value(), 0);
        Ok(())
    })
    .unwrap();
}
