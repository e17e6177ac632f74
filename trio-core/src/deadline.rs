//! The deadline queue: every pending deadline of the run, with what to do when it
//! passes: cancel a scope (a `CancelScope` with a deadline, so every timeout), or wake a
//! task parked in `sleep`/`sleep_until` (a sleep has no scope of its own: see
//! `timeout.rs`).
//!
//! # Layout: a hierarchical timing wheel with exact deadlines
//!
//! Deadlines are whole nanoseconds. The wheel has [`LEVELS`] levels of 64 slots; a slot
//! of level 0 spans 2^[`SLOT0_BITS`] ns (262 µs), one of level `k` 64^k times that. The
//! wheel's position, `elapsed`, is the start of a level-0 slot (never later than the last
//! `now` it expired at). An entry is filed, like in tokio's wheel, by the highest 6-bit
//! group (above the level-0 bits) in which its deadline differs from `elapsed`: that group
//! is its level and the deadline's bits there its slot. So every entry of a lower level
//! is earlier than every entry of a higher one, within a level the slot index is the
//! time order, and "the earliest slot" is the lowest set bit of the lowest non-empty
//! level's occupancy mask. Filing is an append to a `Vec`: no comparison, no sifting.
//!
//! Slots hold entries unsorted; an entry carries its deadline, its registration number
//! and its target, so expiring never looks anything up elsewhere. When the clock reaches
//! the earliest slot, the wheel moves `elapsed` to its start: a level-0 slot's entries
//! are sorted (deadline, then registration) into the *run*; a higher slot's entries are
//! refiled one level (or more) down, each entry at most once per level. Entries whose
//! deadline falls in the level-0 slot `elapsed` is in (or before it) are filed into a
//! small binary heap, *late*, instead (a short sleep registered mid-slot). The next
//! deadline is the smaller of the run's front and late's top, so deadlines fire exactly
//! when `deadline <= now` and in (deadline, registration) order, as before; only the
//! memory traffic differs: expiry walks the run front to back.
//!
//! [`Deadlines::next`] (the loop's wait and the mock clock's autojump) never moves the
//! wheel: with the run and late empty, it scans the earliest slot for its minimum and
//! caches it until an insertion, a removal of that deadline or a move invalidates it.
//!
//! # Removal
//!
//! A [`Key`] is the deadline and the registration number. Removing (a scope left, a
//! deadline moved, a sleep cancelled) pops the entry at once when it is the last one
//! filed in its slot (a slot is a function of the deadline and `elapsed`, so it is found
//! without a search), which is the case for a scope entered and left with no other timer
//! filed in between. Otherwise the registration number goes into the `removed` set: the
//! entry is stale, skipped when it surfaces, and swept out with every other stale entry
//! once they outnumber the live ones, so memory stays bounded. Targets are weak
//! references (the scope future or the sleeping task owns the strong one), so a stale
//! entry keeps nothing alive and frees nothing when dropped.
//!
//! `remove` must be given only keys that have not fired: whoever registered knows (a
//! scope's key is cleared by [`ScopeNode::deadline_expired`], a sleep learns from the
//! value its park returns).
//!
//! # Memory
//!
//! Entries: the live ones plus at most as many stale ones (or [`SWEEP_MIN`]). Buffers:
//! an emptied slot's `Vec` goes to a spare list that slots being filled draw from, so a
//! steady state allocates nothing; spare capacity is kept within twice the live entries
//! plus [`SPARE_SLACK`], trimmed as entries leave, so a drained burst gives its memory
//! back.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::rc::{Rc, Weak};

use crate::cancel::ScopeNode;
use crate::clock::Instant;
use crate::int_hash::IntHash;
use crate::task::TaskData;

/// What a deadline does when it passes.
pub(crate) enum Target {
    /// Cancel this scope (its deadline expired).
    Scope(Weak<ScopeNode>),
    /// Wake this task, parked in a sleep (`timeout::deadline_fired`).
    Wake(Weak<TaskData>),
}

