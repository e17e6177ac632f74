//! The shared state behind a memory channel's handles: the buffer, the two FIFO queues
//! of blocked senders and receivers, and the slots they wait in.
//!
//! # Rules
//!
//! 1. A blocked operation owns one *slot* (an index into `slots`) from the moment it
//!    parks until its future finishes or is dropped; its index sits in `send_queue` or
//!    `recv_queue` exactly while the slot is `WaitSend`/`WaitRecv`.
//! 2. Whoever completes a blocked operation (a receiver taking a blocked sender's item, a
//!    sender handing an item to a blocked receiver, a `close`) removes the index from
//!    its queue, writes the outcome into the slot (`Sent`, `Received`, `Failed`) and
//!    wakes the waiter, all in one borrow. The waiter only reads its slot.
//! 3. Cancellation runs the waiter's abort function: if its slot is still waiting, it
//!    leaves the queue and the slot becomes `Failed(Cancelled, item)` (abort succeeds:
//!    nothing happened); otherwise the outcome is already there (abort fails, and the
//!    completed operation reports success). So an item is always either delivered to
//!    exactly one receiver or given back to its sender.
//! 4. Receivers wait only while the buffer is empty; senders wait only while it is full
//!    (for size 0: always, until a receiver comes). Hence a sender finding a waiting
//!    receiver hands its item over directly, and a receiver taking from a full buffer
//!    refills it from the longest-waiting sender, preserving FIFO order.
//! 5. Values of `T` are never dropped while the state is borrowed (a `T` may own a
//!    handle of this same channel, whose drop closes it): they are moved out first.
//!
//! Steady state allocates nothing: the buffer, queues and slot table keep their capacity.

use std::collections::VecDeque;
use std::task::Waker;

use trio_core::lowlevel::{reschedule, Abort, Task};
use trio_core::ErrorKind;

/// Who to wake when a slot's outcome is written.
pub(crate) enum Who {
    /// A task blocked in `wait_task_rescheduled`.
    Task(Task),
    /// A `Stream::poll_next` caller.
    Waker(Waker),
}

impl Who {
    fn wake(self) {
        match self {
            Who::Task(t) => reschedule(&t, Ok(())),
            Who::Waker(w) => w.wake(),
        }
    }
}

pub(crate) enum Slot<T> {
    Vacant,
    WaitSend {
        who: Who,
        handle: u64,
        item: T,
    },
    WaitRecv {
        who: Who,
        handle: u64,
    },
    Sent,
    Received(T),
    /// The operation failed with this kind; a send gets its item back.
    Failed(ErrorKind, Option<T>),
}

/// Which queue a slot waits in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Send,
    Recv,
}

pub(crate) struct State<T> {
    pub(crate) buffer: VecDeque<T>,
    /// `usize::MAX` for an unbounded channel.
    pub(crate) max: usize,
    pub(crate) open_send: usize,
    pub(crate) open_recv: usize,
    send_queue: VecDeque<usize>,
    recv_queue: VecDeque<usize>,
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
    next_handle: u64,
}

impl<T> State<T> {
    pub(crate) fn new(max: usize) -> Self {
        State {
            // Preallocate a modest buffer; it grows to its high-water mark and stays.
            buffer: VecDeque::with_capacity(max.min(64)),
            max,
            open_send: 1,
            open_recv: 1,
            send_queue: VecDeque::new(),
            recv_queue: VecDeque::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_handle: 2,
        }
    }

    pub(crate) fn new_handle_id(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }

    pub(crate) fn tasks_waiting(&self, side: Side) -> usize {
        match side {
            Side::Send => self.send_queue.len(),
            Side::Recv => self.recv_queue.len(),
        }
    }

    /// Sends without blocking (rule 4), or gives the item back with why not.
    pub(crate) fn try_send(&mut self, item: T) -> Result<(), (ErrorKind, T)> {
        if self.open_recv == 0 {
            return Err((ErrorKind::BrokenResource, item));
        }
        if let Some(idx) = self.recv_queue.pop_front() {
            let who = match std::mem::replace(&mut self.slots[idx], Slot::Received(item)) {
                Slot::WaitRecv { who, .. } => who,
                _ => unreachable!("recv_queue holds only waiting receivers"),
            };
            who.wake();
            return Ok(());
        }
        if self.buffer.len() < self.max {
            self.buffer.push_back(item);
            return Ok(());
        }
        Err((ErrorKind::WouldBlock, item))
    }

    /// Receives without blocking (rule 4).
    pub(crate) fn try_receive(&mut self) -> Result<T, ErrorKind> {
        if let Some(item) = self.buffer.pop_front() {
            if self.buffer.len() < self.max {
                if let Some(next) = self.take_blocked_send() {
                    self.buffer.push_back(next);
                }
            }
            return Ok(item);
        }
        if let Some(item) = self.take_blocked_send() {
            return Ok(item);
        }
        if self.open_send == 0 {
            return Err(ErrorKind::EndOfChannel);
        }
        Err(ErrorKind::WouldBlock)
    }

