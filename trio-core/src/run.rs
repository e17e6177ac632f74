//! `run`, the `Runner` builder, and the run loop itself.
//!
//! # The loop
//!
//! One thread, one loop, one poller. Each turn:
//! 1. drain what other threads injected (woken tasks, `run_sync_soon` callbacks);
//! 2. wait for I/O: not at all if tasks are runnable and no fd is watched, for zero time
//!    if tasks are runnable, otherwise until the next deadline, `wait_all_tasks_blocked`
//!    cushion or autojump threshold;
//! 3. expire deadlines (cancelling their scopes, which wakes the tasks under them, and
//!    waking sleeping tasks);
//! 4. if nothing is runnable, the loop is idle: wake `wait_all_tasks_blocked` waiters
//!    whose cushion has passed, else let an autojumping clock jump to the next deadline;
//! 5. run one *batch*: the tasks runnable at the start of the batch, each polled once.
//!    A task woken during the batch runs in the next one, after I/O was polled again, so
//!    no task can starve the others by checkpointing in a loop.
//!
//! The run ends when the main task and every other task have finished. When main
//! finishes, the system scope is cancelled so system tasks end too. A failing system
//! task or callback cancels everything and makes `run` return an `Internal` error.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::cancel::ScopeNode;
use crate::checkpoint::{reschedule, wait_task_rescheduled, Abort};
use crate::clock::{Clock, Instant, RealTime, SystemClock, SystemClockInfo};
use crate::context;
use crate::deadline::Deadlines;
use crate::entry_queue::{Shared, TaskRunnable, TrioToken};
use crate::error::StdErrorAdapter;
use crate::instrument::{Instrument, Instruments};
use crate::reactor::Reactor;
use crate::task::{self, Outcome, Owner, Task};
use crate::{Error, ErrorKind, Result};

/// Configures and starts a run: clock, instruments, and a shuffle seed for tests.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// let answer = trio_core::Runner::new()
///     .shuffle_seed(7) // shake out dependence on the order tasks run in a batch
///     .run(|| async { Ok(42) })?;
/// assert_eq!(answer, 42);
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Runner {
    clock: Option<Box<dyn Clock>>,
    /// Set when the clock is a [`SystemClock`] (its origin and coarse bound).
    system: Option<SystemClockInfo>,
    instruments: Vec<Box<dyn Instrument>>,
    shuffle_seed: Option<u64>,
}

