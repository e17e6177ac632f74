//! The heart of trio-sync: cancel safety under chaos. Many tasks send, receive and
//! acquire while cancel scopes around each operation expire or are cancelled at
//! pseudo-random virtual times (MockClock with autojump, seeded batch shuffling), and the
//! books must balance: every item is received exactly once or returned to its sender
//! exactly once; holders never exceed the limit; no token leaks.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    current_time, open_nursery, sleep, CancelHandle, CancelScope, ErrorKind, Result, Runner,
};
use trio_sync::{open_memory_channel, CapacityLimiter, Lock, Semaphore};
use trio_testing::MockClock;

/// xorshift64*: deterministic and good enough to pick times and victims.
#[derive(Clone)]
struct Rng(Rc<Cell<u64>>);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(Rc::new(Cell::new(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        )))
    }
    fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&self, n: u64) -> u64 {
        self.next() % n
    }
    fn micros(&self, max: u64) -> Duration {
        Duration::from_micros(self.below(max))
    }
}

/// The scope each task's current operation runs under, so a canceller can hit it.
type Targets = Rc<RefCell<Vec<Option<CancelHandle>>>>;

/// Runs `op` under a scope with a pseudo-random deadline, registered in `targets[slot]`
/// for the canceller.
async fn chaos_scope<T>(
    rng: &Rng,
    targets: &Targets,
    slot: usize,
    op: impl std::future::Future<Output = Result<T>>,
) -> Result<Option<T>> {
    let scope = CancelScope::new().with_deadline(current_time() + rng.micros(40));
    targets.borrow_mut()[slot] = Some(scope.handle());
    let r = scope.run(op).await;
    targets.borrow_mut()[slot] = None;
    r
}

/// Cancels a random registered scope at random times until `done`.
async fn canceller(rng: Rng, targets: Targets, done: Rc<Cell<bool>>) -> Result<()> {
    while !done.get() {
        sleep(rng.micros(15)).await?;
        let n = targets.borrow().len() as u64;
        if let Some(h) = &targets.borrow()[rng.below(n) as usize] {
            h.cancel();
        }
    }
    Ok(())
}

fn run_chaos<F, Fut>(seed: u64, main: F) -> Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>> + 'static,
{
    Runner::new()
        .clock(MockClock::new().with_autojump_threshold(Duration::ZERO))
        .shuffle_seed(seed)
        .run(main)
}

#[derive(Default)]
struct Books {
    /// item -> times received
    received: HashMap<u64, u32>,
    /// item -> times returned to its sender
    returned: HashMap<u64, u32>,
    /// items whose send reported success
    sent_ok: Vec<u64>,
    cancelled_sends: u32,
    cancelled_receives: u32,
}

