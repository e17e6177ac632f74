//! The reactor's two kinds of waits on one persistent (on Linux, edge-triggered)
//! registration: the level waits (`wait_readable`/`wait_writable`) return for an fd that
//! is ready *now*, however often they are called; the waits after `EWOULDBLOCK` wake on
//! the next readiness (data, hang-up, drained buffer). Both are cancel-safe, both wake
//! with `ClosedResource` on `notify_closing`, a recycled fd number works afterwards, and
//! the loop blocked in the poller still wakes for other threads and for deadlines.
//!
//! Every wait that should return runs under `fail_after`, so a missed wake-up fails the
//! test (the mock clock jumps to the deadline) instead of hanging it.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use trio_core::lowlevel::{
    current_statistics, current_task, current_trio_token, notify_closing, reschedule,
    wait_readable, wait_readable_after_would_block, wait_task_rescheduled, wait_writable,
    wait_writable_after_would_block, Abort, Instrument, RunVar, Task,
};
use trio_core::{
    cancel_shielded_checkpoint, current_time, fail_after, move_on_after, open_nursery, sleep,
    CancelScope, ErrorKind, Result, Runner,
};

type Sock = Rc<UnixStream>;

fn pair() -> (Sock, Sock) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    b.set_nonblocking(true).expect("nonblocking");
    (Rc::new(a), Rc::new(b))
}

/// Puts `new`'s socket on `old`'s fd number (dup2, so no other thread can take the
/// number in between), closing `old`'s socket, and returns it.
fn replace(old: Sock, new: Sock) -> Sock {
    let old = Rc::try_unwrap(old).expect("sole owner");
    let fd = old.as_raw_fd();
    let mut owned = OwnedFd::from(old);
    rustix::io::dup2(&*new, &mut owned).expect("dup2");
    let s = UnixStream::from(owned);
    assert_eq!(s.as_raw_fd(), fd);
    Rc::new(s)
}

/// `fut` must finish within 10 (virtual) seconds: a lost wake-up becomes `TooSlow`.
async fn soon<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    fail_after(secs(10), fut).await
}

/// Reads once and asserts it would block, so the fd is known not to be readable.
fn assert_would_block_reading(s: &UnixStream) {
    let mut buf = [0u8; 64];
    let err = (&*s).read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), IoKind::WouldBlock);
}

/// Writes until the send buffer is full; the last write failed with `WouldBlock`.
fn fill(s: &UnixStream) {
    let chunk = vec![0u8; 65536];
    loop {
        match (&*s).write(&chunk) {
            Ok(_) => continue,
            Err(e) if e.kind() == IoKind::WouldBlock => return,
            Err(e) => panic!("filling the socket: {e}"),
        }
    }
}

/// Makes the loop poll for I/O with nobody waiting on the other fds (it skips polling
/// while no task waits on any fd): their pending edges are reported and dropped.
async fn let_the_loop_poll_io() -> Result<()> {
    let (quiet, _peer) = pair();
    let r = move_on_after(secs(1), wait_readable(quiet.as_raw_fd())).await?;
    assert_eq!(r, None);
    notify_closing(quiet.as_raw_fd());
    Ok(())
}

/// Reads everything there is.
fn drain(s: &UnixStream) -> usize {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    while let Ok(n) = (&*s).read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n;
    }
    total
}

/// After EAGAIN, waits (fast path) for `a` to become readable while a sibling writes to
/// `b` one second later. Returns when the wait returned, and checks the time.
async fn fast_read_round(a: &Sock, b: &Sock) -> Result<()> {
    let t0 = current_time();
    let b = b.clone();
    open_nursery(|n| async move {
        n.start_soon(async move {
            sleep(secs(1)).await?;
            (&*b).write_all(b"ping")?;
            Ok(())
        });
        assert_would_block_reading(a);
        soon(wait_readable_after_would_block(a.as_raw_fd())).await?;
        Ok(())
    })
    .await?;
    assert_eq!(current_time(), t0 + secs(1));
    let mut buf = [0u8; 8];
    assert_eq!((&**a).read(&mut buf)?, 4);
    Ok(())
}

