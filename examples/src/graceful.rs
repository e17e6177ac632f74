//! Bridging trio cancellation to poll-based ecosystem code, and graceful shutdown.
//!
//! A trio task only hears about cancellation while it is parked in a trio operation.
//! Code that waits on plain `Waker`s (hyper's connection future, a tungstenite stream) is
//! not parked, so a cancelled scope would not interrupt it. Two helpers fix that:
//!
//! * [`cancellable`] runs such a future in the current task while a small *watcher* task
//!   parks in `sleep_forever`; when the scope is cancelled the watcher wakes the future's
//!   task and `cancellable` returns `Cancelled` (dropping the future, which is how
//!   poll-based code is cancelled).
//! * [`with_grace`] runs a body shielded from the caller's cancellation; when the caller
//!   is cancelled, it fires a [`Shutdown`] signal and gives the shield a deadline `grace`
//!   from now. The body can then say goodbye (hyper's `graceful_shutdown`, a websocket
//!   close frame) and still finishes within the caller's time budget plus `grace`.
//! * [`with_grace_and_cut`] is `with_grace` plus a second signal, the *cut*, fired when
//!   the grace period is over: poll-based code inside the body stops on it, where
//!   `with_grace` around `cancellable` would need a second nursery and watcher task.
//!   hyper's connection loop (`serve_http1`) uses it: one watcher per connection and one
//!   nursery level for every poll of the connection's task.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use trio_core::{
    current_time, open_nursery, sleep_forever, CancelHandle, CancelScope, Error, Result,
};

/// A one-shot signal for poll-based code: [`Shutdown::wait`] completes once
/// [`Shutdown::trigger`] was called. Cheap to clone; all clones share the signal.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Rc<ShutdownInner>,
}

#[derive(Default)]
struct ShutdownInner {
    fired: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
    /// Scopes cancelled when the signal fires (for trio code parked in trio operations).
    scopes: RefCell<Vec<CancelHandle>>,
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal: wakes every waiter and cancels every registered scope.
    /// Idempotent.
    pub fn trigger(&self) {
        if self.inner.fired.replace(true) {
            return;
        }
        for w in self.inner.wakers.borrow_mut().drain(..) {
            w.wake();
        }
        let scopes = std::mem::take(&mut *self.inner.scopes.borrow_mut());
        for s in scopes {
            s.cancel();
        }
    }

    /// Whether the signal fired.
    pub fn is_triggered(&self) -> bool {
        self.inner.fired.get()
    }

    /// Cancels `scope` when the signal fires (at once if it already has).
    pub fn cancel_on_trigger(&self, scope: CancelHandle) {
        if self.is_triggered() {
            scope.cancel();
        } else {
            self.inner.scopes.borrow_mut().push(scope);
        }
    }

    /// Completes once the signal fired. A plain future (no trio checkpoint), so it can be
    /// raced against poll-based code.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            if self.inner.fired.get() {
                Poll::Ready(())
            } else {
                let mut ws = self.inner.wakers.borrow_mut();
                if !ws.iter().any(|w| w.will_wake(cx.waker())) {
                    ws.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
    }
}

/// Runs a poll-based future so that cancellation of the enclosing scope interrupts it:
/// returns `Ok(output)`, or `Err(Cancelled)` (the future is dropped) once the scope is
/// cancelled. The future may also await trio operations (one at a time, as always).
pub async fn cancellable<F: Future>(fut: F) -> Result<F::Output> {
    let cancelled = Shutdown::new();
    let watch = CancelScope::new();
    let stop_watch = watch.handle();
    let out = open_nursery(|nursery| {
        let cancelled = cancelled.clone();
        async move {
            let signal = cancelled.clone();
            nursery.start_soon(async move {
                // Absorbed (Ok) when we stop it; Err(Cancelled) when the caller's scope is
                // cancelled, which then propagates as the caller expects.
                let r = watch.run(async { sleep_forever().await.map(|_| ()) }).await;
                signal.trigger();
                r.map(|_| ())
            });
            let mut fut = pin!(fut);
            let mut wait = pin!(cancelled.wait());
            let out = poll_fn(|cx| {
                if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                    return Poll::Ready(Some(v));
                }
                wait.as_mut().poll(cx).map(|()| None)
            })
            .await;
            stop_watch.cancel();
            out.ok_or_else(Error::cancelled)
        }
    })
    .await?;
    // `None` only if the nursery absorbed a cancellation of its own, which nobody issues.
    out.ok_or_else(Error::cancelled)
}

