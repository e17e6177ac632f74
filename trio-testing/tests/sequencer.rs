//! Sequencer: steps happen in position order, whatever order tasks arrive in.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{move_on_after, open_nursery, sleep, ErrorKind, Result};
use trio_testing::{run_autojump, wait_all_tasks_blocked, Sequencer};

#[test]
fn steps_run_in_position_order_even_when_tasks_start_in_reverse() -> Result<()> {
    run_autojump(|| async {
        let seq = Sequencer::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        open_nursery(|n| async move {
            for pos in (0..5).rev() {
                let (seq, l) = (seq.clone(), l.clone());
                n.start_soon(async move {
                    let _g = seq.step(pos).await?;
                    l.borrow_mut().push(pos);
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        assert_eq!(*log.borrow(), vec![0, 1, 2, 3, 4]);
        Ok(())
    })
}

#[test]
fn the_next_step_waits_while_the_guard_is_held() -> Result<()> {
    run_autojump(|| async {
        let seq = Sequencer::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        let (s, l) = (seq.clone(), log.clone());
        open_nursery(|n| async move {
            n.start_soon({
                let (s, l) = (s.clone(), l.clone());
                async move {
                    let _g = s.step(1).await?;
                    l.borrow_mut().push("one");
                    Ok(())
                }
            });
            let g = s.step(0).await?;
            sleep(Duration::from_secs(1)).await?;
            wait_all_tasks_blocked().await?;
            l.borrow_mut().push("zero done");
            drop(g);
            Ok(())
        })
        .await?;
        assert_eq!(*log.borrow(), vec!["zero done", "one"]);
        Ok(())
    })
}

#[test]
#[should_panic(expected = "position 2 was used twice")]
fn reusing_a_position_panics() {
    let _ = run_autojump(|| async {
        let seq = Sequencer::new();
        drop(seq.step(0).await?);
        drop(seq.step(1).await?);
        drop(seq.step(2).await?);
        drop(seq.step(2).await?);
        Ok(())
    });
}

#[test]
fn a_cancelled_wait_breaks_the_sequence_for_everyone() -> Result<()> {
    run_autojump(|| async {
        let seq = Sequencer::new();
        let r = move_on_after(Duration::from_secs(1), seq.step(1)).await;
        let err = r.expect_err("a cancelled step is an error, not a silent move-on");
        assert!(!err.is_cancelled());
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(format!("{err}").contains("broken"), "{err}");
        let later = seq.step(0).await.expect_err("the sequence stays broken");
        assert!(format!("{later}").contains("broken"));
        Ok(())
    })
}

#[test]
fn a_step_other_than_zero_is_a_checkpoint() -> Result<()> {
    run_autojump(|| async {
        let seq = Sequencer::new();
        drop(seq.step(0).await?);
        trio_testing::assert_checkpoints(async { seq.step(1).await.map(drop) }).await?;
        Ok(())
    })
}

#[test]
fn a_cancelled_wait_wakes_other_pending_steps_with_an_error() -> Result<()> {
    run_autojump(|| async {
        let seq = Sequencer::new();
        let outcome = Rc::new(RefCell::new(None));
        let (s, o) = (seq.clone(), outcome.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                // Step 2 waits for step 1, which will never come: its waiter is cancelled.
                let r = s.step(2).await;
                *o.borrow_mut() = Some(r.map(drop).map_err(|e| e.to_string()));
                Ok(())
            });
            let r = move_on_after(Duration::from_secs(1), seq.step(1)).await;
            assert!(r.is_err());
            Ok(())
        })
        .await?;
        let got = outcome.borrow_mut().take().expect("step 2 finished");
        assert!(
            got.is_err_and(|m| m.contains("broken")),
            "step 2 must fail, not proceed"
        );
        Ok(())
    })
}
