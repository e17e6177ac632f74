//! The deadline heap: maps cancel-scope deadlines (and so every sleep, which is a scope
//! with a deadline around `sleep_forever`) to the scopes they cancel.
//!
//! Entries hold a weak reference and the node's generation when pushed; moving a
//! deadline or leaving a scope bumps the generation, making older entries stale. Stale
//! entries are skipped when they surface and swept out in bulk once they outnumber the
//! live ones, so a long-running server that leaves many far-future deadlines behind does
//! not grow the heap without bound.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

use crate::cancel::{ScopeNode, WeakNode};
use crate::clock::Instant;

struct Entry {
    deadline: Instant,
    seq: u64,
    generation: u64,
    node: WeakNode,
}

impl Entry {
    fn live_node(&self) -> Option<Rc<ScopeNode>> {
        let node = self.node.upgrade()?;
        (node.generation.get() == self.generation && node.deadline_registered.get()).then_some(node)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

/// A min-heap of deadlines with lazy deletion.
#[derive(Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    /// # Invariant
    /// The number of nodes with `deadline_registered == true`.
    live: usize,
}

impl Deadlines {
    pub(crate) fn push(&mut self, deadline: Instant, node: &Rc<ScopeNode>) {
        self.seq += 1;
        self.live += 1;
        self.heap.push(Reverse(Entry {
            deadline,
            seq: self.seq,
            generation: node.generation.get(),
            node: Rc::downgrade(node),
        }));
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live {
            self.heap.retain(|Reverse(e)| e.live_node().is_some());
        }
    }

    /// A live entry was made stale by its owner.
    pub(crate) fn forget_live(&mut self) {
        self.live -= 1;
    }

    /// The earliest live deadline, dropping stale entries on top.
    pub(crate) fn next(&mut self) -> Option<Instant> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.live_node().is_some() {
                return Some(top.deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Removes and returns the node of the earliest live deadline if it is `<= now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Rc<ScopeNode>> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if top.deadline > now {
                return None;
            }
            let Reverse(entry) = self.heap.pop().expect("peeked");
            if let Some(node) = entry.live_node() {
                node.deadline_registered.set(false);
                self.live -= 1;
                return Some(node);
            }
        }
        None
    }

    pub(crate) fn live(&self) -> usize {
        self.live
    }
}
