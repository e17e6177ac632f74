//! from_thread: round trips from worker and foreign threads into the loop, errors and
//! panics travel back, and calling from the loop thread is a clear error.

use std::cell::RefCell;
use std::time::Duration;

use trio_core::lowlevel::{current_trio_token, in_trio_run};
use trio_core::{Error, ErrorKind};
use trio_sync::{from_thread, misuse, to_thread};

thread_local! {
    static SEEN: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

#[test]
fn run_sync_from_a_worker_runs_on_the_loop_thread() {
    trio_core::run(|| async {
        let loop_thread = std::thread::current().id();
        let token = current_trio_token();
        let (on_loop, thread) = to_thread::run_sync(move || {
            from_thread::run_sync(&token, || (in_trio_run(), std::thread::current().id()))
        })
        .await??;
        assert!(on_loop);
        assert_eq!(thread, loop_thread);
        Ok(())
    })
    .unwrap();
}

#[test]
fn run_from_a_worker_runs_async_code_in_the_loop() {
    trio_testing::run_autojump(|| async {
        let token = current_trio_token();
        let t0 = trio_core::current_time();
        let v = to_thread::run_sync(move || {
            from_thread::run(&token, || async {
                trio_core::sleep(Duration::from_secs(5)).await?;
                Ok(trio_core::current_time())
            })
        })
        .await??;
        assert_eq!(
            v - t0,
            Duration::from_secs(5),
            "it slept on the run's clock"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn errors_from_the_async_closure_come_back_to_the_thread() {
    trio_core::run(|| async {
        let token = current_trio_token();
        let r = to_thread::run_sync(move || {
            from_thread::run(&token, || async { Err::<(), _>(Error::msg("nope")) })
        })
        .await?;
        assert_eq!(r.unwrap_err().message(), Some("nope"));
        Ok(())
    })
    .unwrap();
}

#[test]
fn panic_in_the_loop_side_is_resumed_in_the_calling_thread() {
    trio_core::run(|| async {
        let token = current_trio_token();
        let caught = to_thread::run_sync(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                from_thread::run_sync(&token, || -> u32 { panic!("loop-side boom") })
            }))
            .is_err()
        })
        .await?;
        assert!(caught);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_foreign_thread_can_enter_the_loop_with_a_token() {
    trio_core::run(|| async {
        let token = current_trio_token();
        let foreign = std::thread::spawn(move || {
            for i in 0..3 {
                from_thread::run_sync(&token, move || SEEN.with(|s| s.borrow_mut().push(i)))
                    .unwrap();
            }
        });
        // Wait for the foreign thread without blocking the loop.
        to_thread::run_sync(move || foreign.join().is_ok()).await?;
        assert_eq!(SEEN.with(|s| s.borrow().clone()), [0, 1, 2]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn calling_from_the_loop_thread_is_an_error_not_a_deadlock() {
    trio_core::run(|| async {
        let token = current_trio_token();
        let e = from_thread::run_sync(&token, || 1).unwrap_err();
        assert_eq!(e.message(), Some(misuse::FROM_THREAD_ON_LOOP_THREAD));
        let e = from_thread::run(&token, || async { Ok(1) }).unwrap_err();
        assert_eq!(e.message(), Some(misuse::FROM_THREAD_ON_LOOP_THREAD));
        Ok(())
    })
    .unwrap();
}

#[test]
fn after_the_run_ends_calls_fail_with_run_finished() {
    let token = trio_core::run(|| async { Ok(current_trio_token()) }).unwrap();
    let e = from_thread::run_sync(&token, || 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RunFinished);
}

#[test]
fn check_cancelled_tells_a_worker_its_caller_was_cancelled() {
    use std::sync::mpsc;
    trio_core::run(|| async {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let scope = trio_core::CancelScope::new();
        let handle = scope.handle();
        let seen = std::rc::Rc::new(std::cell::Cell::new(None));
        let s2 = seen.clone();
        trio_core::open_nursery(|n| async move {
            n.start_soon(async move {
                let r = scope
                    .run(to_thread::run_sync(move || {
                        go_rx.recv().unwrap();
                        from_thread::check_cancelled().map_err(|e| e.kind())
                    }))
                    .await?;
                s2.set(r);
                Ok(())
            });
            trio_core::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            handle.cancel();
            // Let the waiting task see its cancellation (its abort fn runs).
            trio_core::lowlevel::wait_all_tasks_blocked(Duration::ZERO).await?;
            go_tx.send(()).unwrap();
            Ok(())
        })
        .await?;
        assert_eq!(seen.get(), Some(Err(ErrorKind::Cancelled)));
        Ok(())
    })
    .unwrap();
}

#[test]
fn check_cancelled_is_ok_while_the_caller_is_not_cancelled() {
    trio_core::run(|| async {
        let ok = to_thread::run_sync(|| from_thread::check_cancelled().is_ok()).await?;
        assert!(ok);
        Ok(())
    })
    .unwrap();
}

#[test]
fn check_cancelled_outside_a_worker_is_an_error() {
    let e = from_thread::check_cancelled().unwrap_err();
    assert_eq!(e.message(), Some(misuse::CHECK_CANCELLED_OUTSIDE_WORKER));
}
