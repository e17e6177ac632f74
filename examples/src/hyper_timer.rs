//! [`TrioTimer`]: hyper's `rt::Timer` on the trio run's clock.
//!
//! # Constraints and the choice
//! hyper wants `Timer + Send + Sync` and `Sleep: Send + Sync`, while everything in a trio
//! run is `!Send` (`Rc`, `CancelHandle`). hyper also creates and drops a sleep for every
//! request (the header-read timeout), so a sleep must be cheap: a task per sleep costs a
//! spawn and two task steps per request (measured: half the throughput of a pipelined
//! server). So:
//!
//! * a sleep is a deadline (hyper's `std` one kept as given, converted on first poll);
//!   hyper drops most of its sleeps unpolled (the request head was already buffered),
//!   and those cost one allocation, as with tokio's timer;
//! * each run has one **timer driver**, a system task started on first use, holding a
//!   min-heap of sleeps. It parks until the earliest deadline (`move_on_at`) or until a
//!   sleep with an earlier deadline arrives (a `ParkingLot` unpark), fires what is due and
//!   parks again. System tasks are cancelled when the run's main task ends;
//! * a polled sleep holds a *ticket* for a slot in the driver's table (waker, fired
//!   flag): plain numbers, so the sleep stays `Send + Sync` with no `Arc` and no lock.
//!   Slots are used only on the loop thread, through a thread-local handle to the
//!   driver. Dropping a sleep frees its slot at once; its heap entry goes stale (the
//!   ticket no longer matches), the driver skips stale entries, and the heap is
//!   compacted when more than half of it is stale, so memory stays bounded;
//! * `now()` is the run's clock mapped onto `std::time::Instant` from a per-run anchor,
//!   so hyper's deadlines (`now() + d`) convert back exactly and mock clocks drive them.
//!   The anchor is cached in a plain thread-local `Cell` while the driver lives: hyper
//!   asks for `now()` on every request.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use trio_core::lowlevel::{in_trio_run, spawn_system_task, ParkingLot, RunVar};
use trio_core::{current_time, move_on_at, Instant, Result};

/// hyper's `Timer` on the trio run's clock. Use it only inside a trio run.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrioTimer;

/// A sleep of [`TrioTimer`]: completes when its trio deadline passes.
pub struct TrioSleep {
    deadline: Deadline,
    /// Its slot in the driver's table, once polled.
    ticket: Option<Ticket>,
}

/// When a sleep is due: on the run's clock, or as hyper gave it (converted on first
/// poll, since most sleeps are never polled).
#[derive(Clone, Copy)]
enum Deadline {
    Trio(Instant),
    Std(std::time::Instant),
}

impl Deadline {
    fn on_trio_clock(self) -> Instant {
        match self {
            Deadline::Trio(t) => t,
            Deadline::Std(t) => {
                let (std0, trio0) = anchor();
                trio0 + t.saturating_duration_since(std0)
            }
        }
    }
}

/// A registered sleep: its slot, and the number that says the slot is still its own.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ticket {
    /// Unique per run (never 0, which marks a free slot).
    serial: u64,
    slot: u32,
}

/// A registered sleep's state, on the loop thread.
#[derive(Default)]
struct Slot {
    /// The ticket's serial while a sleep owns the slot; 0 when free.
    serial: u64,
    waker: Option<Waker>,
    fired: bool,
}

/// One run's timers.
struct Driver {
    /// Min-heap on (deadline, ticket); entries whose ticket no longer owns its slot are
    /// stale (their sleep was dropped).
    heap: RefCell<BinaryHeap<Reverse<(Instant, Ticket)>>>,
    /// Stale entries in `heap`.
    stale: Cell<usize>,
    slots: RefCell<Vec<Slot>>,
    free_slots: RefCell<Vec<u32>>,
    next_serial: Cell<u64>,
    /// The deadline the driver task is parked until (`None`: parked with nothing to do).
    parked_until: Cell<Option<Instant>>,
    lot: ParkingLot,
    /// False once the driver task ended (its run is over).
    alive: Cell<bool>,
    /// Where the run's clock and `std::time::Instant` are pinned together.
    anchor: (std::time::Instant, Instant),
}

impl Driver {
    /// Whether `ticket` still owns its slot.
    fn owns(slots: &[Slot], ticket: Ticket) -> bool {
        slots
            .get(ticket.slot as usize)
            .is_some_and(|s| s.serial == ticket.serial)
    }

