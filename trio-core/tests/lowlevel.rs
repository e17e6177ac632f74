//! The rest of `trio_core::lowlevel`: `RunVar` (one value per run, dropped with the run),
//! `wait_all_tasks_blocked` (quiescence, served before an autojump), and task
//! introspection (`current_task`, `Task::is_cancelled`).

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use trio_core::lowlevel::{current_task, wait_all_tasks_blocked, RunVar};
use trio_core::{checkpoint, current_time, open_nursery, sleep, CancelScope, Result};

#[test]
fn a_run_var_holds_one_value_per_run() {
    static COUNT: RunVar<u32> = RunVar::new("count");
    assert_eq!(COUNT.name(), "count");
    autojump(|| async {
        assert_eq!(COUNT.get(), None);
        assert_eq!(COUNT.get_or_init(|| 5), 5);
        assert_eq!(COUNT.set(6), Some(5));
        // Visible from every task of the run.
        open_nursery(|n| async move {
            n.start_soon(async {
                assert_eq!(COUNT.get(), Some(6));
                COUNT.set(7);
                Ok(())
            });
            Ok(())
        })
        .await?;
        assert_eq!(COUNT.get(), Some(7));
        assert_eq!(COUNT.remove(), Some(7));
        assert_eq!(COUNT.get(), None);
        COUNT.set(8);
        Ok(())
    })
    .unwrap();
    autojump(|| async {
        assert_eq!(COUNT.get(), None, "a new run starts empty");
        Ok(())
    })
    .unwrap();
}

#[derive(Clone)]
struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_run_vars_value_is_dropped_when_the_run_ends() {
    static HELD: RunVar<Rc<DropCounter>> = RunVar::new("held");
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    autojump(move || async move {
        HELD.set(Rc::new(DropCounter(d)));
        Ok(())
    })
    .unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn wait_all_tasks_blocked_returns_once_everyone_else_is_blocked_and_before_time_jumps() {
    autojump(|| async {
        let progress = Rc::new(Cell::new(0));
        let (p, p2) = (progress.clone(), progress.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                for _ in 0..5 {
                    p.set(p.get() + 1);
                    checkpoint().await?;
                }
                sleep(secs(10)).await?;
                p.set(100);
                Ok(())
            });
            wait_all_tasks_blocked(secs(0)).await?;
            assert_eq!(p2.get(), 5, "the sibling ran until it blocked");
            assert_eq!(
                current_time(),
                at(0),
                "quiescence is seen before the autojump"
            );
            Ok(())
        })
        .await?;
        assert_eq!(progress.get(), 100);
        Ok(())
    })
    .unwrap();
}

#[test]
fn wait_all_tasks_blocked_is_cancellable() {
    autojump(|| async {
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(wait_all_tasks_blocked(secs(0))).await?, None);
        // And it leaves nothing behind: a later wait still works.
        wait_all_tasks_blocked(secs(0)).await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_task_reports_its_name_and_whether_it_is_cancelled() {
    autojump(|| async {
        let me = current_task();
        assert_eq!(me.name(), "<main>");
        assert!(!me.is_system());
        assert!(!me.is_cancelled());
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let scope = CancelScope::new();
        let h = scope.handle();
        scope
            .run(async move {
                s.borrow_mut().push(current_task().is_cancelled());
                h.cancel();
                s.borrow_mut().push(current_task().is_cancelled());
                Ok::<_, trio_core::Error>(())
            })
            .await?;
        assert_eq!(*seen.borrow(), [false, true]);
        assert!(!me.is_cancelled(), "outside the cancelled scope again");
        let other = current_task();
        assert_eq!(other, me);
        assert_eq!(other.id(), me.id());
        // Asked about another task: the answer is for its nursery's scope.
        open_nursery(|n| async move {
            n.start_soon(async {
                CancelScope::new()
                    .with_shield(true)
                    .run(sleep(secs(1)))
                    .await?;
                Ok(())
            });
            checkpoint().await?;
            let child = n.child_tasks().pop().expect("a child");
            assert!(!child.is_cancelled());
            n.cancel_scope().cancel();
            assert!(child.is_cancelled());
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn task_ids_are_unique() -> Result<()> {
    autojump(|| async {
        let ids = Rc::new(RefCell::new(vec![current_task().id()]));
        let i = ids.clone();
        open_nursery(|n| async move {
            for _ in 0..5 {
                let i = i.clone();
                n.start_soon(async move {
                    i.borrow_mut().push(current_task().id());
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let mut v = ids.borrow().clone();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), 6);
        Ok(())
    })
}