fn channel_chaos(buffer: usize, seed: u64) {
    const SENDERS: usize = 6;
    const RECEIVERS: usize = 4;
    const ITEMS: u64 = 60;
    let books = Rc::new(RefCell::new(Books::default()));
    let b = books.clone();
    run_chaos(seed, move || async move {
        let rng = Rng::new(seed);
        let targets: Targets = Rc::new(RefCell::new(vec![None; SENDERS + RECEIVERS]));
        let done = Rc::new(Cell::new(false));
        let (tx, rx) = open_memory_channel::<u64>(buffer);
        open_nursery(|outer| async move {
            for r in 0..RECEIVERS {
                let (rx, rng, targets, books) =
                    (rx.clone(), rng.clone(), targets.clone(), b.clone());
                outer.start_soon(async move {
                    loop {
                        let got = chaos_scope(&rng, &targets, SENDERS + r, async {
                            match rx.receive().await {
                                Ok(v) => {
                                    *books.borrow_mut().received.entry(v).or_default() += 1;
                                    Ok(true)
                                }
                                Err(e) if e.kind() == ErrorKind::EndOfChannel => Ok(false),
                                Err(e) => Err(e),
                            }
                        })
                        .await?;
                        match got {
                            Some(true) => {}
                            Some(false) => return Ok(()),
                            None => books.borrow_mut().cancelled_receives += 1,
                        }
                        if rng.below(3) == 0 {
                            sleep(rng.micros(10)).await?;
                        }
                    }
                });
            }
            drop(rx);
            outer.start_soon(canceller(rng.clone(), targets.clone(), done.clone()));
            open_nursery(|senders| async move {
                for s in 0..SENDERS {
                    let (tx, rng, targets, books) =
                        (tx.clone(), rng.clone(), targets.clone(), b.clone());
                    senders.start_soon(async move {
                        for k in 0..ITEMS {
                            let item = (s as u64) * 1_000_000 + k;
                            let r =
                                chaos_scope(&rng, &targets, s, async { Ok(tx.send(item).await) })
                                    .await?;
                            match r.expect("the body never fails, so the scope never absorbs") {
                                Ok(()) => books.borrow_mut().sent_ok.push(item),
                                Err(e) => {
                                    assert_eq!(e.kind(), ErrorKind::Cancelled);
                                    assert_eq!(e.into_inner(), item, "the same item comes back");
                                    let mut bk = books.borrow_mut();
                                    *bk.returned.entry(item).or_default() += 1;
                                    bk.cancelled_sends += 1;
                                }
                            }
                            if rng.below(3) == 0 {
                                sleep(rng.micros(10)).await?;
                            }
                        }
                        Ok(())
                    });
                }
                drop(tx); // senders hold the only remaining handles
                Ok(())
            })
            .await?;
            done.set(true);
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();

    let books = books.borrow();
    let total = (SENDERS as u64) * ITEMS;
    assert_eq!(
        books.received.len() + books.returned.len(),
        total as usize,
        "every item is accounted for (buffer {buffer}, seed {seed})"
    );
    for (item, n) in books.received.iter().chain(books.returned.iter()) {
        assert_eq!(
            *n, 1,
            "item {item} seen {n} times (buffer {buffer}, seed {seed})"
        );
    }
    for item in books.received.keys() {
        assert!(
            !books.returned.contains_key(item),
            "item {item} both received and returned"
        );
    }
    let mut sent: Vec<u64> = books.sent_ok.clone();
    sent.sort_unstable();
    let mut received: Vec<u64> = books.received.keys().copied().collect();
    received.sort_unstable();
    assert_eq!(sent, received, "an item reported sent is an item received");
    // The chaos really happened: both outcomes occurred.
    assert!(
        books.cancelled_sends > 0,
        "no send was cancelled (buffer {buffer}, seed {seed})"
    );
    assert!(
        books.cancelled_receives > 0,
        "no receive was cancelled (buffer {buffer}, seed {seed})"
    );
    assert!(!books.received.is_empty());
}

#[test]
fn randomized_rendezvous_channel_never_loses_or_duplicates_an_item() {
    for seed in 1..=8 {
        channel_chaos(0, seed);
    }
}

#[test]
fn randomized_buffer_1_channel_never_loses_or_duplicates_an_item() {
    for seed in 1..=8 {
        channel_chaos(1, seed);
    }
}

#[test]
fn randomized_buffer_16_channel_never_loses_or_duplicates_an_item() {
    for seed in 1..=8 {
        channel_chaos(16, seed);
    }
}

/// Something with `limit` slots to take under chaos.
trait Gate {
    fn limit(&self) -> usize;
    async fn take(&self) -> Result<()>;
    fn give(&self);
    fn check_idle(&self);
}

struct LockGate(Lock);
impl Gate for LockGate {
    fn limit(&self) -> usize {
        1
    }
    async fn take(&self) -> Result<()> {
        std::mem::forget(self.0.acquire().await?);
        Ok(())
    }
    fn give(&self) {
        self.0.release().expect("the holder releases");
    }
    fn check_idle(&self) {
        let s = self.0.statistics();
        assert!(!s.locked && s.tasks_waiting == 0, "lock leaked: {s:?}");
    }
}

struct SemGate(Semaphore, usize);
impl Gate for SemGate {
    fn limit(&self) -> usize {
        self.1
    }
    async fn take(&self) -> Result<()> {
        self.0.acquire().await
    }
    fn give(&self) {
        self.0.release().expect("never over-released");
    }
    fn check_idle(&self) {
        assert_eq!(self.0.value(), self.1, "semaphore tokens leaked");
        assert_eq!(self.0.statistics().tasks_waiting, 0);
    }
}

struct LimiterGate(CapacityLimiter);
impl Gate for LimiterGate {
    fn limit(&self) -> usize {
        self.0.total_tokens()
    }
    async fn take(&self) -> Result<()> {
        self.0.acquire().await
    }
    fn give(&self) {
        self.0.release().expect("the borrower releases");
    }
    fn check_idle(&self) {
        let s = self.0.statistics();
        assert_eq!(s.borrowed_tokens, 0, "limiter tokens leaked: {s:?}");
        assert_eq!(s.tasks_waiting, 0);
    }
}

fn gate_chaos<G: Gate + 'static>(seed: u64, make: impl FnOnce() -> G + 'static) {
    const TASKS: usize = 8;
    const ROUNDS: usize = 40;
    run_chaos(seed, move || async move {
        let gate = Rc::new(make());
        let rng = Rng::new(seed);
        let targets: Targets = Rc::new(RefCell::new(vec![None; TASKS]));
        let done = Rc::new(Cell::new(false));
        let holders = Rc::new(Cell::new(0usize));
        let (ok, cancelled) = (Rc::new(Cell::new(0u32)), Rc::new(Cell::new(0u32)));
        let g = gate.clone();
        let (ok2, cancelled2) = (ok.clone(), cancelled.clone());
        open_nursery(|outer| async move {
            outer.start_soon(canceller(rng.clone(), targets.clone(), done.clone()));
            open_nursery(|n| async move {
                for t in 0..TASKS {
                    let (g, rng, targets, holders) =
                        (g.clone(), rng.clone(), targets.clone(), holders.clone());
                    let (ok, cancelled) = (ok2.clone(), cancelled2.clone());
                    n.start_soon(async move {
                        for _ in 0..ROUNDS {
                            let got = chaos_scope(&rng, &targets, t, g.take()).await?;
                            if got.is_none() {
                                cancelled.set(cancelled.get() + 1);
                                continue;
                            }
                            ok.set(ok.get() + 1);
                            holders.set(holders.get() + 1);
                            assert!(holders.get() <= g.limit(), "more holders than the limit");
                            // Hold it across a sleep that may itself be cancelled.
                            let _ = chaos_scope(&rng, &targets, t, sleep(rng.micros(20))).await?;
                            holders.set(holders.get() - 1);
                            g.give();
                        }
                        Ok(())
                    });
                }
                Ok(())
            })
            .await?;
            done.set(true);
            Ok(())
        })
        .await?;
        gate.check_idle();
        assert!(ok.get() > 0, "nobody ever acquired (seed {seed})");
        assert!(
            cancelled.get() > 0,
            "no acquire was cancelled (seed {seed})"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn randomized_lock_never_has_two_holders_and_never_leaks() {
    for seed in 1..=6 {
        gate_chaos(seed, || LockGate(Lock::new()));
    }
}

#[test]
fn randomized_semaphore_never_exceeds_its_value_and_never_leaks() {
    for seed in 1..=6 {
        gate_chaos(seed, || SemGate(Semaphore::with_max_value(3, 3), 3));
    }
}

#[test]
fn randomized_capacity_limiter_never_exceeds_its_tokens_and_never_leaks() {
    for seed in 1..=6 {
        gate_chaos(seed, || LimiterGate(CapacityLimiter::new(2)));
    }
}