    /// Registers a sleep due at `deadline`, woken through `waker`.
    fn register(&self, deadline: Instant, waker: &Waker) -> Ticket {
        let serial = self.next_serial.get();
        self.next_serial.set(serial + 1);
        let mut slots = self.slots.borrow_mut();
        let slot = match self.free_slots.borrow_mut().pop() {
            Some(i) => i,
            None => {
                slots.push(Slot::default());
                u32::try_from(slots.len() - 1).expect("fewer than 2^32 sleeps at once")
            }
        };
        // A free slot holds no waker: nothing is dropped while `slots` is borrowed.
        slots[slot as usize] = Slot {
            serial,
            waker: Some(waker.clone()),
            fired: false,
        };
        drop(slots);
        let ticket = Ticket { serial, slot };
        self.heap.borrow_mut().push(Reverse((deadline, ticket)));
        // Wake the driver only if this sleep is due before the one it waits for (a
        // deadline already past included: the driver fires it at once).
        if self.parked_until.get().is_none_or(|t| deadline < t) {
            self.parked_until.set(Some(deadline));
            self.lot.unpark_all();
        }
        ticket
    }

    /// Frees `ticket`'s slot (its sleep was dropped).
    fn release(&self, ticket: Ticket) {
        let mut slots = self.slots.borrow_mut();
        if !Self::owns(&slots, ticket) {
            return; // the driver was retired
        }
        let slot = std::mem::take(&mut slots[ticket.slot as usize]);
        self.free_slots.borrow_mut().push(ticket.slot);
        if !slot.fired {
            // Its heap entry stays, stale. Compact when most of the heap is stale, so
            // memory stays bounded (each compaction is paid for by as many drops).
            let stale = self.stale.get() + 1;
            self.stale.set(stale);
            let mut heap = self.heap.borrow_mut();
            if heap.len() >= 64 && stale * 2 > heap.len() {
                heap.retain(|Reverse((_, t))| Self::owns(&slots, *t));
                self.stale.set(0);
            }
        }
        drop(slots);
        drop(slot); // its waker, if any, once nothing is borrowed
    }

    /// `ticket`'s sleep is polled: `true` if it fired; otherwise `waker` is the one to
    /// wake.
    fn poll_ticket(&self, ticket: Ticket, waker: &Waker) -> bool {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots
            .get_mut(ticket.slot as usize)
            .filter(|s| s.serial == ticket.serial)
        else {
            return false; // the driver was retired: the run is ending
        };
        if slot.fired {
            return true;
        }
        let old = match &slot.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => slot.waker.replace(waker.clone()),
        };
        drop(slots);
        drop(old);
        false
    }
}

static DRIVER: RunVar<Rc<Driver>> = RunVar::new("hyper_timer::DRIVER");

thread_local! {
    /// The current run's driver, cached: a `RunVar` lookup per sleep showed in the
    /// benchmark. Valid while the driver task lives (a later run on this thread starts a
    /// new one).
    static CACHED: RefCell<Option<Rc<Driver>>> = const { RefCell::new(None) };
    /// The cached driver's anchor, in a plain `Cell` (no borrow flag, no reference count,
    /// no destructor to register): `now()` runs on every request. Set and cleared with
    /// `CACHED`.
    static ANCHOR: Cell<Option<(std::time::Instant, Instant)>> = const { Cell::new(None) };
}

/// The current run's anchor: `std::time::Instant` and trio time at one moment.
fn anchor() -> (std::time::Instant, Instant) {
    match ANCHOR.with(Cell::get) {
        Some(a) => a,
        None => driver().anchor,
    }
}

/// Runs `f` with the cached driver of this thread's run, if it is alive (never starts
/// one: for drops).
fn with_cached<R>(f: impl FnOnce(&Driver) -> R) -> Option<R> {
    CACHED
        .try_with(|c| c.borrow().as_deref().filter(|d| d.alive.get()).map(f))
        .ok()
        .flatten()
}

/// The current run's driver, started on first use.
fn driver() -> Rc<Driver> {
    let cached = CACHED.with(|c| c.borrow().as_ref().filter(|d| d.alive.get()).cloned());
    if let Some(d) = cached {
        return d;
    }
    let d = DRIVER.get_or_init(|| {
        let d = Rc::new(Driver {
            heap: RefCell::new(BinaryHeap::new()),
            stale: Cell::new(0),
            slots: RefCell::new(Vec::new()),
            free_slots: RefCell::new(Vec::new()),
            next_serial: Cell::new(1),
            parked_until: Cell::new(None),
            lot: ParkingLot::new(),
            alive: Cell::new(true),
            anchor: (std::time::Instant::now(), current_time()),
        });
        spawn_system_task(drive(d.clone()));
        d
    });
    if d.alive.get() {
        CACHED.with(|c| *c.borrow_mut() = Some(d.clone()));
        ANCHOR.with(|a| a.set(Some(d.anchor)));
    }
    d
}