impl Target {
    /// The scope `node`'s deadline.
    pub(crate) fn scope(node: &Rc<ScopeNode>) -> Target {
        Target::Scope(Rc::downgrade(node))
    }

    /// The deadline of `task`'s sleep.
    pub(crate) fn wake(task: &Rc<TaskData>) -> Target {
        Target::Wake(Rc::downgrade(task))
    }

    /// Does what the expired deadline asks. Call with the queue *not* borrowed: cancelling
    /// wakes tasks and runs their code paths, which may register deadlines.
    pub(crate) fn fire(self) {
        // A live registration's owner holds a strong reference, so these upgrade.
        match self {
            Target::Scope(node) => {
                if let Some(node) = node.upgrade() {
                    node.deadline_expired();
                }
            }
            Target::Wake(task) => {
                if let Some(task) = task.upgrade() {
                    crate::timeout::deadline_fired(task);
                }
            }
        }
    }
}

/// Names one registration (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    deadline: u64,
    seq: u64,
}

struct Entry {
    deadline: u64,
    /// The registration number: unique in the run, increasing.
    seq: u64,
    target: Target,
}

impl Entry {
    /// The order: deadline, then registration.
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(self.deadline) << 64) | u128::from(self.seq)
    }
}

/// An entry of the `late` heap: `BinaryHeap` is a max-heap, so the order is reversed.
struct Late(Entry);

impl PartialEq for Late {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Late {}

impl PartialOrd for Late {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Late {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.key().cmp(&self.0.key())
    }
}

/// log2 of a level-0 slot's width in ns (2^18 ns = 262 µs). Smaller slots sort fewer
/// entries at a time; larger ones refile fewer. Measured with the timers benchmark.
const SLOT0_BITS: u32 = 18;
/// log2 of the slots per level.
const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
/// Enough levels to file any `u64` deadline (64 - 18 = 46 bits, 6 per level).
const LEVELS: usize = (64 - SLOT0_BITS).div_ceil(LEVEL_BITS) as usize;

struct Level {
    /// Bit `i` set when `slots[i]` is not empty.
    occupied: u64,
    slots: [Vec<Entry>; SLOTS],
}

impl Default for Level {
    fn default() -> Self {
        Level {
            occupied: 0,
            slots: std::array::from_fn(|_| Vec::new()),
        }
    }
}

/// Spare buffers are kept up to this total capacity (in entries) beyond twice the live
/// entries.
const SPARE_SLACK: usize = 8192;

/// How many run entries [`Deadlines::touch_run_front`] reads at a time.
const TOUCH_BATCH: usize = 8;

/// Fewer stale entries than this are never swept (a sweep walks every entry).
const SWEEP_MIN: usize = 64;

/// The run's pending deadlines. See the module doc.
pub(crate) struct Deadlines {
    /// The wheel's position: the start of a level-0 slot, in ns.
    elapsed: u64,
    levels: Box<[Level; LEVELS]>,
    /// Entries of the level-0 slot at `elapsed` (or before), sorted, earliest first.
    run: VecDeque<Entry>,
    /// Entries filed after `run` was sorted whose deadline is not past `elapsed`'s
    /// level-0 slot: all earlier than anything still in the wheel.
    late: BinaryHeap<Late>,
    /// Registration numbers of removed entries still somewhere in the queue.
    removed: HashSet<u64, IntHash>,
    /// The earliest live deadline in the wheel (not counting `run` and `late`), when
    /// known.
    wheel_min: Option<u64>,
    /// Empty buffers with capacity. An emptied slot gives its buffer back here and a
    /// slot being filled takes one, so in a steady state filing allocates nothing (a
    /// buffer left in an empty slot would wait a whole wheel turn to be reused).
    spare: Vec<Vec<Entry>>,
    /// # Invariant
    /// The sum of `spare`'s capacities; at most `2 * live + SPARE_SLACK` (restored
    /// whenever an entry leaves).
    spare_capacity: usize,
    seq: u64,
    /// # Invariant
    /// The number of entries in the queue whose number is not in `removed`.
    live: usize,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            elapsed: 0,
            levels: Box::new(std::array::from_fn(|_| Level::default())),
            run: VecDeque::new(),
            late: BinaryHeap::new(),
            removed: HashSet::default(),
            wheel_min: None,
            spare: Vec::new(),
            spare_capacity: 0,
            seq: 0,
            live: 0,
        }
    }
}