/// Runs `body` shielded from the caller's cancellation. When the caller's scope is
/// cancelled, the [`Shutdown`] handed to `body` fires and the shield gets a deadline
/// `grace` from then; `body` should wind down (the deadline cancels whatever is left).
///
/// Returns `body`'s result, or `Err(Cancelled)` if the caller was cancelled (after the
/// body finished), so the caller's scope absorbs it as usual.
pub async fn with_grace<F, Fut, T>(grace: Duration, body: F) -> Result<Option<T>>
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let shutdown = Shutdown::new();
    let shield = CancelScope::new().with_shield(true);
    let shield_handle = shield.handle();
    let watch = CancelScope::new();
    let stop_watch = watch.handle();
    let r = open_nursery(|nursery| {
        let shutdown = shutdown.clone();
        async move {
            let signal = shutdown.clone();
            nursery.start_soon(async move {
                let r = watch.run(async { sleep_forever().await.map(|_| ()) }).await;
                if r.is_err() {
                    // The caller was cancelled: start the graceful part, on a budget.
                    shield_handle.set_deadline(Some(current_time() + grace));
                    signal.trigger();
                }
                r.map(|_| ())
            });
            let r = shield.run(body(shutdown)).await;
            stop_watch.cancel();
            r
        }
    })
    .await?;
    Ok(r.flatten())
}

/// [`with_grace`], handing `body` a second signal, the *cut*, besides the graceful
/// [`Shutdown`]: it fires when the grace period is over (the moment the shield's
/// deadline cancels `body`'s trio operations), so poll-based code in `body`, which that
/// deadline cannot interrupt, stops there too (by returning `Err(Cancelled)`).
///
/// The same as `with_grace(grace, |shutdown| cancellable(..))` for a body that only
/// polls, made for a body that is polled very often (a connection): `body` runs as a
/// task of its own (so it must be `'static`) whose steps pass through the shield's scope
/// only, while the calling task parks as the watcher. `with_grace` and `cancellable` run
/// their bodies in the calling task, inside a nursery each, and every step of the body
/// pays for entering those. Returns as [`with_grace`].
pub async fn with_grace_and_cut<F, Fut, T>(grace: Duration, body: F) -> Result<Option<T>>
where
    F: FnOnce(Shutdown, Shutdown) -> Fut,
    Fut: Future<Output = Result<T>> + 'static,
    T: 'static,
{
    let shutdown = Shutdown::new();
    let cut = Shutdown::new();
    let shield = CancelScope::new().with_shield(true);
    let shield_handle = shield.handle();
    let watch = CancelScope::new();
    let stop_watch = watch.handle();
    // The watcher's wait for the end of the grace period: shielded, since the caller's
    // scope is cancelled by then.
    let grace_wait = CancelScope::new().with_shield(true);
    let (grace_deadline, stop_grace) = (grace_wait.handle(), grace_wait.handle());
    let out = Rc::new(Cell::new(None));
    let body = body(shutdown.clone(), cut.clone());
    let body_out = out.clone();
    open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            let r = shield.run(body).await;
            // Done: the watcher can stop (it never started the cut, or it is in it).
            stop_watch.cancel();
            stop_grace.cancel();
            body_out.set(r?);
            Ok(())
        });
        let r = watch.run(async { sleep_forever().await.map(|_| ()) }).await;
        if r.is_err() {
            // The caller was cancelled (or the body failed, and the nursery is cancelling
            // its children: then what follows is harmless, and the body's error wins).
            // Start the graceful part, on a budget.
            let deadline = current_time() + grace;
            shield_handle.set_deadline(Some(deadline));
            shutdown.trigger();
            // Ends at the deadline, or early when the body is done.
            grace_deadline.set_deadline(Some(deadline));
            let _ = grace_wait
                .run(async { sleep_forever().await.map(|_| ()) })
                .await;
            cut.trigger();
        }
        r.map(|_| ())
    })
    .await?;
    Ok(out.take())
}