    /// Takes the longest-waiting sender's item and completes its send.
    fn take_blocked_send(&mut self) -> Option<T> {
        let idx = self.send_queue.pop_front()?;
        match std::mem::replace(&mut self.slots[idx], Slot::Sent) {
            Slot::WaitSend { who, item, .. } => {
                who.wake();
                Some(item)
            }
            _ => unreachable!("send_queue holds only waiting senders"),
        }
    }

    /// Parks an operation: a fresh slot in the back of its queue.
    pub(crate) fn enqueue(&mut self, side: Side, slot: Slot<T>) -> usize {
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        match side {
            Side::Send => self.send_queue.push_back(idx),
            Side::Recv => self.recv_queue.push_back(idx),
        }
        idx
    }

    /// The abort function of a parked operation (rule 3).
    pub(crate) fn abort(&mut self, side: Side, idx: usize) -> Abort {
        if self.fail_waiter(side, idx, ErrorKind::Cancelled).is_some() {
            Abort::Succeeded
        } else {
            Abort::Failed
        }
    }

    /// If slot `idx` still waits, removes it from its queue and fails it with `kind`;
    /// returns who to wake.
    fn fail_waiter(&mut self, side: Side, idx: usize, kind: ErrorKind) -> Option<Who> {
        let queue = match side {
            Side::Send => &mut self.send_queue,
            Side::Recv => &mut self.recv_queue,
        };
        let pos = queue.iter().position(|&i| i == idx)?;
        queue.remove(pos);
        match std::mem::replace(&mut self.slots[idx], Slot::Vacant) {
            Slot::WaitSend { who, item, .. } => {
                self.slots[idx] = Slot::Failed(kind, Some(item));
                Some(who)
            }
            Slot::WaitRecv { who, .. } => {
                self.slots[idx] = Slot::Failed(kind, None);
                Some(who)
            }
            _ => unreachable!("queues hold only waiting slots"),
        }
    }

    /// Fails every waiter on `side` (only those of `handle`, if given) with `kind`, and
    /// wakes them.
    pub(crate) fn fail_all(&mut self, side: Side, handle: Option<u64>, kind: ErrorKind) {
        let queue = match side {
            Side::Send => &self.send_queue,
            Side::Recv => &self.recv_queue,
        };
        let victims: Vec<usize> = queue
            .iter()
            .copied()
            .filter(|&i| match (&self.slots[i], handle) {
                (_, None) => true,
                (Slot::WaitSend { handle: h, .. } | Slot::WaitRecv { handle: h, .. }, Some(x)) => {
                    *h == x
                }
                _ => false,
            })
            .collect();
        for idx in victims {
            if let Some(who) = self.fail_waiter(side, idx, kind) {
                who.wake();
            }
        }
    }

    /// Whether slot `idx` still waits (for `Stream` polling).
    pub(crate) fn is_waiting(&self, idx: usize) -> bool {
        matches!(
            self.slots[idx],
            Slot::WaitSend { .. } | Slot::WaitRecv { .. }
        )
    }

    /// Replaces the waker of a waiting slot (for `Stream` polling).
    pub(crate) fn set_waker(&mut self, idx: usize, waker: &Waker) {
        if let Slot::WaitSend { who, .. } | Slot::WaitRecv { who, .. } = &mut self.slots[idx] {
            match who {
                Who::Waker(w) if w.will_wake(waker) => {}
                _ => *who = Who::Waker(waker.clone()),
            }
        }
    }

    /// Frees slot `idx` and returns what it held. The caller drops any `T` inside after
    /// releasing its borrow (rule 5). A slot still waiting is first removed from its
    /// queue (a dropped operation).
    pub(crate) fn release_slot(&mut self, side: Side, idx: usize) -> Slot<T> {
        if self.is_waiting(idx) {
            self.fail_waiter(side, idx, ErrorKind::Cancelled);
        }
        self.free.push(idx);
        std::mem::replace(&mut self.slots[idx], Slot::Vacant)
    }

    /// Puts back an item a receiver got but will never see (its handle closed first):
    /// to the longest-waiting receiver, else the front of the buffer, so it is not lost.
    pub(crate) fn requeue(&mut self, item: T) {
        if let Some(idx) = self.recv_queue.pop_front() {
            let who = match std::mem::replace(&mut self.slots[idx], Slot::Received(item)) {
                Slot::WaitRecv { who, .. } => who,
                _ => unreachable!("recv_queue holds only waiting receivers"),
            };
            who.wake();
        } else {
            self.buffer.push_front(item);
        }
    }
}
