//! A nursery's children are attached to its cancel node (`ScopeNode::attach_base_task`),
//! each knowing its index there, and detached when they finish. Whatever order children
//! finish and start in, the node must still list exactly the running ones and a
//! cancellation must reach every one of them.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::*;
use trio_core::lowlevel::{current_task, Task};
use trio_core::{current_time, open_nursery, sleep};

#[test]
fn children_finishing_and_starting_in_any_order_stay_listed_and_cancellable() {
    autojump(|| async {
        let cancelled = Rc::new(Cell::new(0));
        let c = cancelled.clone();
        open_nursery(|n| async move {
            let mut rng = 0x2545_f491_u64;
            let forever: Rc<RefCell<Vec<Task>>> = Rc::default();
            for round in 0..6u64 {
                // A wave of children: some finish soon (random order), some never do.
                for i in 0..40u64 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let c = c.clone();
                    if i % 4 == 0 {
                        let forever = forever.clone();
                        n.start_soon(async move {
                            forever.borrow_mut().push(current_task());
                            // Finite, so a child the cancellation misses fails the test
                            // (by the clock below) instead of hanging it.
                            let r = sleep(secs(100_000)).await;
                            if r.as_ref().is_err_and(|e| e.is_cancelled()) {
                                c.set(c.get() + 1);
                            }
                            r
                        });
                    } else {
                        let ms = rng % 500;
                        n.start_soon(async move { sleep(Duration::from_millis(ms)).await });
                    }
                }
                sleep(secs(1)).await?; // every finite child of this wave is done
                let mut listed = n.child_tasks();
                let forever = forever.borrow();
                assert_eq!(listed.len(), forever.len(), "round {round}");
                listed.retain(|t| !forever.contains(t));
                assert!(
                    listed.is_empty(),
                    "round {round}: only the running children"
                );
            }
            n.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        assert_eq!(
            cancelled.get(),
            6 * 10,
            "the cancellation reached every child"
        );
        assert_eq!(current_time(), at(6), "and none slept on");
        Ok(())
    })
    .unwrap();
}
