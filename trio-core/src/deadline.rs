//! The deadline queue: every pending deadline of the run, with what to do when it
//! passes: cancel a scope (a `CancelScope` with a deadline, so every timeout), or wake a
//! task parked in `sleep`/`sleep_until` (a sleep has no scope of its own: see
//! `timeout.rs`).
//!
//! # Layout
//!
//! Registrations live in a slab of [`Slot`]s (reused through a free list); a registration
//! is named by a [`Key`], its slot index plus the sequence number it got when made. The
//! order lives in a 4-ary min-heap of small `Copy` entries (deadline in nanoseconds,
//! sequence, slot): no reference counting, no weak-pointer upgrade, and a shallower,
//! more cache-friendly heap than a binary one at 10⁵ entries.
//!
//! Removing a registration (a scope left, a deadline moved, a sleep cancelled) frees its
//! slot at once. Its heap entry is dropped at once too when it is the heap's last element,
//! which it is whenever nothing pushed after it moved it, so a scope entered and left with
//! a far-future deadline and no timer registered in between costs O(1) both ways. Other
//! removed entries become *stale* (their slot's sequence no longer matches): skipped when
//! they surface, and swept out in bulk once they outnumber the live ones, so a server that
//! leaves many far-future deadlines behind does not grow the heap without bound.
//!
//! Ties (equal deadlines) fire in registration order.

use std::rc::Rc;

use crate::cancel::ScopeNode;
use crate::clock::Instant;
use crate::task::TaskData;

/// What a deadline does when it passes.
pub(crate) enum Target {
    /// Cancel this scope (its deadline expired).
    Scope(Rc<ScopeNode>),
    /// Reschedule this task, parked in a sleep, with `Ok(())`.
    Wake(Rc<TaskData>),
}

impl Target {
    /// Does what the expired deadline asks. Call with the queue *not* borrowed: cancelling
    /// wakes tasks and runs their code paths, which may register deadlines.
    pub(crate) fn fire(self) {
        match self {
            Target::Scope(node) => node.deadline_expired(),
            Target::Wake(task) => crate::checkpoint::reschedule(&crate::task::Task(task), Ok(())),
        }
    }
}

/// Names one registration (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    slot: u32,
    seq: u64,
}

struct Slot {
    /// The sequence number of the registration using (or last using) this slot.
    seq: u64,
    /// `Some` while registered.
    target: Option<Target>,
}

#[derive(Clone, Copy)]
struct Entry {
    deadline: u64,
    seq: u64,
    slot: u32,
}

impl Entry {
    /// The order: deadline, then registration. One `u128` compare, no branches.
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(self.deadline) << 64) | u128::from(self.seq)
    }
}

/// Children per heap node.
const ARITY: usize = 4;

/// The run's pending deadlines. See the module doc.
#[derive(Default)]
pub(crate) struct Deadlines {
    heap: Vec<Entry>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    seq: u64,
    /// # Invariant
    /// The number of slots whose `target` is `Some` (each has exactly one heap entry).
    live: usize,
}

