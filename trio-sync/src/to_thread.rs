//! `to_thread`: run blocking code on a worker thread without blocking the loop.
//!
//! A call (1) checks for cancellation, (2) borrows a token from a `CapacityLimiter` on
//! behalf of a fresh `Borrower` (waiting here is cancellable), (3) hands the closure to a
//! cached worker thread and parks the task, and (4) when the closure ends, the worker
//! sends a callback into the loop through the run's `TrioToken`; the callback releases
//! the token and reschedules the task with the result (or resumes the panic).
//!
//! Invariant: the limiter token is released exactly once, on the loop thread, when the
//! thread's work has *really* ended, even if the caller stopped waiting
//! (`abandon_on_cancel`). So at most `total_tokens` closures of a limiter run at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use trio_core::lowlevel::{
    current_task, current_trio_token, reschedule, wait_task_rescheduled, Abort, RunVar, Task,
};
use trio_core::{checkpoint_if_cancelled, Error, ErrorKind, Result};

use crate::capacity_limiter::{Borrower, CapacityLimiter};
use crate::thread_cache;

/// The size of each run's default thread limiter.
pub const DEFAULT_THREAD_LIMIT: usize = 40;

static DEFAULT_LIMITER: RunVar<CapacityLimiter> = RunVar::new("trio_sync::default_thread_limiter");
static CALLS: RunVar<Rc<RefCell<Calls>>> = RunVar::new("trio_sync::thread_calls");

/// The limiter `to_thread` calls use unless given another: one per run, with
/// [`DEFAULT_THREAD_LIMIT`] tokens. Change its size with
/// [`set_total_tokens`](CapacityLimiter::set_total_tokens).
///
/// # Panics
/// Outside a run.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let limiter = trio_sync::to_thread::current_default_thread_limiter();
///     assert_eq!(limiter.total_tokens(), 40);
///     Ok(())
/// })
/// # }
/// ```
pub fn current_default_thread_limiter() -> CapacityLimiter {
    DEFAULT_LIMITER.get_or_init(|| CapacityLimiter::new(DEFAULT_THREAD_LIMIT))
}

/// Runs `f` on a worker thread and returns its result; the calling task waits (other
/// tasks keep running). Same as `Options::new().run_sync(f)`: bounded by the run's
/// default limiter and *not* cancellable once the thread started (a cancel scope takes
/// effect when `f` returns). A panic in `f` is resumed in the caller.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let sum = trio_sync::to_thread::run_sync(|| (1..=10u64).sum::<u64>()).await?;
///     assert_eq!(sum, 55);
///     Ok(())
/// })
/// # }
/// ```
pub async fn run_sync<F, R>(f: F) -> Result<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    Options::new().run_sync(f).await
}

/// How to run a [`to_thread`](crate::to_thread) call: which limiter, and whether a
/// cancelled caller stops waiting.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let limiter = trio_sync::CapacityLimiter::new(2);
///     let v = trio_sync::to_thread::Options::new()
///         .limiter(limiter)
///         .abandon_on_cancel(true)
///         .run_sync(|| 6 * 7)
///         .await?;
///     assert_eq!(v, 42);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "Options does nothing until run_sync is awaited"]
pub struct Options {
    limiter: Option<CapacityLimiter>,
    abandon_on_cancel: bool,
}

