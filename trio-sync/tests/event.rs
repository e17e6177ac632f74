//! Event: set wakes every waiter, stays set, and wait is always a checkpoint.

use std::cell::Cell;
use std::rc::Rc;

use trio_core::{open_nursery, CancelScope};
use trio_sync::Event;
use trio_testing::{assert_checkpoints, run_autojump, wait_all_tasks_blocked};

#[test]
fn set_wakes_every_waiter() {
    run_autojump(|| async {
        let ev = Rc::new(Event::new());
        let woken = Rc::new(Cell::new(0));
        open_nursery(|n| {
            let (ev, woken) = (ev.clone(), woken.clone());
            async move {
                for _ in 0..3 {
                    let (ev, woken) = (ev.clone(), woken.clone());
                    n.start_soon(async move {
                        ev.wait().await?;
                        woken.set(woken.get() + 1);
                        Ok(())
                    });
                }
                wait_all_tasks_blocked().await?;
                assert_eq!(ev.statistics().tasks_waiting, 3);
                assert_eq!(woken.get(), 0, "nobody passes before set");
                ev.set();
                assert_eq!(ev.statistics().tasks_waiting, 0);
                Ok(())
            }
        })
        .await?;
        assert_eq!(woken.get(), 3);
        Ok(())
    })
    .unwrap();
}

#[test]
fn wait_on_a_set_event_is_still_a_checkpoint() {
    run_autojump(|| async {
        let ev = Event::new();
        ev.set();
        assert_checkpoints(ev.wait()).await?;
        let scope = CancelScope::new();
        scope.handle().cancel();
        let r = scope.run(ev.wait()).await?;
        assert!(
            r.is_none(),
            "a cancelled scope raises even when the event is set"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelled_wait_leaves_the_queue() {
    run_autojump(|| async {
        let ev = Rc::new(Event::new());
        let r = trio_core::move_on_after(std::time::Duration::from_secs(1), ev.wait()).await?;
        assert!(r.is_none());
        assert_eq!(ev.statistics().tasks_waiting, 0);
        assert!(!ev.is_set());
        Ok(())
    })
    .unwrap();
}