impl Runner {
    /// A runner with the system clock, no instruments and deterministic batch order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `clock` for all time in the run (e.g. trio-testing's `MockClock`).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.system = (&clock as &dyn Any)
            .downcast_ref::<SystemClock>()
            .map(SystemClock::info);
        self.clock = Some(Box::new(clock));
        self
    }

    /// Adds an instrument.
    pub fn instrument(mut self, instrument: impl Instrument + 'static) -> Self {
        self.instruments.push(Box::new(instrument));
        self
    }

    /// Shuffles the order of each batch with a PRNG seeded by `seed` (0 means no
    /// shuffle), to find code that depends on an order trio-rs does not promise.
    pub fn shuffle_seed(mut self, seed: u64) -> Self {
        self.shuffle_seed = (seed != 0).then_some(seed);
        self
    }

    /// Runs `main` as the main task until it and every task it spawned have finished,
    /// and returns `main`'s result.
    ///
    /// # Panics
    /// If a run is already active on this thread; if `main` (or a task whose panic
    /// reached it) panicked, the panic is resumed here after the run wound down.
    pub fn run<F, Fut, T>(self, main: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>> + 'static,
        T: 'static,
    {
        if context::in_run() {
            panic!("{}", crate::error::misuse::NESTED_RUN);
        }
        let (shared, poller) = Shared::new()
            .map_err(|e| Error::with_source(ErrorKind::Io, "could not create the I/O poller", e))?;
        let (clock, system) = match self.clock {
            Some(clock) => (clock, self.system),
            None => {
                let clock = SystemClock::new();
                let info = clock.info();
                (Box::new(clock) as Box<dyn Clock>, Some(info))
            }
        };
        let root = ScopeNode::new_root();
        let run = Rc::new(RunState {
            shared,
            poller,
            queue: RefCell::new(VecDeque::new()),
            clock,
            deadlines: RefCell::new(Deadlines::default()),
            reactor: Reactor::new(),
            tasks_living: Cell::new(0),
            instruments: Instruments::new(self.instruments),
            run_vars: RefCell::new(HashMap::new()),
            main_scope: ScopeNode::new(),
            system_scope: ScopeNode::new(),
            root,
            main_done: Cell::new(false),
            main_outcome: RefCell::new(None),
            internal_errors: RefCell::new(Vec::new()),
            internal_panic: RefCell::new(None),
            blocked_waiters: RefCell::new(Vec::new()),
            blocked_seq: Cell::new(0),
            idle_since: Cell::new(None),
            rng: Cell::new(self.shuffle_seed.unwrap_or(0)),
        });
        context::enter_run(run.clone());
        // Uninstalls the run however this function is left, even by a panic from
        // `main()`, the clock or an instrument, so the thread can run again.
        let installed = Installed(run.shared.clone());
        crate::clock::install_system_clock(system);
        run.main_scope.enter(&run.root, None);
        run.system_scope.enter(&run.root, None);
        run.clock.start_clock();
        run.instruments.before_run();

        let slot: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
        let out = slot.clone();
        let fut = main();
        let wrapped = async move {
            let v = fut.await?;
            *out.borrow_mut() = Some(v);
            Ok(())
        };
        task::spawn(
            wrapped,
            "<main>".into(),
            run.main_scope.clone(),
            Owner::Run { system: false },
        );

        let looped = catch_unwind(AssertUnwindSafe(|| run.run_loop()));

        run.instruments.after_run();
        drop(installed);
        if let Err(p) = looped {
            resume_unwind(p);
        }
        if let Some(p) = run.internal_panic.borrow_mut().take() {
            resume_unwind(p);
        }
        let internal = std::mem::take(&mut *run.internal_errors.borrow_mut());
        if !internal.is_empty() {
            return Err(Error::from_errors(internal));
        }
        let outcome = run.main_outcome.borrow_mut().take();
        match outcome {
            Some(Outcome::Ok) => Ok(slot
                .borrow_mut()
                .take()
                .expect("main finished Ok with a value")),
            Some(Outcome::Err(e)) => Err(e),
            Some(Outcome::Panic(p)) => resume_unwind(p),
            None => Err(Error::new(
                ErrorKind::Internal,
                "the run ended before its main task",
            )),
        }
    }
}

/// The installed run of this thread; dropping it ends the run for the outside world.
struct Installed(Arc<Shared>);

impl Drop for Installed {
    fn drop(&mut self) {
        self.0.finished.store(true, Ordering::Release);
        // Closed first, so no callback can be accepted after the drain and then wait
        // forever (held by a token) for a loop that is gone: late senders get
        // RunFinished, and what was queued is dropped here (its captures with it).
        self.0.callbacks.close();
        while self.0.callbacks.pop().is_ok() {}
        self.0.release_poller();
        crate::entry_queue::forget_run(self.0.id);
        context::exit_run();
        crate::cancel::clear_scope_pool();
        crate::clock::install_system_clock(None);
    }
}

/// Runs `main` on a new trio loop on this thread with the system clock; returns its
/// result once it and every task it spawned have finished.
///
/// ```
/// use std::time::Duration;
/// # fn main() -> trio_core::Result<()> {
/// let n = trio_core::run(|| async {
///     trio_core::sleep(Duration::from_millis(1)).await?;
///     Ok(7)
/// })?;
/// assert_eq!(n, 7);
/// # Ok(()) }
/// ```
pub fn run<F, Fut, T>(main: F) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>> + 'static,
    T: 'static,
{
    Runner::new().run(main)
}

struct BlockedWaiter {
    cushion: Duration,
    seq: u64,
    task: Task,
}