/// Whether this run has started its timer driver (a system task that lives until the
/// run's main task ends). For leak checks that count tasks.
pub fn timer_driver_running() -> bool {
    in_trio_run() && DRIVER.get().is_some_and(|d| d.alive.get())
}

fn drive(d: Rc<Driver>) -> impl Future<Output = Result<()>> {
    // Owned by the future from the start: dropped when the task ends, or with the future
    // if the run is torn down early (even before the task's first step).
    let retire = Retire(d);
    async move { drive_until_cancelled(&retire.0).await }
}

/// Retires a driver whose task is over.
struct Retire(Rc<Driver>);

impl Drop for Retire {
    fn drop(&mut self) {
        // The run is ending: let go of everything that points into it (the sleeps' wakers
        // hold the run's scheduler, and with it the poller's file descriptors), and stop
        // the thread's caches from answering for it.
        let d = &self.0;
        d.alive.set(false);
        d.heap.borrow_mut().clear();
        let slots = std::mem::take(&mut *d.slots.borrow_mut());
        d.free_slots.borrow_mut().clear();
        drop(slots); // the wakers, once nothing is borrowed
        let _ = CACHED.try_with(|c| c.borrow_mut().take());
        let _ = ANCHOR.try_with(|a| a.set(None));
    }
}

async fn drive_until_cancelled(d: &Driver) -> Result<()> {
    loop {
        let now = current_time();
        let mut due = Vec::new();
        let next = {
            let mut heap = d.heap.borrow_mut();
            let mut slots = d.slots.borrow_mut();
            loop {
                let Some(&Reverse((deadline, ticket))) = heap.peek() else {
                    break None;
                };
                let live = Driver::owns(&slots, ticket);
                if live && deadline > now {
                    break Some(deadline);
                }
                heap.pop();
                if live {
                    let slot = &mut slots[ticket.slot as usize];
                    slot.fired = true;
                    due.extend(slot.waker.take());
                } else {
                    d.stale.set(d.stale.get().saturating_sub(1));
                }
            }
        };
        // Woken once nothing is borrowed.
        for w in due {
            w.wake();
        }
        d.parked_until.set(next);
        match next {
            Some(t) => {
                move_on_at(t, d.lot.park()).await?;
            }
            None => d.lot.park().await?,
        }
    }
}

impl TrioTimer {
    fn sleep_at(&self, deadline: Deadline) -> TrioSleep {
        assert!(
            in_trio_run(),
            "TrioTimer used outside a trio run: hyper's timer must be driven by the trio loop \
             that runs the connection"
        );
        TrioSleep {
            deadline,
            ticket: None,
        }
    }
}

impl Future for TrioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.ticket {
            // First poll: into the driver's heap (a deadline already past is fired by
            // the driver at once, sparing every other sleep a clock read here).
            None => {
                let deadline = this.deadline.on_trio_clock();
                this.deadline = Deadline::Trio(deadline);
                this.ticket = Some(driver().register(deadline, cx.waker()));
                Poll::Pending
            }
            Some(ticket) => {
                let fired = with_cached(|d| d.poll_ticket(ticket, cx.waker()));
                if fired == Some(true) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl hyper::rt::Sleep for TrioSleep {}

impl Drop for TrioSleep {
    #[inline] // hyper drops one unpolled sleep per request: that path is one test
    fn drop(&mut self) {
        // Never polled: not in the heap. Otherwise free the slot.
        if let Some(ticket) = self.ticket {
            release(ticket);
        }
    }
}

/// Frees a dropped sleep's slot, if on the loop thread with the driver still alive (a
/// retired driver freed everything already).
#[inline(never)]
fn release(ticket: Ticket) {
    with_cached(|d| d.release(ticket));
}

impl hyper::rt::Timer for TrioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.sleep_at(Deadline::Trio(current_time() + duration)))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.sleep_at(Deadline::Std(deadline)))
    }

    fn now(&self) -> std::time::Instant {
        let (std0, trio0) = anchor();
        std0 + current_time().saturating_duration_since(trio0)
    }
}
