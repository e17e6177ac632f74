//! Helpers shared by trio-core's integration tests: catching a panic that comes out of
//! a future, reading a panic's message, and polling a future by hand.

#![allow(dead_code)] // each test file uses a different subset

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use trio_core::{Instant, Result};

/// Runs `main` on a MockClock with autojump threshold 0: virtual, deterministic time.
pub fn autojump<F, Fut, T>(main: F) -> Result<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T>> + 'static,
    T: 'static,
{
    trio_testing::run_autojump(main)
}

/// `Instant::ZERO + secs seconds`: where the mock clock is after `secs` of sleeping.
pub fn at(secs: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(secs)
}

/// Seconds.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The text of a panic payload (`panic!("...")` gives a `String` or a `&str`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "<non-string panic payload>".to_string()
    }
}

/// Runs `f`, expecting a panic; returns its message.
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic, but the call returned"),
        Err(p) => panic_message(&*p),
    }
}

/// A future that catches a panic raised while polling `fut` and returns it as `Err`.
pub struct CatchPanic<F> {
    fut: Pin<Box<F>>,
}

/// Wraps `fut` so a panic out of its poll comes back as `Err(payload)`.
pub fn catch_panic<F: Future>(fut: F) -> CatchPanic<F> {
    CatchPanic { fut: Box::pin(fut) }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = std::result::Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.fut.as_mut();
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

/// Polls `fut` exactly once (inside the current task, with its waker) and returns what
/// the poll gave, leaving `fut` in place so the caller can drop it early.
pub async fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut fut = Some(fut);
    std::future::poll_fn(move |cx| Poll::Ready(fut.take().expect("polled once").poll(cx))).await
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// A waker that does nothing, to poll futures outside any run.
pub fn noop_waker() -> Waker {
    Waker::from(Arc::new(NoopWake))
}

/// Polls `fut` once outside any run (to show trio operations refuse to work there).
pub fn poll_outside_run<F: Future>(fut: F) -> Poll<F::Output> {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(fut);
    fut.as_mut().poll(&mut cx)
}
