//! The tasks attached to a cancel node as their *base* (the nursery or hidden start scope
//! they were spawned under): what a cancellation of that node must wake.
//!
//! Each task keeps its slot index (`TaskData::base_index`). Slots are stable: a task
//! that finishes leaves a hole, reused by the next task attached, so detaching never
//! touches another task's record (a `swap_remove` would rewrite the index of the task
//! moved into the hole, a cache miss on a record nobody else was about to use: the
//! timers benchmark finishes 100 000 tasks in random order). Iteration skips holes; the
//! slots never outnumber the peak of tasks attached at once, and are released when the
//! last task leaves.

use std::rc::Rc;

use crate::task::TaskData;

#[derive(Default)]
pub(crate) struct BaseTasks {
    slots: Vec<Option<Rc<TaskData>>>,
    /// Indices of the holes in `slots`.
    free: Vec<u32>,
}

impl BaseTasks {
    /// Attaches `task`; its index goes into `task.base_index`.
    pub(crate) fn attach(&mut self, task: &Rc<TaskData>) {
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(task.clone());
                i as usize
            }
            None => {
                self.slots.push(Some(task.clone()));
                self.slots.len() - 1
            }
        };
        task.base_index.set(i);
    }

    /// Detaches `task` (nothing if it is not attached here).
    pub(crate) fn detach(&mut self, task: &TaskData) {
        let i = task.base_index.get();
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if !slot.as_ref().is_some_and(|t| std::ptr::eq(&**t, task)) {
            return;
        }
        let removed = slot.take();
        if self.free.len() + 1 == self.slots.len() {
            // The last one: start over (keeps iteration proportional to the tasks since).
            self.slots.clear();
            self.free.clear();
        } else {
            self.free
                .push(u32::try_from(i).expect("fewer than 2^32 tasks per node"));
        }
        drop(removed);
    }

    /// The attached tasks, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Rc<TaskData>> {
        self.slots.iter().flatten()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.free.len() == self.slots.len()
    }

    pub(crate) fn to_vec(&self) -> Vec<Rc<TaskData>> {
        self.iter().cloned().collect()
    }
}