/// The state of one run; owned by the loop thread.
pub(crate) struct RunState {
    pub(crate) shared: Arc<Shared>,
    /// The OS poller; other threads reach it only through `Shared` to notify.
    pub(crate) poller: Arc<crate::reactor::Poller>,
    queue: RefCell<VecDeque<TaskRunnable>>,
    clock: Box<dyn Clock>,
    pub(crate) deadlines: RefCell<Deadlines>,
    pub(crate) reactor: Reactor,
    pub(crate) tasks_living: Cell<usize>,
    pub(crate) instruments: Instruments,
    pub(crate) run_vars: RefCell<HashMap<usize, Box<dyn Any>>>,
    root: Rc<ScopeNode>,
    main_scope: Rc<ScopeNode>,
    system_scope: Rc<ScopeNode>,
    main_done: Cell<bool>,
    main_outcome: RefCell<Option<Outcome>>,
    internal_errors: RefCell<Vec<Error>>,
    internal_panic: RefCell<Option<Box<dyn Any + Send>>>,
    blocked_waiters: RefCell<Vec<BlockedWaiter>>,
    blocked_seq: Cell<u64>,
    /// When the loop last found nothing runnable (real time), while it stays idle.
    idle_since: Cell<Option<RealTime>>,
    /// xorshift state for batch shuffling; 0 = off.
    rng: Cell<u64>,
}

