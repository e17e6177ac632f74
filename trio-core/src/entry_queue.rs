//! Re-entry from other threads: `TrioToken::run_sync_soon`, and the cross-thread half of
//! the run (`Shared`) that foreign wakers and worker threads touch.
//!
//! Owner half vs shared half: the loop thread owns the run queue, the reactor and the
//! deadline heap; other threads only push into the two `ConcurrentQueue`s here and call
//! `Poller::notify` to wake a loop blocked in the poller. `notified` coalesces those
//! notifications: a producer notifies only if the flag was clear, and the loop clears it
//! before draining, so no push is ever left unseen.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::context;
use crate::reactor::Poller;
use crate::{Error, ErrorKind, Result};
use concurrent_queue::ConcurrentQueue;

/// A task's `Runnable`. Its metadata is the id of its run, so the schedule function can
/// be a plain `fn` (zero-sized: `async_task` then skips the waker clone and drop, two
/// atomic operations, it otherwise wraps around every schedule). A number rather than
/// an `Arc<Shared>`: a spawn then costs no atomic reference count either way; the rare
/// wake-up from another thread finds the shared half through [`find_run`].
pub(crate) type TaskRunnable = async_task::Runnable<usize>;

/// The shared halves of this process's live runs, by run id: what a wake-up from another
/// thread needs (see [`TaskRunnable`]). A few entries (one per thread running trio).
static LIVE_RUNS: Mutex<Vec<(usize, Weak<Shared>)>> = Mutex::new(Vec::new());

fn live_runs() -> std::sync::MutexGuard<'static, Vec<(usize, Weak<Shared>)>> {
    LIVE_RUNS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The shared half of the live run `id`, if it is still running.
pub(crate) fn find_run(id: usize) -> Option<Arc<Shared>> {
    live_runs()
        .iter()
        .find(|(run, _)| *run == id)
        .and_then(|(_, shared)| shared.upgrade())
}

/// Forgets run `id`: it ended.
pub(crate) fn forget_run(id: usize) {
    live_runs().retain(|(run, shared)| *run != id && shared.strong_count() > 0);
}

/// A callback sent into the loop from another thread.
pub(crate) type Callback = Box<dyn FnOnce() + Send + 'static>;

/// The part of a run other threads may touch.
pub(crate) struct Shared {
    pub(crate) id: usize,
    /// The run's poller, for `notify` from other threads; emptied when the run ends, so
    /// a token or waker that outlives the run does not keep its descriptors open.
    notifier: Mutex<Option<Arc<Poller>>>,
    pub(crate) remote_runnables: ConcurrentQueue<TaskRunnable>,
    pub(crate) callbacks: ConcurrentQueue<Callback>,
    notified: AtomicBool,
    pub(crate) finished: AtomicBool,
}

static NEXT_RUN_ID: AtomicUsize = AtomicUsize::new(1);

impl Shared {
    /// The shared half and the poller (which the loop keeps for itself).
    pub(crate) fn new() -> std::io::Result<(Arc<Shared>, Arc<Poller>)> {
        let poller = Arc::new(Poller::new()?);
        let shared = Arc::new(Shared {
            id: NEXT_RUN_ID.fetch_add(1, Ordering::Relaxed),
            notifier: Mutex::new(Some(poller.clone())),
            remote_runnables: ConcurrentQueue::unbounded(),
            callbacks: ConcurrentQueue::unbounded(),
            notified: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        });
        live_runs().push((shared.id, Arc::downgrade(&shared)));
        Ok((shared, poller))
    }

    /// The run is over: forget the poller (closing it once the loop drops its own).
    pub(crate) fn release_poller(&self) {
        self.notifier
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Wakes the loop if it may be blocked in the poller.
    pub(crate) fn wake_loop(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            let notifier = self.notifier.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(poller) = notifier.as_ref() {
                let _ = poller.notify();
            }
        }
    }

    /// Called by the loop before it would drain the queues: clears the flag and says
    /// whether anything was pushed since the last call. Every push is followed by
    /// `wake_loop`, so a push this misses (its flag swap comes later) finds the flag clear,
    /// notifies the poller, and is drained on the next turn. Skipping the drain when
    /// nothing was pushed spares each loop turn two `ConcurrentQueue::pop`s.
    pub(crate) fn take_notified(&self) -> bool {
        self.notified.swap(false, Ordering::AcqRel)
    }

    /// Whether anything was injected since the last `take_notified`.
    pub(crate) fn has_pending(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }
}

/// A handle that lets any thread run code inside a trio run: `Send + Sync + Clone`.
///
/// Get one inside the run with [`current_trio_token`](crate::lowlevel::current_trio_token).
///
/// ```
/// use std::sync::mpsc;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let token = trio_core::lowlevel::current_trio_token();
///     let (tx, rx) = mpsc::channel();
///     std::thread::spawn(move || {
///         token.run_sync_soon(move || tx.send(trio_core::current_time()).unwrap()).unwrap();
///     })
///     .join()
///     .unwrap();
///     // The callback runs on the loop thread at the loop's next turn.
///     while rx.try_recv().is_err() {
///         trio_core::checkpoint().await?;
///     }
///     Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct TrioToken {
    pub(crate) shared: Arc<Shared>,
}

impl TrioToken {
    /// Schedules `f` to run on the loop's thread, outside any task, soon. Callbacks run in
    /// the order they were sent. A callback must not block; it may reschedule tasks. A
    /// panicking callback cancels everything, and its panic is resumed from `run` once
    /// the run has wound down.
    ///
    /// Returns [`ErrorKind::RunFinished`] if the run is over. A callback accepted just as
    /// the run ends may be dropped without running (never kept pending).
    pub fn run_sync_soon(&self, f: impl FnOnce() + Send + 'static) -> Result<()> {
        if self.shared.finished.load(Ordering::Acquire) {
            return Err(Error::new(
                ErrorKind::RunFinished,
                "the trio run this token belongs to has finished",
            ));
        }
        self.shared.callbacks.push(Box::new(f)).map_err(|_| {
            Error::new(
                ErrorKind::RunFinished,
                "the trio run this token belongs to has finished",
            )
        })?;
        self.shared.wake_loop();
        Ok(())
    }

    /// True when called on the thread that runs this token's loop (where blocking on
    /// the loop would deadlock).
    pub fn is_loop_thread(&self) -> bool {
        context::loop_id() == self.shared.id
    }
}

impl std::fmt::Debug for TrioToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrioToken")
            .field("run", &self.shared.id)
            .finish()
    }
}
