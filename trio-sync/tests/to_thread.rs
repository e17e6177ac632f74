//! to_thread: results and panics come back, the limiter bounds concurrency, calls are
//! not cancellable by default, and abandon_on_cancel keeps the token until the thread
//! really ends. Threads are coordinated with std channels and barriers, never sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};

use trio_core::lowlevel::wait_all_tasks_blocked;
use trio_core::{open_nursery, CancelScope, ErrorKind};
use trio_sync::to_thread::{self, current_default_thread_limiter, Options};
use trio_sync::CapacityLimiter;

#[test]
fn result_comes_back_from_a_worker_thread() {
    trio_core::run(|| async {
        let loop_thread = std::thread::current().id();
        let (v, worker) = to_thread::run_sync(|| (21 * 2, std::thread::current().id())).await?;
        assert_eq!(v, 42);
        assert_ne!(worker, loop_thread, "it ran on another thread");
        Ok(())
    })
    .unwrap();
}

#[test]
fn panic_in_the_thread_is_resumed_in_the_caller() {
    let r = std::panic::catch_unwind(|| {
        trio_core::run(|| async {
            to_thread::run_sync(|| -> u32 { panic!("boom in worker") }).await?;
            Ok(())
        })
    });
    let payload = r.unwrap_err();
    let msg = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert_eq!(msg, "boom in worker");
}

#[test]
fn default_limiter_has_40_tokens_per_run_and_is_used() {
    trio_core::run(|| async {
        let limiter = current_default_thread_limiter();
        assert_eq!(limiter.total_tokens(), 40);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        open_nursery(|n| async move {
            n.start_soon(async move {
                to_thread::run_sync(move || go_rx.recv().unwrap()).await?;
                Ok(())
            });
            wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
            assert_eq!(current_default_thread_limiter().borrowed_tokens(), 1);
            go_tx.send(()).unwrap();
            Ok(())
        })
        .await?;
        assert_eq!(current_default_thread_limiter().borrowed_tokens(), 0);
        Ok(())
    })
    .unwrap();
    trio_core::run(|| async {
        current_default_thread_limiter().set_total_tokens(3);
        Ok(())
    })
    .unwrap();
    trio_core::run(|| async {
        assert_eq!(
            current_default_thread_limiter().total_tokens(),
            40,
            "one per run"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn limiter_bounds_how_many_threads_run_at_once() {
    const LIMIT: usize = 3;
    const JOBS: usize = 9; // a multiple of LIMIT: the barrier releases full groups
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    trio_core::run(move || async move {
        let limiter = CapacityLimiter::new(LIMIT);
        // Every group of LIMIT threads must meet here, so LIMIT really run at once; a
        // limiter letting in one more would push `running` past LIMIT.
        let barrier = Arc::new(Barrier::new(LIMIT));
        open_nursery(|n| async move {
            for _ in 0..JOBS {
                let (limiter, barrier, running, peak) =
                    (limiter.clone(), barrier.clone(), r.clone(), p.clone());
                n.start_soon(async move {
                    Options::new()
                        .limiter(limiter)
                        .run_sync(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            barrier.wait();
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                });
            }
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), LIMIT);
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

#[test]
fn cancellation_waits_for_the_thread_by_default_and_reports_its_result() {
    trio_core::run(|| async {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let scope = CancelScope::new();
        let handle = scope.handle();
        let out = Arc::new(Mutex::new(None));
        let (out2, out3) = (out.clone(), out.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                let r = scope
                    .run(async { to_thread::run_sync(move || go_rx.recv().map(|_| 7)).await })
                    .await?;
                *out2.lock().unwrap() = Some(r);
                Ok(())
            });
            wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
            handle.cancel();
            wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
            assert!(
                out3.lock().unwrap().is_none(),
                "still waiting for the thread"
            );
            go_tx.send(()).unwrap();
            Ok(())
        })
        .await?;
        // The thread's work completed, so it is reported, not `Cancelled`.
        assert!(matches!(*out.lock().unwrap(), Some(Some(Ok(7)))));
        Ok(())
    })
    .unwrap();
}

#[test]
fn abandon_on_cancel_returns_at_once_and_keeps_the_token_until_the_thread_ends() {
    trio_core::run(|| async {
        let limiter = CapacityLimiter::new(1);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let scope = CancelScope::new();
        let l = limiter.clone();
        let handle = scope.handle();
        open_nursery(|n| async move {
            n.start_soon(async move {
                let err = scope
                    .run(async {
                        Options::new()
                            .limiter(l)
                            .abandon_on_cancel(true)
                            .run_sync(move || go_rx.recv().unwrap())
                            .await
                    })
                    .await;
                assert!(
                    matches!(err, Ok(None)),
                    "abandoned: the scope caught Cancelled"
                );
                Ok(())
            });
            wait_all_tasks_blocked(std::time::Duration::ZERO).await?;
            handle.cancel();
            Ok(())
        })
        .await?;
        // The caller is gone but the thread still runs: its token is still lent out.
        assert_eq!(limiter.borrowed_tokens(), 1);
        assert_eq!(
            limiter.try_acquire().unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        go_tx.send(()).unwrap();
        // Blocks until the thread really ended and gave its token back.
        limiter.acquire().await?;
        limiter.release()
    })
    .unwrap();
}

#[test]
fn cancelled_before_starting_runs_nothing() {
    trio_core::run(|| async {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let scope = CancelScope::new();
        scope.handle().cancel();
        let out = scope
            .run(async move { to_thread::run_sync(move || r.fetch_add(1, Ordering::SeqCst)).await })
            .await?;
        assert!(out.is_none());
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(current_default_thread_limiter().borrowed_tokens(), 0);
        Ok(())
    })
    .unwrap();
}
