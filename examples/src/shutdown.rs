//! Stopping a long-running program: on Ctrl-C (SIGINT), SIGTERM, or after a time.
//!
//! [`until_stopped`] catches SIGINT and SIGTERM with trio-os's [`open_signal_receiver`]
//! *before* it starts the body (so a signal sent as soon as the program says it is ready
//! is not lost), runs the body in a cancel scope, and cancels that scope when a signal
//! arrives or the optional deadline passes. The body's own shutdown paths then run as for
//! any cancellation (servers say goodbye to their connections within their grace
//! period), and the program can exit 0.
//!
//! After the first signal the receiver is dropped, which restores the default
//! disposition: a second Ctrl-C during a slow shutdown ends the program at once.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{current_time, open_nursery, CancelScope, Result};
use trio_os::{open_signal_receiver, SIGINT, SIGTERM};

/// How a body run by [`until_stopped`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped<T> {
    /// It finished by itself, with this value.
    Finished(T),
    /// This signal (SIGINT or SIGTERM) arrived; the body was cancelled.
    Signal(i32),
    /// The deadline passed; the body was cancelled.
    Deadline,
}

/// The signal's name, for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Runs `body` until it finishes, SIGINT or SIGTERM arrives, or `deadline` (from now)
/// passes, whichever is first. When a signal arrives it prints one line,
/// `"{name}: shutting down (SIGINT)"`, then cancels the body and waits for it to wind
/// down. Errors are the body's (or the signal machinery's, before the body starts).
pub async fn until_stopped<T, Fut>(
    name: &str,
    deadline: Option<Duration>,
    body: Fut,
) -> Result<Stopped<T>>
where
    Fut: Future<Output = Result<T>>,
{
    let signals = open_signal_receiver(&[SIGINT, SIGTERM])?;
    let got = Rc::new(Cell::new(None));
    let mut scope = CancelScope::new();
    if let Some(d) = deadline {
        scope = scope.with_deadline(current_time() + d);
    }
    let stop_body = scope.handle();
    let watcher = CancelScope::new();
    let stop_watcher = watcher.handle();
    let name = name.to_string();
    let got_in_watcher = got.clone();
    let out = open_nursery(|nursery| async move {
        nursery.start_soon(async move {
            watcher
                .run(async move {
                    let sig = signals.receive().await?;
                    // Back to the default: a second Ctrl-C ends the program at once.
                    drop(signals);
                    println!("{name}: shutting down ({})", signal_name(sig));
                    got_in_watcher.set(Some(sig));
                    stop_body.cancel();
                    Ok(())
                })
                .await
                .map(drop)
        });
        let out = scope.run(body).await;
        stop_watcher.cancel();
        out
    })
    .await?;
    Ok(match out.flatten() {
        Some(v) => Stopped::Finished(v),
        None => match got.get() {
            Some(sig) => Stopped::Signal(sig),
            None => Stopped::Deadline,
        },
    })
}
