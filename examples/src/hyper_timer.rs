//! [`TrioTimer`]: hyper's `rt::Timer` on the trio run's clock.
//!
//! # Constraints and the choice
//! hyper wants `Timer + Send + Sync` and `Sleep: Send + Sync`, while everything in a trio
//! run is `!Send` (`Rc`, `CancelHandle`). hyper also creates and drops a sleep for every
//! request (the header-read timeout), so a sleep must be cheap: a task per sleep costs a
//! spawn and two task steps per request (measured: half the throughput of a pipelined
//! server). So:
//!
//! * a sleep is a deadline; on its first poll it registers an `Arc` with a fired flag and
//!   a waker slot (`Send + Sync`). hyper drops most of its sleeps unpolled (the request
//!   head was already buffered), and those cost nothing;
//! * each run has one **timer driver**, a system task started on first use, holding a
//!   min-heap of sleeps. It parks until the earliest deadline (`move_on_at`) or until a
//!   sleep with an earlier deadline arrives (a `ParkingLot` unpark), fires what is due and
//!   parks again. System tasks are cancelled when the run's main task ends;
//! * dropping a sleep only marks it; the driver skips marked entries, and the heap is
//!   rebuilt when more than half of it is dead, so memory stays bounded;
//! * `now()` is the run's clock mapped onto `std::time::Instant` from a per-run anchor,
//!   so hyper's deadlines (`now() + d`) convert back exactly and mock clocks drive them.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use trio_core::lowlevel::{in_trio_run, spawn_system_task, ParkingLot, RunVar};
use trio_core::{current_time, move_on_at, Instant, Result};

/// hyper's `Timer` on the trio run's clock. Use it only inside a trio run.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrioTimer;

/// A sleep of [`TrioTimer`]: completes when its trio deadline passes.
pub struct TrioSleep {
    deadline: Instant,
    /// Set when first polled (registered with the driver).
    shared: Option<Arc<SleepShared>>,
}

struct SleepShared {
    fired: AtomicBool,
    dropped: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// One run's timers.
struct Driver {
    /// Min-heap on (deadline, sequence number).
    heap: RefCell<BinaryHeap<Reverse<Entry>>>,
    next_seq: Cell<u64>,
    /// Entries in `heap` whose sleep was dropped.
    dead: Cell<usize>,
    /// The deadline the driver task is parked until (`None`: parked with nothing to do).
    parked_until: Cell<Option<Instant>>,
    lot: ParkingLot,
    /// False once the driver task ended (its run is over).
    alive: Cell<bool>,
    /// Where the run's clock and `std::time::Instant` are pinned together.
    anchor: (std::time::Instant, Instant),
}

struct Entry {
    deadline: Instant,
    seq: u64,
    shared: Arc<SleepShared>,
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

static DRIVER: RunVar<Rc<Driver>> = RunVar::new("hyper_timer::DRIVER");

thread_local! {
    /// The current run's driver, cached: hyper asks for the time and makes a sleep on
    /// every request, and a `RunVar` lookup each time showed in the benchmark. Valid while
    /// the driver task lives (a later run on this thread starts a new one).
    static CACHED: RefCell<Option<Rc<Driver>>> = const { RefCell::new(None) };
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
            next_seq: Cell::new(0),
            dead: Cell::new(0),
            parked_until: Cell::new(None),
            lot: ParkingLot::new(),
            alive: Cell::new(true),
            anchor: (std::time::Instant::now(), current_time()),
        });
        spawn_system_task(drive(d.clone()));
        d
    });
    CACHED.with(|c| *c.borrow_mut() = Some(d.clone()));
    d
}

/// Whether this run has started its timer driver (a system task that lives until the
/// run's main task ends). For leak checks that count tasks.
pub fn timer_driver_running() -> bool {
    in_trio_run() && DRIVER.get().is_some_and(|d| d.alive.get())
}

async fn drive(d: Rc<Driver>) -> Result<()> {
    let r = drive_until_cancelled(&d).await;
    // The run is ending: let go of everything that points into it (the sleeps' wakers
    // hold the run's scheduler, and with it the poller's file descriptors).
    d.alive.set(false);
    d.heap.borrow_mut().clear();
    CACHED.with(|c| c.borrow_mut().take());
    r
}