#[test]
fn a_level_wait_returns_for_an_fd_that_is_already_readable_each_time_it_is_called() {
    autojump(|| async {
        let (a, b) = pair();
        // Register the fd and use up the edge of the first data with a fast wait, so the
        // level waits below find a registration whose edge was already reported.
        fast_read_round(&a, &b).await?;
        (&*b).write_all(b"x")?;
        let_the_loop_poll_io().await?; // it sees (and drops) the edge: no waiter
        let t0 = current_time();
        for _ in 0..3 {
            soon(wait_readable(a.as_raw_fd())).await?;
        }
        assert_eq!(
            current_time(),
            t0,
            "a readable fd must not make the wait block"
        );
        // Still unread, still readable.
        let mut buf = [0u8; 8];
        assert_eq!((&*a).read(&mut buf)?, 1);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_level_wait_for_writing_returns_at_once_on_a_registered_writable_fd() {
    autojump(|| async {
        let (a, _b) = pair();
        let t0 = current_time();
        for _ in 0..3 {
            soon(wait_writable(a.as_raw_fd())).await?;
        }
        assert_eq!(current_time(), t0);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_wait_after_would_block_wakes_when_data_arrives_later_every_time() {
    autojump(|| async {
        let (a, b) = pair();
        // The first round registers the fd; the later ones find it registered.
        for _ in 0..3 {
            fast_read_round(&a, &b).await?;
        }
        assert_eq!(current_statistics().io_waiters, 0);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_wait_after_would_block_wakes_on_peer_hang_up() {
    autojump(|| async {
        let (a, b) = pair();
        fast_read_round(&a, &b).await?; // registered now
        let t0 = current_time();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                drop(b);
                Ok(())
            });
            assert_would_block_reading(&a);
            soon(wait_readable_after_would_block(a.as_raw_fd())).await?;
            assert_eq!((&*a).read(&mut [0u8; 8])?, 0, "end of stream");
            Ok(())
        })
        .await?;
        assert_eq!(current_time(), t0 + secs(1));
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_writer_after_would_block_wakes_when_the_peer_drains_the_buffer() {
    autojump(|| async {
        let (a, b) = pair();
        for round in 0..3 {
            let t0 = current_time();
            let drained = Rc::new(Cell::new(0));
            let d = drained.clone();
            let b2 = b.clone();
            let a = &a;
            open_nursery(|n| async move {
                n.start_soon(async move {
                    sleep(secs(1)).await?;
                    d.set(drain(&b2));
                    Ok(())
                });
                fill(a);
                soon(wait_writable_after_would_block(a.as_raw_fd())).await?;
                Ok(())
            })
            .await?;
            assert_eq!(current_time(), t0 + secs(1), "round {round}");
            assert!(drained.get() > 0);
            (&**a).write_all(b"fits again")?;
            drain(&b);
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancelled_wait_after_would_block_leaves_no_waiter_behind() {
    autojump(|| async {
        let (a, b) = pair();
        for registered_before in [false, true] {
            assert_would_block_reading(&a);
            let r = move_on_after(secs(1), wait_readable_after_would_block(a.as_raw_fd())).await?;
            assert_eq!(r, None, "registered before: {registered_before}");
            assert_eq!(current_statistics().io_waiters, 0);
            // No stale waiter: neither BusyResource nor a lost wake-up for the next one.
            fast_read_round(&a, &b).await?;
        }
        // Same for a cancelled level wait on the registered fd.
        let r = move_on_after(secs(1), wait_readable(a.as_raw_fd())).await?;
        assert_eq!(r, None);
        assert_eq!(current_statistics().io_waiters, 0);
        fast_read_round(&a, &b).await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancelled_writer_wait_after_would_block_leaves_no_waiter_behind() {
    autojump(|| async {
        let (a, b) = pair();
        fill(&a);
        let r = move_on_after(secs(1), wait_writable_after_would_block(a.as_raw_fd())).await?;
        assert_eq!(r, None);
        assert_eq!(current_statistics().io_waiters, 0);
        let b2 = b.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                drain(&b2);
                Ok(())
            });
            fill(&a);
            soon(wait_writable_after_would_block(a.as_raw_fd())).await?;
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_wait_after_would_block_that_completed_is_not_reported_as_cancelled() {
    autojump(|| async {
        let (a, b) = pair();
        fast_read_round(&a, &b).await?; // registered now
        let scope = CancelScope::new();
        let handle = scope.handle();
        let outcome: Rc<RefCell<Option<bool>>> = Rc::default();
        let o = outcome.clone();
        let a2 = a.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                scope
                    .run(async {
                        assert_would_block_reading(&a2);
                        let r = wait_readable_after_would_block(a2.as_raw_fd()).await;
                        *o.borrow_mut() = Some(r.is_ok());
                        r
                    })
                    .await?;
                Ok(())
            });
            sleep(secs(1)).await?;
            (&*b).write_all(b"x")?;
            // Yield: the loop polls I/O (waking the reader) before running us again,
            // and we run before the reader in that batch, since we were queued first.
            cancel_shielded_checkpoint().await;
            handle.cancel();
            Ok(())
        })
        .await?;
        assert_eq!(
            *outcome.borrow(),
            Some(true),
            "the wait completed, then the cancel came"
        );
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_second_waiter_after_would_block_gets_busy_resource() {
    autojump(|| async {
        let (a, b) = pair();
        let fd = a.as_raw_fd();
        open_nursery(|n| async move {
            n.start_soon(async move {
                soon(wait_readable_after_would_block(fd)).await?;
                Ok(())
            });
            sleep(secs(1)).await?;
            let err = wait_readable_after_would_block(fd).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BusyResource);
            let err = wait_readable(fd).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BusyResource);
            (&*b).write_all(b"x")?;
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn notify_closing_wakes_both_kinds_of_waiter_and_the_fd_number_works_again() {
    autojump(|| async {
        let (a, b) = pair();
        fast_read_round(&a, &b).await?; // registered now
        let fd = a.as_raw_fd();
        fill(&a);
        let kinds: Rc<RefCell<Vec<ErrorKind>>> = Rc::default();
        let (k1, k2) = (kinds.clone(), kinds.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                let e = wait_readable_after_would_block(fd).await.unwrap_err();
                k1.borrow_mut().push(e.kind());
                Ok(())
            });
            n.start_soon(async move {
                let e = wait_writable(fd).await.unwrap_err();
                k2.borrow_mut().push(e.kind());
                Ok(())
            });
            sleep(secs(1)).await?;
            assert_eq!(current_statistics().io_waiters, 2);
            notify_closing(fd);
            Ok(())
        })
        .await?;
        assert_eq!(*kinds.borrow(), [ErrorKind::ClosedResource; 2]);
        assert_eq!(current_statistics().io_waiters, 0);
        // Close `a` by putting a new socket on its number, then use that number with the
        // fast path.
        let (c, d) = pair();
        let c = replace(a, c);
        fast_read_round(&c, &d).await?;
        fast_read_round(&c, &d).await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_level_wait_repairs_a_registration_left_stale_by_a_close_without_notify_closing() {
    autojump(|| async {
        let (a, b) = pair();
        fast_read_round(&a, &b).await?; // registered now
        let fd = a.as_raw_fd();
        // Replace the file behind the number without telling the reactor.
        let (c, d) = pair();
        let c = replace(a, c);
        assert_eq!(c.as_raw_fd(), fd);
        let t0 = current_time();
        let d2 = d.clone();
        let c_fd = c.as_raw_fd();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                (&*d2).write_all(b"ping")?;
                Ok(())
            });
            soon(wait_readable(c_fd)).await?;
            Ok(())
        })
        .await?;
        assert_eq!(current_time(), t0 + secs(1));
        assert_eq!((&*c).read(&mut [0u8; 8])?, 4);
        // Repaired: the fast path works on it from now on.
        fast_read_round(&c, &d).await?;
        Ok(())
    })
    .unwrap();
}

/// On Linux the fast wait trusts its caller: it does not re-check readiness, which is
/// the syscall it saves. Called (against its contract) on an fd that is readable and
/// whose edge was already reported, it sleeps until the next edge.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn a_wait_after_would_block_costs_no_readiness_check_on_linux() {
    autojump(|| async {
        let (a, b) = pair();
        fast_read_round(&a, &b).await?; // registered now
        (&*b).write_all(b"x")?;
        let_the_loop_poll_io().await?; // it sees (and drops) the edge: no waiter
        let r = move_on_after(secs(1), wait_readable_after_would_block(a.as_raw_fd())).await?;
        assert_eq!(r, None, "no new edge, so no wake-up");
        // The level wait re-checks and returns at once.
        let t0 = current_time();
        soon(wait_readable(a.as_raw_fd())).await?;
        assert_eq!(current_time(), t0);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_wait_after_would_block_with_a_deadline_times_out_on_the_mock_clock() {
    autojump(|| async {
        let (a, _b) = pair();
        for _ in 0..2 {
            let t0 = current_time();
            assert_would_block_reading(&a);
            let r = move_on_after(secs(5), wait_readable_after_would_block(a.as_raw_fd())).await?;
            assert_eq!(r, None);
            assert_eq!(current_time(), t0 + secs(5));
        }
        assert_eq!(current_statistics().io_waiters, 0);
        Ok(())
    })
    .unwrap();
}

static PARKED: RunVar<Task> = RunVar::new("main task parked until a callback");

/// Tells a worker thread each time the loop is about to block in the poller.
struct BlockingWaits(mpsc::Sender<()>);

impl Instrument for BlockingWaits {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        if timeout != Some(Duration::ZERO) {
            let _ = self.0.send(());
        }
    }
}

#[test]
fn run_sync_soon_from_another_thread_wakes_a_loop_blocked_in_the_poller() {
    let (blocking_tx, blocking_rx) = mpsc::channel();
    let (b, _peer) = pair();
    Runner::new()
        .clock(trio_testing::MockClock::new())
        .instrument(BlockingWaits(blocking_tx))
        .run(move || async move {
            // An fd watched forever, so the poller has registrations too.
            let fd = b.as_raw_fd();
            open_nursery(|n| async move {
                n.start_soon(async move {
                    assert_would_block_reading(&b);
                    let e = wait_readable_after_would_block(fd).await.unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::ClosedResource);
                    Ok(())
                });
                let token = current_trio_token();
                PARKED.set(current_task());
                let worker = std::thread::spawn(move || {
                    // Once the loop blocks (no deadline, nothing runnable, so no
                    // timeout), only the cross-thread wake-up can end the wait.
                    blocking_rx.recv().expect("the loop blocks");
                    token
                        .run_sync_soon(|| reschedule(&PARKED.get().expect("parked"), Ok(())))
                        .expect("run is live");
                });
                wait_task_rescheduled(|| Abort::Failed).await?;
                worker.join().expect("worker");
                // Ends the watcher (ClosedResource), so the nursery can finish.
                notify_closing(fd);
                Ok(())
            })
            .await?;
            Ok(())
        })
        .unwrap();
}