/// Where a deadline is filed, for the wheel at `elapsed`.
enum Place {
    /// `run` or `late`: not later than the level-0 slot at `elapsed`.
    Near,
    /// `levels[.0].slots[.1]`.
    Wheel(usize, usize),
}

fn place(deadline: u64, elapsed: u64) -> Place {
    let d = deadline >> SLOT0_BITS;
    let w = elapsed >> SLOT0_BITS;
    if d <= w {
        return Place::Near;
    }
    let level = (63 - (d ^ w).leading_zeros()) / LEVEL_BITS;
    let slot = (d >> (LEVEL_BITS * level)) as usize & (SLOTS - 1);
    Place::Wheel(level as usize, slot)
}

impl Deadlines {
    /// Registers `target` to fire once the clock reaches `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, target: Target) -> Key {
        self.seq += 1;
        let entry = Entry {
            deadline: deadline.as_nanos(),
            seq: self.seq,
            target,
        };
        let key = Key {
            deadline: entry.deadline,
            seq: entry.seq,
        };
        self.live += 1;
        match place(entry.deadline, self.elapsed) {
            Place::Near => self.late.push(Late(entry)),
            Place::Wheel(level, slot) => {
                if let Some(min) = self.wheel_min {
                    self.wheel_min = Some(min.min(entry.deadline));
                }
                self.file(level, slot, entry);
            }
        }
        key
    }

    /// Appends `e` to slot (`level`, `slot`).
    #[inline]
    fn file(&mut self, level: usize, slot: usize, e: Entry) {
        let l = &mut self.levels[level];
        if l.occupied & (1 << slot) == 0 {
            l.occupied |= 1 << slot;
            if let Some(buf) = self.spare.pop() {
                self.spare_capacity -= buf.capacity();
                l.slots[slot] = buf;
            }
        }
        l.slots[slot].push(e);
    }

    /// Slot (`level`, `slot`) became empty: its buffer goes to `spare`.
    fn emptied(&mut self, level: usize, slot: usize) {
        let l = &mut self.levels[level];
        l.occupied &= !(1 << slot);
        let buf = std::mem::take(&mut l.slots[slot]);
        self.give_back(buf);
    }

    fn give_back(&mut self, buf: Vec<Entry>) {
        debug_assert!(buf.is_empty());
        // Buffers grown by a burst that has since drained are freed, so spare capacity
        // stays proportional to what is pending (a steady state grows none again).
        let cap = buf.capacity();
        if cap > 0 && self.spare_capacity + cap <= self.buffer_bound() {
            self.spare_capacity += cap;
            self.spare.push(buf);
        }
    }

    /// How much buffer capacity (in entries) is kept beyond what live entries fill: twice
    /// the live entries plus [`SPARE_SLACK`].
    fn buffer_bound(&self) -> usize {
        2 * self.live + SPARE_SLACK
    }

    /// A live entry left the queue (fired or removed): one fewer, and spare buffers
    /// trimmed back within their bound.
    #[inline]
    fn entry_left(&mut self) {
        self.live -= 1;
        if self.spare_capacity > self.buffer_bound() {
            self.trim_spare();
        }
    }

    /// Frees spare buffers until their capacity is back within its bound.
    #[cold]
    fn trim_spare(&mut self) {
        while self.spare_capacity > self.buffer_bound() {
            let Some(buf) = self.spare.pop() else { break };
            self.spare_capacity -= buf.capacity();
        }
    }

    /// Cancels a registration that has not fired (see the module doc).
    pub(crate) fn remove(&mut self, key: Key) {
        self.entry_left();
        if self.wheel_min == Some(key.deadline) {
            self.wheel_min = None;
        }
        if let Place::Wheel(level, slot) = place(key.deadline, self.elapsed) {
            let v = &mut self.levels[level].slots[slot];
            if v.last().is_some_and(|e| e.seq == key.seq) {
                // The newest entry of its slot: gone at once.
                v.pop();
                if v.is_empty() {
                    self.emptied(level, slot);
                }
                return;
            }
        }
        self.removed.insert(key.seq);
        if self.removed.len() > SWEEP_MIN && self.removed.len() > self.live {
            self.sweep();
        }
    }

    /// Whether `seq` was removed; forgets it (its entry is leaving the queue).
    #[inline]
    fn take_removed(&mut self, seq: u64) -> bool {
        !self.removed.is_empty() && self.removed.remove(&seq)
    }

    /// The deadline and number of the earliest of `run` and `late`.
    #[inline]
    fn near_front(&self) -> Option<(u64, u64)> {
        let e = match (self.run.front(), self.late.peek()) {
            (Some(r), Some(l)) if l.0.key() < r.key() => &l.0,
            (Some(r), _) => r,
            (None, Some(l)) => &l.0,
            (None, None) => return None,
        };
        Some((e.deadline, e.seq))
    }

    /// Removes the earliest of `run` and `late` (which must not both be empty).
    #[inline]
    fn pop_near(&mut self) -> Entry {
        let from_late = match (self.run.front(), self.late.peek()) {
            (Some(r), Some(l)) => l.0.key() < r.key(),
            (None, _) => true,
            (Some(_), None) => false,
        };
        if from_late {
            self.late.pop().expect("pop_near: late is not empty").0
        } else {
            self.run.pop_front().expect("pop_near: run is not empty")
        }
    }

    /// The earliest occupied slot: (level, slot, its start in ns).
    fn earliest_slot(&self) -> Option<(usize, usize, u64)> {
        let w = self.elapsed >> SLOT0_BITS;
        let (level, l) = self
            .levels
            .iter()
            .enumerate()
            .find(|(_, l)| l.occupied != 0)?;
        let slot = l.occupied.trailing_zeros();
        let above = LEVEL_BITS * (level as u32 + 1);
        let high = if above >= 64 {
            0
        } else {
            (w >> above) << above
        };
        let start = (high | u64::from(slot) << (LEVEL_BITS * level as u32)) << SLOT0_BITS;
        Some((level, slot as usize, start))
    }

    /// Moves the wheel to the start of slot (`level`, `slot`), the earliest occupied one,
    /// with `run` and `late` empty: its entries go into the run (sorted) or down a level.
    fn advance(&mut self, level: usize, slot: usize, start: u64) {
        debug_assert!(self.run.is_empty() && self.late.is_empty());
        if self.run.capacity() > self.buffer_bound() {
            self.run = VecDeque::new(); // see `give_back`
        }
        self.elapsed = start;
        self.wheel_min = None;
        let l = &mut self.levels[level];
        l.occupied &= !(1 << slot);
        let mut entries = std::mem::take(&mut l.slots[slot]);
        if level == 0 {
            // The run is empty: its buffer and the slot's swap.
            let old = std::mem::replace(&mut self.run, VecDeque::from(entries));
            self.give_back(Vec::from(old));
        } else {
            for e in entries.drain(..) {
                match place(e.deadline, start) {
                    Place::Near => self.run.push_back(e),
                    Place::Wheel(lv, s) => {
                        debug_assert!(lv < level);
                        self.file(lv, s, e);
                    }
                }
            }
            self.give_back(entries);
        }
        self.run.make_contiguous().sort_unstable_by_key(Entry::key);
    }

    /// The earliest pending deadline.
    pub(crate) fn next(&mut self) -> Option<Instant> {
        loop {
            if let Some((d, seq)) = self.near_front() {
                if self.take_removed(seq) {
                    self.pop_near();
                    continue;
                }
                return Some(Instant::from_nanos(d));
            }
            if let Some(min) = self.wheel_min {
                return Some(Instant::from_nanos(min));
            }
            let (level, slot, _) = self.earliest_slot()?;
            if !self.removed.is_empty() {
                let mut v = std::mem::take(&mut self.levels[level].slots[slot]);
                v.retain(|e| !self.removed.remove(&e.seq));
                let empty = v.is_empty();
                self.levels[level].slots[slot] = v;
                if empty {
                    self.emptied(level, slot);
                    continue;
                }
            }
            let min = self.levels[level].slots[slot]
                .iter()
                .map(|e| e.deadline)
                .min();
            self.wheel_min = min;
            return min.map(Instant::from_nanos);
        }
    }

    /// Removes and returns the target of the earliest registration if its deadline is
    /// `<= now`. Call [`Target::fire`] on it after releasing the queue.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Target> {
        let now = now.as_nanos();
        loop {
            match self.near_front() {
                Some((d, _)) if d > now => return None,
                Some(_) => {
                    let e = self.pop_near();
                    if self.take_removed(e.seq) {
                        continue;
                    }
                    self.entry_left();
                    if self.run.len() % TOUCH_BATCH == 0 {
                        self.touch_run_front();
                    }
                    return Some(e.target);
                }
                None => {
                    let (level, slot, start) = self.earliest_slot()?;
                    if start > now {
                        return None;
                    }
                    self.advance(level, slot, start);
                }
            }
        }
    }

    /// Reads the reference counts of the next [`TOUCH_BATCH`] targets of the run: the
    /// first access to records that went cold while they slept. Independent loads, so
    /// their cache misses overlap instead of stalling each firing in turn.
    #[inline(never)]
    fn touch_run_front(&self) {
        let mut sum = 0;
        for e in self.run.iter().take(TOUCH_BATCH) {
            sum += match &e.target {
                Target::Scope(w) => w.strong_count(),
                Target::Wake(w) => w.strong_count(),
            };
        }
        std::hint::black_box(sum);
    }

    /// How many registrations are pending.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Drops every stale entry (O(entries)).
    fn sweep(&mut self) {
        for level in 0..LEVELS {
            let mut occupied = self.levels[level].occupied;
            while occupied != 0 {
                let slot = occupied.trailing_zeros() as usize;
                occupied &= occupied - 1;
                let removed = &mut self.removed;
                let v = &mut self.levels[level].slots[slot];
                v.retain(|e| !removed.remove(&e.seq));
                if v.is_empty() {
                    self.emptied(level, slot);
                }
            }
        }
        let removed = &mut self.removed;
        self.run.retain(|e| !removed.remove(&e.seq));
        self.late.retain(|e| !removed.remove(&e.0.seq));
        debug_assert!(removed.is_empty(), "a removed key was not in the queue");
        removed.clear();
        self.wheel_min = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_free_target() -> Target {
        Target::Scope(Weak::new())
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// How many entries (live or stale) the queue holds.
    fn entries(q: &Deadlines) -> usize {
        q.levels
            .iter()
            .flat_map(|l| l.slots.iter())
            .map(Vec::len)
            .sum::<usize>()
            + q.run.len()
            + q.late.len()
    }

    /// Drains `q` the way the run loop does (the clock jumps to `next()`, everything due
    /// fires) and returns the firing order: (time fired, target).
    fn drain(q: &mut Deadlines) -> Vec<(u64, Weak<ScopeNode>)> {
        let mut out = Vec::new();
        while let Some(next) = q.next() {
            let n = out.len();
            while let Some(t) = q.pop_expired(next) {
                let Target::Scope(w) = t else {
                    panic!("only scope targets here")
                };
                out.push((next.as_nanos(), w));
            }
            assert!(
                out.len() > n,
                "next() said {next:?} but nothing expired there"
            );
        }
        assert_eq!(q.live(), 0);
        out
    }

    #[test]
    fn entries_come_out_in_deadline_then_registration_order() {
        // Deadlines spread over every level, with many ties, a third of them removed.
        let mut rng = Rng(0x1234_5678);
        let mut q = Deadlines::default();
        let mut expected = Vec::new();
        let mut regs = Vec::new();
        for i in 0..5_000usize {
            let scale = rng.next() % 60;
            let d = rng.next() % (1u64 << scale).max(2) / 3 * 3; // ties
            let node = ScopeNode::new();
            let key = q.insert(Instant::from_nanos(d), Target::scope(&node));
            regs.push((d, i, key, node));
        }
        let mut nodes = Vec::new();
        for (n, (d, i, key, node)) in regs.into_iter().enumerate() {
            if n % 3 == 0 {
                q.remove(key);
            } else {
                expected.push((d, i));
            }
            nodes.push(node);
        }
        expected.sort();
        assert_eq!(q.live(), expected.len());
        let got: Vec<(u64, usize)> = drain(&mut q)
            .into_iter()
            .map(|(t, w)| {
                let node = w.upgrade().expect("the test holds every node");
                let i = nodes.iter().position(|n| Rc::ptr_eq(n, &node)).unwrap();
                (t, i)
            })
            .collect();
        assert_eq!(
            got, expected,
            "fired at its deadline, ties in registration order"
        );
        assert_eq!(entries(&q), 0);
    }

    #[test]
    fn ties_fire_in_registration_order_across_run_late_and_wheel() {
        // Same deadline registered before the wheel reaches it (filed in the wheel,
        // sorted into the run) and after (filed in `late`): registration order wins.
        let nodes: Vec<Rc<ScopeNode>> = (0..6).map(|_| ScopeNode::new()).collect();
        let mut q = Deadlines::default();
        let d = Instant::from_nanos(5 << SLOT0_BITS | 7);
        for n in &nodes[..3] {
            q.insert(d, Target::scope(n));
        }
        q.insert(Instant::from_nanos(5 << SLOT0_BITS), task_free_target());
        // Reach the slot: the three go into the run; the earlier one fires.
        assert!(q
            .pop_expired(Instant::from_nanos(5 << SLOT0_BITS))
            .is_some());
        for n in &nodes[3..] {
            q.insert(d, Target::scope(n));
        }
        assert!(!q.late.is_empty(), "filed after the run was sorted");
        for n in &nodes {
            match q.pop_expired(d) {
                Some(Target::Scope(w)) => assert!(Rc::ptr_eq(&w.upgrade().unwrap(), n)),
                _ => panic!("expected the scope targets in registration order"),
            }
        }
        assert!(q.pop_expired(Instant::MAX).is_none());
    }

    #[test]
    fn a_deadline_fires_exactly_at_its_nanosecond() {
        for d in [
            0u64,
            1,
            1 << SLOT0_BITS,
            (1 << SLOT0_BITS) - 1,
            1 << 40,
            u64::MAX - 1,
        ] {
            let mut q = Deadlines::default();
            q.insert(Instant::from_nanos(d), task_free_target());
            if d > 0 {
                assert!(q.pop_expired(Instant::from_nanos(d - 1)).is_none(), "{d}");
            }
            assert_eq!(q.next(), Some(Instant::from_nanos(d)));
            assert!(q.pop_expired(Instant::from_nanos(d)).is_some(), "{d}");
            assert!(q.pop_expired(Instant::MAX).is_none());
            assert_eq!(q.next(), None);
        }
    }

    #[test]
    fn deadlines_far_apart_cascade_through_every_level() {
        // One deadline per level boundary, registered from far to near, then expired in
        // steps that land between them: each fires at its exact time, none early.
        let mut q = Deadlines::default();
        let ds: Vec<u64> = (0..LEVELS as u32)
            .map(|k| (3u64 << (SLOT0_BITS + LEVEL_BITS * k)).saturating_add(11))
            .chain([u64::MAX])
            .collect();
        for &d in ds.iter().rev() {
            q.insert(Instant::from_nanos(d), task_free_target());
        }
        for &d in &ds {
            assert_eq!(q.next(), Some(Instant::from_nanos(d)));
            assert!(q.pop_expired(Instant::from_nanos(d - 1)).is_none());
            assert!(q.pop_expired(Instant::from_nanos(d)).is_some());
        }
        assert_eq!(q.live(), 0);
        assert_eq!(entries(&q), 0);
    }

    #[test]
    fn next_is_exact_without_moving_the_wheel_and_tracks_insert_and_remove() {
        let mut q = Deadlines::default();
        let far = q.insert(Instant::from_nanos(1 << 40), task_free_target());
        assert_eq!(q.next(), Some(Instant::from_nanos(1 << 40)));
        assert_eq!(q.elapsed, 0, "next() does not move the wheel");
        let near = q.insert(Instant::from_nanos(1 << 30), task_free_target());
        assert_eq!(q.next(), Some(Instant::from_nanos(1 << 30)));
        q.remove(near);
        assert_eq!(q.next(), Some(Instant::from_nanos(1 << 40)));
        q.remove(far);
        assert_eq!(q.next(), None);
        assert_eq!(q.live(), 0);
    }

    #[test]
    fn removal_and_reinsertion_while_due_entries_wait() {
        // A scope moving its deadline (remove + insert) in every part of the queue.
        let mut rng = Rng(99);
        let mut q = Deadlines::default();
        let mut live: Vec<(u64, u64, Key)> = Vec::new(); // (deadline, seq, key)
        let mut now = 0u64;
        let mut fired = Vec::new();
        for round in 0..4_000u64 {
            match rng.next() % 4 {
                0 | 1 => {
                    let d = now + rng.next() % (1 << (SLOT0_BITS + 8));
                    let k = q.insert(Instant::from_nanos(d), task_free_target());
                    live.push((d, round, k));
                }
                2 if !live.is_empty() => {
                    let i = (rng.next() % live.len() as u64) as usize;
                    let (_, _, k) = live.swap_remove(i);
                    q.remove(k);
                    let d = now + rng.next() % (1 << (SLOT0_BITS + 2));
                    let k = q.insert(Instant::from_nanos(d), task_free_target());
                    live.push((d, round, k));
                }
                _ => {
                    now += rng.next() % (1 << SLOT0_BITS);
                    live.sort_by_key(|e| (e.0, e.1));
                    let due = live.iter().take_while(|e| e.0 <= now).count();
                    let expected: Vec<u64> = live.drain(..due).map(|e| e.0).collect();
                    while q.pop_expired(Instant::from_nanos(now)).is_some() {
                        fired.push(());
                    }
                    assert_eq!(fired.len(), expected.len(), "round {round}");
                    fired.clear();
                    assert_eq!(q.live(), live.len());
                    let next = live.iter().map(|e| e.0).min();
                    assert_eq!(q.next().map(Instant::as_nanos), next, "round {round}");
                }
            }
        }
    }

    #[test]
    fn a_removed_newest_entry_leaves_at_once() {
        let mut q = Deadlines::default();
        q.insert(Instant::from_nanos(5 << SLOT0_BITS), task_free_target());
        for _ in 0..1_000 {
            let k = q.insert(Instant::MAX, task_free_target());
            q.remove(k);
        }
        assert_eq!(entries(&q), 1);
        assert!(q.removed.is_empty());
    }

    #[test]
    fn stale_entries_are_swept_when_they_outnumber_live_ones() {
        let mut q = Deadlines::default();
        let keys: Vec<Key> = (0..1_000)
            .map(|i| q.insert(Instant::from_nanos(1_000_000 - i), task_free_target()))
            .collect();
        // Removing the oldest ones leaves stale entries (never the newest of a slot).
        for k in &keys[..990] {
            q.remove(*k);
            assert!(entries(&q) <= 2 * q.live() + SWEEP_MIN + 1);
        }
        assert_eq!(q.live(), 10);
        assert_eq!(
            q.next(),
            Some(Instant::from_nanos(999_001)),
            "the kept deadlines are 999 010 down to 999 001"
        );
        let mut fired = 0;
        while q.pop_expired(Instant::MAX).is_some() {
            fired += 1;
        }
        assert_eq!(fired, 10);
    }

    #[test]
    fn buffers_grown_by_a_burst_are_freed_once_it_drained() {
        let mut q = Deadlines::default();
        // Two bursts, one filed a level up: its slot's big buffer is given back (while
        // many entries are live) when it is refiled.
        for i in 0..20_000u64 {
            q.insert(Instant::from_nanos((1 << 30) + i * 8), task_free_target());
        }
        for i in 0..20_000u64 {
            q.insert(Instant::from_nanos((1 << 35) + i * 8), task_free_target());
        }
        while q.pop_expired(Instant::MAX).is_some() {}
        // The run still holds the burst's buffer; the next slot reached takes its place.
        q.insert(Instant::from_nanos(1 << 40), task_free_target());
        assert!(q.pop_expired(Instant::MAX).is_some());
        let spare: usize = q.spare.iter().map(Vec::capacity).sum();
        assert!(
            spare <= 4 * SPARE_SLACK,
            "{spare} entries of spare capacity"
        );
        assert!(q.run.capacity() <= SPARE_SLACK, "run {}", q.run.capacity());
    }

    #[test]
    fn spare_buffers_are_freed_as_entries_leave() {
        let mut q = Deadlines::default();
        let keys: Vec<Key> = (0..20_000u64)
            .map(|i| q.insert(Instant::from_nanos((1 << 35) + i * 8), task_free_target()))
            .collect();
        // Reaching the burst's slot (a few levels up) refiles it into the run and hands
        // the slot's big buffer to `spare` while 20 000 entries are live.
        assert!(q.pop_expired(Instant::from_nanos(1 << 35)).is_some());
        assert!(q.spare_capacity >= 20_000, "{}", q.spare_capacity);
        for k in &keys[1..] {
            q.remove(*k);
        }
        assert_eq!(q.live(), 0);
        assert!(q.spare_capacity <= SPARE_SLACK, "{}", q.spare_capacity);
    }

    #[test]
    fn a_deadline_at_now_expires_and_a_later_one_does_not() {
        let mut q = Deadlines::default();
        q.insert(Instant::from_nanos(10), task_free_target());
        assert!(q.pop_expired(Instant::from_nanos(9)).is_none());
        assert!(q.pop_expired(Instant::from_nanos(10)).is_some());
        assert!(q.pop_expired(Instant::MAX).is_none());
    }

    #[test]
    fn a_deadline_already_behind_the_wheel_fires_first() {
        let mut q = Deadlines::default();
        q.insert(Instant::from_nanos(9 << SLOT0_BITS), task_free_target());
        q.insert(Instant::from_nanos(20 << SLOT0_BITS), task_free_target());
        assert!(q
            .pop_expired(Instant::from_nanos(10 << SLOT0_BITS))
            .is_some());
        // The wheel is at slot 9 now; a past deadline (a scope's deadline moved back).
        q.insert(Instant::from_nanos(3), task_free_target());
        assert_eq!(q.next(), Some(Instant::from_nanos(3)));
        assert!(q
            .pop_expired(Instant::from_nanos(10 << SLOT0_BITS))
            .is_some());
        assert!(q
            .pop_expired(Instant::from_nanos(10 << SLOT0_BITS))
            .is_none());
        assert_eq!(q.next(), Some(Instant::from_nanos(20 << SLOT0_BITS)));
    }
}
