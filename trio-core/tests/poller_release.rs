//! The run's OS poller is closed when the run ends, even if a `TrioToken` (or a waker)
//! outlives it: a worker thread that still holds a token must not keep descriptors open.

use std::sync::Mutex;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

// Tests in this binary count the process's descriptors: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn a_token_that_outlives_the_run_holds_no_descriptors() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let before = open_fds();
    let token = trio_core::run(|| async { Ok(trio_core::lowlevel::current_trio_token()) }).unwrap();
    assert_eq!(open_fds(), before, "the ended run's poller is still open");
    // And the token says the run is over instead of hanging.
    let e = token.run_sync_soon(|| {}).unwrap_err();
    assert_eq!(e.kind(), trio_core::ErrorKind::RunFinished);
}

#[test]
fn a_waker_that_outlives_the_run_holds_no_descriptors() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let before = open_fds();
    let waker = trio_core::run(|| async {
        Ok(std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone())).await)
    })
    .unwrap();
    assert_eq!(open_fds(), before, "the ended run's poller is still open");
    // Waking a finished task from another thread is harmless.
    std::thread::spawn(move || waker.wake()).join().unwrap();
}