impl RunState {
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        crate::clock::system_now().unwrap_or_else(|| {
            let now = self.clock.current_time();
            crate::clock::note_time_handed_out(now);
            now
        })
    }

    /// Whether the clock has reached `deadline`: exactly `now() >= deadline`, but
    /// answered without a precise read when `clock::surely_ahead` proves the deadline is
    /// still ahead (system clock only).
    #[inline]
    pub(crate) fn deadline_passed(&self, deadline: Instant) -> bool {
        !crate::clock::surely_ahead(deadline) && self.now() >= deadline
    }

    pub(crate) fn root_task_finished(&self, system: bool, outcome: Outcome) {
        if !system {
            *self.main_outcome.borrow_mut() = Some(outcome);
            self.main_done.set(true);
            self.system_scope.cancel();
            return;
        }
        match outcome {
            Outcome::Ok => {}
            Outcome::Err(e) => {
                if let Some(e) = e.strip_cancelled() {
                    self.internal_error(Error::with_source(
                        ErrorKind::Internal,
                        "a system task failed; the run was cancelled",
                        StdErrorAdapter(e),
                    ));
                }
            }
            Outcome::Panic(p) => self.internal_panic(p),
        }
    }

    /// Records a panic that has no task left to resume it in (a system task's, a
    /// `run_sync_soon` callback's, a child's of a dropped nursery) and cancels
    /// everything; `run` resumes the first such panic once every task has finished.
    pub(crate) fn internal_panic(&self, p: Box<dyn Any + Send>) {
        self.internal_panic.borrow_mut().get_or_insert(p);
        self.root.cancel();
    }

    /// Records an internal failure and cancels everything.
    pub(crate) fn internal_error(&self, e: Error) {
        self.internal_errors.borrow_mut().push(e);
        self.root.cancel();
    }

    fn run_loop(&self) {
        loop {
            if self.shared.take_notified() {
                self.drain_injected();
            }
            if self.main_done.get() && self.tasks_living.get() == 0 {
                break;
            }
            let runnable = !self.queue.borrow().is_empty();
            if !runnable && self.idle_since.get().is_none() {
                self.idle_since.set(Some(RealTime::now()));
            }
            let timeout = if runnable || self.shared.has_pending() {
                Some(Duration::ZERO)
            } else {
                self.idle_timeout()
            };
            let skip_poll = timeout == Some(Duration::ZERO) && self.reactor.waiters() == 0;
            if !skip_poll {
                self.instruments.before_io_wait(timeout);
                if let Err(e) = self.reactor.poll(&self.poller, timeout) {
                    self.internal_error(Error::with_source(
                        ErrorKind::Internal,
                        "waiting for I/O failed",
                        e,
                    ));
                }
                self.instruments.after_io_wait(timeout);
                if self.shared.take_notified() {
                    self.drain_injected();
                }
            }
            self.expire_deadlines();
            if self.queue.borrow().is_empty() {
                self.on_idle();
                continue;
            }
            self.idle_since.set(None);
            self.run_batch();
        }
    }

    fn drain_injected(&self) {
        while let Ok(r) = self.shared.remote_runnables.pop() {
            self.queue.borrow_mut().push_back(r);
        }
        while let Ok(cb) = self.shared.callbacks.pop() {
            if let Err(p) = catch_unwind(AssertUnwindSafe(cb)) {
                self.internal_panic(p);
            }
        }
    }

    fn run_batch(&self) {
        let n = self.queue.borrow().len();
        if self.rng.get() != 0 {
            let mut batch: Vec<TaskRunnable> = self.queue.borrow_mut().drain(..n).collect();
            for i in (1..batch.len()).rev() {
                let j = (self.next_random() % (i as u64 + 1)) as usize;
                batch.swap(i, j);
            }
            for r in batch {
                r.run();
            }
            return;
        }
        for _ in 0..n {
            let r = self.queue.borrow_mut().pop_front();
            match r {
                Some(r) => {
                    r.run();
                }
                None => break,
            }
        }
    }

    fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    fn expire_deadlines(&self) {
        // No live deadline, nothing to expire: skip the clock read (a vDSO call that
        // would otherwise cost every loop turn of a deadline-free program).
        if self.deadlines.borrow().live() == 0 {
            return;
        }
        let now = self.now();
        loop {
            // The borrow ends with this statement: firing wakes and cancels, which may
            // register or remove deadlines.
            let target = self.deadlines.borrow_mut().pop_expired(now);
            match target {
                Some(target) => target.fire(),
                None => break,
            }
        }
    }

    /// The earliest deadline the clock can reach. [`Instant::MAX`] stands for Trio's
    /// infinite deadline (`move_on_after(Duration::MAX, ..)` saturates there): it is never
    /// waited for and never autojumped to, so a body parked under it stays parked, as in
    /// Trio, instead of being cut off at the end of time.
    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines
            .borrow_mut()
            .next()
            .filter(|&d| d != Instant::MAX)
    }

    /// How long the poller may block when nothing is runnable.
    fn idle_timeout(&self) -> Option<Duration> {
        let idle_for = self
            .idle_since
            .get()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        let next = self.next_deadline();
        let mut timeout = next.and_then(|d| self.clock.deadline_to_sleep_time(d));
        let mut consider = |d: Duration| {
            timeout = Some(timeout.map_or(d, |t| t.min(d)));
        };
        // As in Trio: while anyone waits for quiescence, the clock does not autojump
        // (whatever the cushion), so the autojump threshold only matters without waiters.
        if let Some(c) = self.min_cushion() {
            consider(c.saturating_sub(idle_for));
        } else if let (Some(th), Some(_)) = (self.clock.autojump_threshold(), next) {
            consider(th.saturating_sub(idle_for));
        }
        timeout
    }

    fn min_cushion(&self) -> Option<Duration> {
        self.blocked_waiters
            .borrow()
            .iter()
            .map(|w| w.cushion)
            .min()
    }

    /// Nothing is runnable: quiescence waiters first, then autojump.
    fn on_idle(&self) {
        let Some(since) = self.idle_since.get() else {
            return;
        };
        let idle_for = since.elapsed();
        let min_cushion = self.min_cushion();
        if let Some(c) = min_cushion {
            if idle_for >= c {
                let ready: Vec<BlockedWaiter> = {
                    let mut w = self.blocked_waiters.borrow_mut();
                    let (ready, rest) = std::mem::take(&mut *w)
                        .into_iter()
                        .partition(|x| x.cushion == c);
                    *w = rest;
                    ready
                };
                for w in ready {
                    reschedule(&w.task, Ok(()));
                }
                self.idle_since.set(None);
                return;
            }
        }
        if let Some(th) = self.clock.autojump_threshold() {
            // Any waiter (whatever its cushion) wakes before the clock jumps.
            if idle_for >= th && min_cushion.is_none() {
                let next = self.next_deadline();
                if let Some(d) = next {
                    self.clock.autojump(d);
                    self.expire_deadlines();
                    self.idle_since.set(None);
                }
            }
        }
    }

    pub(crate) fn add_blocked_waiter(&self, cushion: Duration, task: Task) -> u64 {
        let seq = self.blocked_seq.get() + 1;
        self.blocked_seq.set(seq);
        self.blocked_waiters
            .borrow_mut()
            .push(BlockedWaiter { cushion, seq, task });
        seq
    }

    fn remove_blocked_waiter(&self, seq: u64) -> Abort {
        let mut w = self.blocked_waiters.borrow_mut();
        match w.iter().position(|x| x.seq == seq) {
            Some(i) => {
                w.remove(i);
                Abort::Succeeded
            }
            None => Abort::Failed,
        }
    }

    pub(crate) fn statistics(&self) -> RunStatistics {
        // Only the task being polled can have scopes whose deadlines are not in the
        // queue yet (`ScopeNode::enter_lazily`): every other task yielded, which
        // published them.
        ScopeNode::publish_current_chain();
        let next = self.next_deadline();
        let now = self.now();
        RunStatistics {
            tasks_living: self.tasks_living.get(),
            tasks_runnable: self.queue.borrow().len(),
            time_to_next_deadline: next.map(|d| d.saturating_duration_since(now)),
            run_sync_soon_queue_size: self.shared.callbacks.len(),
            io_waiters: self.reactor.waiters(),
            live_deadlines: self.deadlines.borrow().live(),
        }
    }

    pub(crate) fn system_scope(&self) -> Rc<ScopeNode> {
        self.system_scope.clone()
    }

    pub(crate) fn token(&self) -> TrioToken {
        TrioToken {
            shared: self.shared.clone(),
        }
    }
}

