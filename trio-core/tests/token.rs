//! `TrioToken::run_sync_soon`: other threads run code inside a run, in the order they
//! sent it; after the run it fails with `RunFinished`; a panicking callback ends the run.
//! Also foreign wakers: a task woken from another thread is run by its own loop.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};

use common::*;
use trio_core::lowlevel::{
    current_task, current_trio_token, reschedule, wait_task_rescheduled, Abort, RunVar, Task,
    TrioToken,
};
use trio_core::ErrorKind;

static PARKED: RunVar<Task> = RunVar::new("parked main task");

#[test]
fn run_sync_soon_from_another_thread_runs_on_the_loop_in_order() {
    let (tx, rx) = mpsc::channel::<Vec<u32>>();
    autojump(move || async move {
        let token = current_trio_token();
        assert!(token.is_loop_thread());
        PARKED.set(current_task());
        let loop_thread = std::thread::current().id();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        let worker = std::thread::spawn(move || {
            assert!(!token.is_loop_thread());
            for i in 0..5 {
                let l = l.clone();
                token
                    .run_sync_soon(move || {
                        assert_eq!(std::thread::current().id(), loop_thread);
                        l.lock().unwrap().push(i);
                    })
                    .unwrap();
            }
            // The last callback wakes the parked main task (callbacks may reschedule).
            token
                .run_sync_soon(|| reschedule(&PARKED.get().expect("set"), Ok(())))
                .unwrap();
        });
        wait_task_rescheduled(|| Abort::Succeeded).await?;
        worker.join().unwrap();
        tx.send(log.lock().unwrap().clone()).unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(rx.recv().unwrap(), [0, 1, 2, 3, 4]);
}

#[test]
fn run_sync_soon_after_the_run_finished_is_a_run_finished_error() {
    let token = autojump(|| async { Ok(current_trio_token()) }).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let err = token
        .run_sync_soon(move || r.store(true, Ordering::SeqCst))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RunFinished);
    assert!(!ran.load(Ordering::SeqCst));
    // Also from another thread.
    let err = std::thread::spawn(move || token.run_sync_soon(|| {}).unwrap_err())
        .join()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::RunFinished);
}

#[test]
fn a_panicking_callback_ends_the_run_with_its_panic() {
    let msg = expect_panic(|| {
        autojump(|| async {
            let token = current_trio_token();
            std::thread::spawn(move || token.run_sync_soon(|| panic!("callback panicked")))
                .join()
                .unwrap()?;
            // Everything is cancelled: this sleep does not last an hour.
            trio_core::sleep(secs(3600)).await?;
            Ok(())
        })
    });
    assert_eq!(msg, "callback panicked");
}

/// A future that hands its waker to another thread, which wakes it: a foreign waker.
struct WokenFromThread {
    sent: bool,
    done: Arc<AtomicBool>,
}

impl Future for WokenFromThread {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if !self.sent {
            self.sent = true;
            let waker: Waker = cx.waker().clone();
            let done = self.done.clone();
            std::thread::spawn(move || {
                done.store(true, Ordering::SeqCst);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

#[test]
fn a_task_woken_by_a_foreign_thread_is_run_by_its_loop() {
    autojump(|| async {
        // No deadline and no I/O: only the foreign wake-up can end the wait.
        WokenFromThread {
            sent: false,
            done: Arc::new(AtomicBool::new(false)),
        }
        .await;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_callback_sent_as_the_run_ends_is_run_or_dropped_never_left_pending() {
    // A foreign thread that waits for its callback's reply (as from_thread does) must
    // never wait forever: once the run is over, a callback either ran, or was dropped
    // (its reply channel disconnects), or was refused with RunFinished.
    for _ in 0..50 {
        let (tok_tx, tok_rx) = mpsc::channel::<TrioToken>();
        let sender = std::thread::spawn(move || {
            let token = tok_rx.recv().unwrap();
            loop {
                let (tx, rx) = mpsc::channel::<()>();
                match token.run_sync_soon(move || {
                    let _ = tx.send(());
                }) {
                    Ok(()) => {
                        let _ = rx.recv(); // returns once the callback ran or was dropped
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::RunFinished);
                        break;
                    }
                }
            }
        });
        autojump(move || async move {
            tok_tx.send(current_trio_token()).unwrap();
            for _ in 0..20 {
                trio_core::checkpoint().await?;
            }
            Ok(())
        })
        .unwrap();
        sender.join().unwrap();
    }
}

#[test]
fn a_trio_call_from_a_callback_panics_naming_the_mistake() {
    let (tx, rx) = mpsc::channel::<String>();
    autojump(move || async move {
        PARKED.set(current_task());
        let token = current_trio_token();
        std::thread::spawn(move || {
            token
                .run_sync_soon(move || {
                    let msg = expect_panic(current_task);
                    tx.send(msg).unwrap();
                    reschedule(&PARKED.get().expect("set"), Ok(()));
                })
                .unwrap();
        });
        wait_task_rescheduled(|| Abort::Succeeded).await
    })
    .unwrap();
    let msg = rx.recv().unwrap();
    assert!(msg.contains("outside a trio task"), "{msg}");
}