impl Options {
    /// The defaults: the run's default limiter; not cancellable.
    ///
    /// ```
    /// let _ = trio_sync::to_thread::Options::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Borrow from `limiter` instead of the run's default one.
    ///
    /// ```
    /// let _ = trio_sync::to_thread::Options::new().limiter(trio_sync::CapacityLimiter::new(1));
    /// ```
    pub fn limiter(mut self, limiter: CapacityLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// If `true`, a cancelled caller returns `Cancelled` at once and the thread finishes
    /// unobserved (its result is dropped; its limiter token is released only when it
    /// really ends). Default `false`: the caller waits for the thread, whose result is
    /// returned even under a cancelled scope.
    ///
    /// ```
    /// let _ = trio_sync::to_thread::Options::new().abandon_on_cancel(true);
    /// ```
    pub fn abandon_on_cancel(mut self, abandon: bool) -> Self {
        self.abandon_on_cancel = abandon;
        self
    }

    /// Runs `f` on a worker thread with these options. A checkpoint.
    ///
    /// Errors: `Cancelled` (before the thread starts, or while running when
    /// `abandon_on_cancel`), or an `Io` error if no thread could be started.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     let name = trio_sync::to_thread::Options::new()
    ///         .run_sync(|| std::thread::current().name().map(String::from))
    ///         .await?;
    ///     assert!(name.unwrap().starts_with("trio-worker"));
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn run_sync<F, R>(self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        checkpoint_if_cancelled().await?;
        let limiter = self.limiter.unwrap_or_else(current_default_thread_limiter);
        let borrower = Borrower::new();
        limiter.acquire_on_behalf_of(borrower).await?;

        let calls = CALLS.get_or_init(Default::default);
        let id = calls.borrow_mut().insert(Call {
            task: Some(current_task()),
            limiter: limiter.clone(),
            borrower,
        });
        let result: Arc<Mutex<Option<std::thread::Result<R>>>> = Arc::new(Mutex::new(None));
        let slot = result.clone();
        let token = current_trio_token();
        // Set by the abort function when the caller's scope is cancelled, for
        // `from_thread::check_cancelled` in the worker.
        let cancelled = Arc::new(AtomicBool::new(false));
        let seen_by_worker = cancelled.clone();
        let job: thread_cache::Job = Box::new(move || {
            let previous = WORKER_CANCELLED.with(|c| c.replace(Some(seen_by_worker)));
            let r = catch_unwind(AssertUnwindSafe(f));
            WORKER_CANCELLED.with(|c| c.replace(previous));
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            Box::new(move || {
                // Fails only if the run is over, and then nobody waits.
                let _ = token.run_sync_soon(move || finish_call(id));
            })
        });
        if let Err(e) = thread_cache::start_thread_soon(job) {
            calls.borrow_mut().map.remove(&id);
            limiter.release_on_behalf_of(borrower)?;
            return Err(Error::with_source(
                ErrorKind::Io,
                "to_thread: could not start a worker thread",
                e,
            ));
        }

        let abandon = self.abandon_on_cancel;
        wait_task_rescheduled(|| {
            cancelled.store(true, Ordering::Release);
            if abandon {
                // The thread goes on; `finish_call` will only release the token.
                if let Some(call) = calls.borrow_mut().map.get_mut(&id) {
                    call.task = None;
                }
                Abort::Succeeded
            } else {
                Abort::Failed
            }
        })
        .await?;
        let outcome = result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("the worker stores its result before calling back");
        match outcome {
            Ok(v) => Ok(v),
            Err(payload) => resume_unwind(payload),
        }
    }
}

thread_local! {
    /// In a worker running a `to_thread` call: whether the caller was cancelled.
    static WORKER_CANCELLED: std::cell::RefCell<Option<Arc<AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// For `from_thread::check_cancelled`: `None` outside a `to_thread` worker, else whether
/// the waiting caller's scope was cancelled.
pub(crate) fn worker_cancelled() -> Option<bool> {
    WORKER_CANCELLED.with(|c| c.borrow().as_ref().map(|f| f.load(Ordering::Acquire)))
}

/// A thread call in flight, owned by the loop thread.
struct Call {
    /// `None` once the caller abandoned it.
    task: Option<Task>,
    limiter: CapacityLimiter,
    borrower: Borrower,
}

#[derive(Default)]
struct Calls {
    map: HashMap<u64, Call>,
    next: u64,
}

impl Calls {
    fn insert(&mut self, call: Call) -> u64 {
        self.next += 1;
        self.map.insert(self.next, call);
        self.next
    }
}

/// On the loop thread, after call `id`'s closure ended: release its token, wake its task.
fn finish_call(id: u64) {
    let Some(calls) = CALLS.get() else { return };
    let call = calls.borrow_mut().map.remove(&id);
    if let Some(call) = call {
        // The borrower is fresh per call and held until now, so this cannot fail.
        let _ = call.limiter.release_on_behalf_of(call.borrower);
        if let Some(task) = call.task {
            reschedule(&task, Ok(()));
        }
    }
}