/// A snapshot of the run loop, from [`current_statistics`](crate::lowlevel::current_statistics).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunStatistics {
    /// Tasks alive (spawned and not finished), including the main and system tasks.
    pub tasks_living: usize,
    /// Tasks waiting in the run queue.
    pub tasks_runnable: usize,
    /// Run-clock time until the next deadline, if any.
    pub time_to_next_deadline: Option<Duration>,
    /// Callbacks from other threads not yet run.
    pub run_sync_soon_queue_size: usize,
    /// Tasks blocked waiting for file descriptors.
    pub io_waiters: usize,
    /// Cancel scopes (and sleeps) with a pending deadline.
    pub live_deadlines: usize,
}

/// Waits until every other task in the run has been blocked for `cushion` of real time:
/// nothing runnable, nothing arriving from I/O or other threads. Waiters with the
/// smallest cushion wake first (ties together), and before an autojumping clock jumps.
/// A checkpoint.
///
/// This is the quiescence test trio-testing builds on; `trio_testing` re-exports it.
pub async fn wait_all_tasks_blocked(cushion: Duration) -> Result<()> {
    let task = context::current_task();
    let seq = context::with_run(|run| run.add_blocked_waiter(cushion, Task(task)));
    wait_task_rescheduled(|| context::with_run(|run| run.remove_blocked_waiter(seq))).await
}

/// The schedule function of every task: a plain `fn` that finds the run in the task's
/// metadata (see [`TaskRunnable`] for why it must capture nothing).
pub(crate) fn schedule(runnable: TaskRunnable) {
    let id = *runnable.metadata();
    if context::loop_id() == id {
        context::with_run(|run| run.queue.borrow_mut().push_back(runnable));
    } else if let Some(shared) = crate::entry_queue::find_run(id) {
        // Woken from another thread (a foreign waker): hand it to the loop. The queue is
        // unbounded and never closed, so the push cannot fail.
        if shared.remote_runnables.push(runnable).is_ok() {
            shared.wake_loop();
        }
    } else {
        // The run is gone (it ended by a panic while this task was parked), so the task
        // can never run again. Dropping it would drop its future here, possibly on a
        // foreign thread, where `async_task` forbids dropping a local task's future.
        std::mem::forget(runnable);
    }
}

/// Spawns a system task: it runs under the run's system scope (not inside any user
/// nursery), is cancelled when the main task finishes, and is joined before `run`
/// returns. If it fails (any error but its own `Cancelled`) or panics, everything is
/// cancelled and `run` returns an `Internal` error naming it.
pub fn spawn_system_task<F>(fut: F)
where
    F: Future<Output = Result<()>> + 'static,
{
    let scope = context::with_run(|run| run.system_scope());
    task::spawn(
        fut,
        std::any::type_name::<F>().into(),
        scope,
        Owner::Run { system: true },
    );
}