async fn drive_until_cancelled(d: &Driver) -> Result<()> {
    loop {
        let now = current_time();
        let next = {
            let mut heap = d.heap.borrow_mut();
            loop {
                let (dropped, deadline) = match heap.peek() {
                    Some(Reverse(top)) => {
                        (top.shared.dropped.load(Ordering::Relaxed), top.deadline)
                    }
                    None => break None,
                };
                if !dropped && deadline > now {
                    break Some(deadline);
                }
                let Some(Reverse(e)) = heap.pop() else {
                    break None;
                };
                if dropped {
                    d.dead.set(d.dead.get().saturating_sub(1));
                } else {
                    e.shared.fired.store(true, Ordering::Release);
                    let waker = e
                        .shared
                        .waker
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                    if let Some(w) = waker {
                        w.wake();
                    }
                }
            }
        };
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
    fn sleep_at(&self, deadline: Instant) -> TrioSleep {
        assert!(
            in_trio_run(),
            "TrioTimer used outside a trio run: hyper's timer must be driven by the trio loop \
             that runs the connection"
        );
        TrioSleep {
            deadline,
            shared: None,
        }
    }
}

impl TrioSleep {
    /// Puts the sleep in the driver's heap (on first poll: most sleeps hyper makes are
    /// dropped unpolled, and then cost nothing).
    fn register(&mut self, waker: &Waker) -> Arc<SleepShared> {
        let d = driver();
        let shared = Arc::new(SleepShared {
            fired: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
            waker: Mutex::new(Some(waker.clone())),
        });
        let seq = d.next_seq.get();
        d.next_seq.set(seq + 1);
        d.heap.borrow_mut().push(Reverse(Entry {
            deadline: self.deadline,
            seq,
            shared: shared.clone(),
        }));
        // Wake the driver only if this sleep is due before the one it waits for.
        if d.parked_until.get().is_none_or(|t| self.deadline < t) {
            d.parked_until.set(Some(self.deadline));
            d.lot.unpark_all();
        }
        self.shared = Some(shared.clone());
        shared
    }
}

impl Future for TrioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let shared = match &this.shared {
            Some(s) => s.clone(),
            None => {
                if current_time() >= this.deadline {
                    return Poll::Ready(());
                }
                this.register(cx.waker());
                return Poll::Pending;
            }
        };
        if shared.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *shared.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
        // The driver may have fired between the check and storing the waker.
        if shared.fired.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl hyper::rt::Sleep for TrioSleep {}

impl Drop for TrioSleep {
    fn drop(&mut self) {
        let Some(shared) = &self.shared else { return }; // never polled: not in the heap
        shared.dropped.store(true, Ordering::Relaxed);
        if shared.fired.load(Ordering::Acquire) || !in_trio_run() {
            return; // already out of the heap, or not on the loop thread
        }
        // Only the cached driver: never start one while dropping.
        let Some(d) = CACHED.with(|c| c.borrow().as_ref().filter(|d| d.alive.get()).cloned())
        else {
            return;
        };
        let dead = d.dead.get() + 1;
        d.dead.set(dead);
        // Rebuild when most of the heap is dead, so memory stays bounded.
        let len = d.heap.borrow().len();
        if len >= 64 && dead * 2 > len {
            let mut heap = d.heap.borrow_mut();
            let live: Vec<_> = std::mem::take(&mut *heap)
                .into_iter()
                .filter(|Reverse(e)| !e.shared.dropped.load(Ordering::Relaxed))
                .collect();
            *heap = BinaryHeap::from(live);
            d.dead.set(0);
        }
    }
}

impl hyper::rt::Timer for TrioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.sleep_at(current_time() + duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let (std0, trio0) = driver().anchor;
        Box::pin(self.sleep_at(trio0 + deadline.saturating_duration_since(std0)))
    }

    fn now(&self) -> std::time::Instant {
        let (std0, trio0) = driver().anchor;
        std0 + current_time().saturating_duration_since(trio0)
    }
}
