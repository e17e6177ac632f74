//! `from_thread`: enter a trio run from another thread (a `to_thread` worker or any
//! foreign thread) and block that thread until the work is done.
//!
//! Both functions go through `TrioToken::run_sync_soon`. `run_sync` runs the closure in
//! the loop's callback, outside any task; `run` spawns a system task for the async
//! closure. Results, errors and panics travel back over a one-shot std channel. Called
//! on the loop's own thread they would deadlock, so they fail with a clear error instead.

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;

use trio_core::lowlevel::{spawn_system_task, TrioToken};
use trio_core::{Error, ErrorKind, Result};

/// Misuse: a `from_thread` function was called on the loop's own thread.
pub const FROM_THREAD_ON_LOOP_THREAD: &str = "from_thread::run/run_sync called on the trio \
     loop's own thread: it would block the loop waiting for itself (deadlock); call it from \
     a worker thread (to_thread) or another thread, or just call the code directly";

/// Misuse: `check_cancelled` was called outside a `to_thread` worker.
pub const CHECK_CANCELLED_OUTSIDE_WORKER: &str = "from_thread::check_cancelled called outside \
     a to_thread::run_sync worker: only a worker knows which trio task is waiting for it";

/// From inside a [`to_thread::run_sync`](crate::to_thread::run_sync) worker: returns
/// `Err(Cancelled)` if the task waiting for this thread has been cancelled, so long
/// blocking work can stop early (by default a cancelled caller keeps waiting for the
/// thread; with `abandon_on_cancel` it has already left). Cheap: one atomic load.
///
/// Errors: `Cancelled` as above; called outside a worker
/// ([`CHECK_CANCELLED_OUTSIDE_WORKER`]).
///
/// ```
/// use std::time::Duration;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let r = trio_core::move_on_after(Duration::from_millis(10), async {
///         trio_sync::to_thread::run_sync(|| {
///             // Work in slices until the caller's timeout cancels it.
///             while trio_sync::from_thread::check_cancelled().is_ok() {
///                 std::hint::spin_loop();
///             }
///         })
///         .await
///     })
///     .await?;
///     assert!(r.is_some()); // the thread finished, so its result is reported
///     Ok(())
/// })
/// # }
/// ```
pub fn check_cancelled() -> Result<()> {
    match crate::to_thread::worker_cancelled() {
        None => Err(Error::new(ErrorKind::Other, CHECK_CANCELLED_OUTSIDE_WORKER)),
        Some(true) => Err(Error::cancelled()),
        Some(false) => Ok(()),
    }
}

fn check_thread(token: &TrioToken) -> Result<()> {
    if token.is_loop_thread() {
        Err(Error::new(ErrorKind::Other, FROM_THREAD_ON_LOOP_THREAD))
    } else {
        Ok(())
    }
}

fn run_finished() -> Error {
    Error::new(
        ErrorKind::RunFinished,
        "the trio run ended before the from_thread call could complete",
    )
}

/// Runs `f` inside the run that `token` belongs to, on its loop thread, and returns its
/// result, blocking the current thread meanwhile. `f` runs outside any task, so it must
/// not block; it may use trio's non-blocking operations (`Event::set`, `try_send`,
/// `spawn_system_task`, ...). A panic in `f` is resumed here.
///
/// Errors: called on the loop's own thread ([`FROM_THREAD_ON_LOOP_THREAD`]); the run is
/// over (`RunFinished`).
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let token = trio_core::lowlevel::current_trio_token();
///     let on_loop = trio_sync::to_thread::run_sync(move || {
///         trio_sync::from_thread::run_sync(&token, || trio_core::lowlevel::in_trio_run())
///     })
///     .await??;
///     assert!(on_loop);
///     Ok(())
/// })
/// # }
/// ```
pub fn run_sync<F, R>(token: &TrioToken, f: F) -> Result<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    check_thread(token)?;
    let (tx, rx) = mpsc::sync_channel(1);
    token.run_sync_soon(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    })?;
    match rx.recv() {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(payload)) => resume_unwind(payload),
        Err(_) => Err(run_finished()),
    }
}

/// Runs the async closure `f` as a system task of the run that `token` belongs to and
/// returns its result, blocking the current thread meanwhile. The task runs under the
/// run's system scope (cancelled when the main task ends), not under the scopes of any
/// task. A panic in it is resumed here.
///
/// Errors: called on the loop's own thread ([`FROM_THREAD_ON_LOOP_THREAD`]); the run is
/// over (`RunFinished`); or whatever `f` returns.
///
/// ```
/// use std::time::Duration;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let token = trio_core::lowlevel::current_trio_token();
///     let v = trio_sync::to_thread::run_sync(move || {
///         trio_sync::from_thread::run(&token, || async {
///             trio_core::sleep(Duration::from_millis(1)).await?;
///             Ok(5)
///         })
///     })
///     .await??;
///     assert_eq!(v, 5);
///     Ok(())
/// })
/// # }
/// ```
pub fn run<F, Fut, R>(token: &TrioToken, f: F) -> Result<R>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<R>> + 'static,
    R: Send + 'static,
{
    check_thread(token)?;
    let (tx, rx) = mpsc::sync_channel(1);
    token.run_sync_soon(move || {
        spawn_system_task(async move {
            let outcome = catch_unwind_future(async move { f().await }).await;
            let _ = tx.send(outcome);
            // The outcome (error or panic) belongs to the calling thread, not the run.
            Ok(())
        });
    })?;
    match rx.recv() {
        Ok(Ok(r)) => r,
        Ok(Err(payload)) => resume_unwind(payload),
        Err(_) => Err(run_finished()),
    }
}

/// Polls `fut`, turning a panic inside it into an `Err` with the payload.
async fn catch_unwind_future<F: Future>(fut: F) -> std::thread::Result<F::Output> {
    let mut fut = pin!(fut);
    std::future::poll_fn(
        move |cx| match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}