impl Deadlines {
    /// Registers `target` to fire once the clock reaches `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, target: Target) -> Key {
        self.seq += 1;
        let seq = self.seq;
        let slot = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.seq = seq;
                s.target = Some(target);
                i
            }
            None => {
                let i = u32::try_from(self.slots.len())
                    .expect("more than 2^32 deadlines pending at once");
                self.slots.push(Slot {
                    seq,
                    target: Some(target),
                });
                i
            }
        };
        self.live += 1;
        if self.heap.len() >= 64 && self.heap.len() >= 2 * self.live {
            self.sweep();
        }
        self.heap.push(Entry {
            deadline: deadline.as_nanos(),
            seq,
            slot,
        });
        self.sift_up(self.heap.len() - 1);
        Key { slot, seq }
    }

    /// Cancels a registration. Returns its target if it had not fired yet; drop that with
    /// the queue no longer borrowed (it may hold the last reference to a task or scope).
    pub(crate) fn remove(&mut self, key: Key) -> Option<Target> {
        let s = self.slots.get_mut(key.slot as usize)?;
        if s.seq != key.seq {
            return None;
        }
        let target = s.target.take()?;
        self.free.push(key.slot);
        self.live -= 1;
        if self
            .heap
            .last()
            .is_some_and(|e| e.slot == key.slot && e.seq == key.seq)
        {
            // A leaf: removing the last element keeps the heap ordered.
            self.heap.pop();
        }
        Some(target)
    }

    fn is_live(&self, e: &Entry) -> bool {
        let s = &self.slots[e.slot as usize];
        s.seq == e.seq && s.target.is_some()
    }

    /// The earliest pending deadline, dropping stale entries on top.
    pub(crate) fn next(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.first() {
            if self.is_live(top) {
                return Some(Instant::from_nanos(top.deadline));
            }
            self.pop_top();
        }
        None
    }

    /// Removes and returns the target of the earliest registration if its deadline is
    /// `<= now`. Call [`Target::fire`] on it after releasing the queue.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Target> {
        let now = now.as_nanos();
        while let Some(top) = self.heap.first() {
            if top.deadline > now {
                return None;
            }
            let e = self.pop_top();
            let s = &mut self.slots[e.slot as usize];
            if s.seq == e.seq {
                if let Some(target) = s.target.take() {
                    self.free.push(e.slot);
                    self.live -= 1;
                    return Some(target);
                }
            }
        }
        None
    }

    /// How many registrations are pending.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Drops every stale entry and restores the heap order (O(n)).
    fn sweep(&mut self) {
        let slots = &self.slots;
        self.heap.retain(|e| {
            let s = &slots[e.slot as usize];
            s.seq == e.seq && s.target.is_some()
        });
        let n = self.heap.len();
        if n > 1 {
            for i in (0..=(n - 2) / ARITY).rev() {
                self.sift_down(i);
            }
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let heap = &mut self.heap[..];
        let e = heap[i];
        let k = e.key();
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if k >= heap[parent].key() {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = e;
    }

    /// The index of the smallest child of `i`, if it has children.
    #[inline(always)] // the inner loop of every pop: a call per level costs a tenth
    fn min_child(heap: &[Entry], i: usize) -> Option<usize> {
        let first = ARITY * i + 1;
        if let Some([a, b, c, d]) = heap.get(first..first + ARITY) {
            // All four children (the common case): a two-round tournament.
            let (ab, kab) = if b.key() < a.key() {
                (first + 1, b.key())
            } else {
                (first, a.key())
            };
            let (cd, kcd) = if d.key() < c.key() {
                (first + 3, d.key())
            } else {
                (first + 2, c.key())
            };
            return Some(if kcd < kab { cd } else { ab });
        }
        let kids = heap.get(first..)?;
        let mut min = 0;
        for j in 1..kids.len() {
            if kids[j].key() < kids[min].key() {
                min = j;
            }
        }
        (!kids.is_empty()).then_some(first + min)
    }

    fn sift_down(&mut self, mut i: usize) {
        let heap = &mut self.heap[..];
        let e = heap[i];
        let k = e.key();
        while let Some(c) = Self::min_child(heap, i) {
            if heap[c].key() >= k {
                break;
            }
            heap[i] = heap[c];
            i = c;
        }
        heap[i] = e;
    }

    /// Removes the top entry. The heap must not be empty.
    ///
    /// Bottom-up: the hole left at the root sinks along the smallest children to a leaf
    /// without comparing against the element that refills it (the old last element,
    /// which almost always belongs near the bottom), then that element rises from there.
    fn pop_top(&mut self) -> Entry {
        let last = self.heap.pop().expect("pop_top on an empty heap");
        let Some(&top) = self.heap.first() else {
            return last;
        };
        let heap = &mut self.heap[..];
        let mut hole = 0;
        while let Some(c) = Self::min_child(heap, hole) {
            heap[hole] = heap[c];
            hole = c;
        }
        heap[hole] = last;
        self.sift_up(hole);
        top
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_free_target() -> Target {
        Target::Scope(ScopeNode::new())
    }

    #[test]
    fn entries_come_out_in_deadline_then_registration_order() {
        let mut q = Deadlines::default();
        let mut rng = 0x1234_5678_u64;
        let mut expected = Vec::new();
        for i in 0..2_000u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let d = rng % 300;
            let key = q.insert(Instant::from_nanos(d), task_free_target());
            expected.push((d, i, key));
        }
        // Remove every third registration; they must never come out.
        let mut kept = Vec::new();
        for (n, (d, i, key)) in expected.into_iter().enumerate() {
            if n % 3 == 0 {
                assert!(q.remove(key).is_some());
                assert!(q.remove(key).is_none(), "a second remove finds nothing");
            } else {
                kept.push((d, i));
            }
        }
        kept.sort();
        assert_eq!(q.live(), kept.len());
        let mut out = 0;
        let mut last = 0;
        while let Some(next) = q.next() {
            assert!(next.as_nanos() >= last);
            last = next.as_nanos();
            assert!(q.pop_expired(Instant::from_nanos(last)).is_some());
            out += 1;
        }
        assert_eq!(out, kept.len());
        assert_eq!(q.live(), 0);
    }

    #[test]
    fn a_removed_newest_entry_leaves_the_heap_at_once() {
        let mut q = Deadlines::default();
        q.insert(Instant::from_nanos(5), task_free_target());
        for _ in 0..1_000 {
            let k = q.insert(Instant::MAX, task_free_target());
            q.remove(k);
        }
        assert_eq!(q.heap.len(), 1);
        assert_eq!(q.slots.len(), 2, "slots are reused");
    }

    #[test]
    fn stale_entries_are_swept_when_they_outnumber_live_ones() {
        let mut q = Deadlines::default();
        let keys: Vec<Key> = (0..1_000)
            .map(|i| q.insert(Instant::from_nanos(1_000 - i), task_free_target()))
            .collect();
        // Removing from the front leaves stale entries deep in the heap.
        for k in &keys[..990] {
            q.remove(*k);
        }
        for _ in 0..100 {
            let k = q.insert(Instant::from_nanos(7), task_free_target());
            q.remove(k);
        }
        assert!(q.heap.len() <= 2 * q.live() + 64, "heap {}", q.heap.len());
        assert_eq!(
            q.next(),
            Some(Instant::from_nanos(1)),
            "the kept deadlines are 10 down to 1"
        );
    }

    #[test]
    fn a_deadline_at_now_expires_and_a_later_one_does_not() {
        let mut q = Deadlines::default();
        q.insert(Instant::from_nanos(10), task_free_target());
        assert!(q.pop_expired(Instant::from_nanos(9)).is_none());
        assert!(q.pop_expired(Instant::from_nanos(10)).is_some());
        assert!(q.pop_expired(Instant::MAX).is_none());
    }
}
