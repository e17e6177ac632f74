//! Waker waiters: `wake_when_readable` / `wake_when_writable` (and their
//! `_after_would_block` forms) store a `Waker` in the fd's slot; the next event, a
//! hang-up or `notify_closing` wakes it once. A newer waker replaces an older one, a task
//! takes the slot from a waker (and wakes it), a waker cannot take a task's slot, waker
//! waiters count as I/O waiters, and the loop blocks in the OS while only a waker waits.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use std::time::Duration;

use common::*;
use trio_core::lowlevel::{
    current_statistics, notify_closing, wait_readable, wake_when_readable,
    wake_when_readable_after_would_block, wake_when_writable, Instrument,
};
use trio_core::{open_nursery, sleep, ErrorKind, Runner};

fn pair() -> (Rc<UnixStream>, Rc<UnixStream>) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    b.set_nonblocking(true).expect("nonblocking");
    (Rc::new(a), Rc::new(b))
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter::default());
    (c.clone(), Waker::from(c))
}

fn wakes(c: &Counter) -> usize {
    c.0.load(Ordering::SeqCst)
}

fn would_block(s: &UnixStream) -> bool {
    let mut buf = [0u8; 64];
    matches!((&*s).read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn a_waker_waiter_is_woken_once_when_data_arrives() {
    autojump(|| async {
        let (a, b) = pair();
        let (c, w) = counter();
        assert!(would_block(&a));
        wake_when_readable(a.as_raw_fd(), &w)?;
        assert_eq!(current_statistics().io_waiters, 1);
        sleep(secs(1)).await?;
        assert_eq!(wakes(&c), 0, "woken before any data arrived");
        (&*b).write_all(b"x")?;
        sleep(secs(1)).await?;
        assert_eq!(wakes(&c), 1);
        assert_eq!(
            current_statistics().io_waiters,
            0,
            "a woken waker is forgotten"
        );
        // Later edges find no waiter: still one wake-up.
        (&*b).write_all(b"y")?;
        sleep(secs(1)).await?;
        assert_eq!(wakes(&c), 1);
        notify_closing(a.as_raw_fd());
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_fast_registration_after_would_block_is_woken_by_the_next_edge() {
    autojump(|| async {
        let (a, b) = pair();
        let (c1, w1) = counter();
        assert!(would_block(&a));
        wake_when_readable(a.as_raw_fd(), &w1)?;
        (&*b).write_all(b"x")?;
        sleep(secs(1)).await?;
        assert_eq!(wakes(&c1), 1);
        let mut buf = [0u8; 8];
        assert_eq!((&*a).read(&mut buf)?, 1);
        assert!(would_block(&a));
        let (c2, w2) = counter();
        wake_when_readable_after_would_block(a.as_raw_fd(), &w2)?;
        sleep(secs(1)).await?;
        assert_eq!(wakes(&c2), 0);
        (&*b).write_all(b"z")?;
        sleep(secs(1)).await?;
        assert_eq!(wakes(&c2), 1);
        notify_closing(a.as_raw_fd());
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_waker_waiter_is_woken_when_the_peer_hangs_up() {
    autojump(|| async {
        let (a, b) = pair();
        let (c, w) = counter();
        assert!(would_block(&a));
        wake_when_readable(a.as_raw_fd(), &w)?;
        drop(b);
        sleep(secs(1)).await?;
        assert_eq!(wakes(&c), 1);
        notify_closing(a.as_raw_fd());
        Ok(())
    })
    .unwrap();
}

#[test]
fn notify_closing_wakes_waker_waiters_of_both_directions() {
    autojump(|| async {
        let (a, _b) = pair();
        // Fill the send buffer so the write waiter really waits.
        let chunk = [0u8; 4096];
        while (&*a).write(&chunk).is_ok() {}
        let (cr, wr) = counter();
        let (cw, ww) = counter();
        wake_when_readable(a.as_raw_fd(), &wr)?;
        wake_when_writable(a.as_raw_fd(), &ww)?;
        assert_eq!(current_statistics().io_waiters, 2);
        sleep(secs(1)).await?;
        assert_eq!((wakes(&cr), wakes(&cw)), (0, 0));
        notify_closing(a.as_raw_fd());
        assert_eq!((wakes(&cr), wakes(&cw)), (1, 1));
        assert_eq!(current_statistics().io_waiters, 0);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_newer_waker_replaces_the_older_one_and_counts_once() {
    autojump(|| async {
        let (a, b) = pair();
        let (c1, w1) = counter();
        let (c2, w2) = counter();
        assert!(would_block(&a));
        wake_when_readable(a.as_raw_fd(), &w1)?;
        wake_when_readable(a.as_raw_fd(), &w2)?;
        // The same waker again is not a second waiter either.
        wake_when_readable_after_would_block(a.as_raw_fd(), &w2)?;
        assert_eq!(current_statistics().io_waiters, 1);
        (&*b).write_all(b"x")?;
        sleep(secs(1)).await?;
        assert_eq!((wakes(&c1), wakes(&c2)), (0, 1));
        notify_closing(a.as_raw_fd());
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_task_takes_the_slot_from_a_waker_and_wakes_it() {
    autojump(|| async {
        let (a, b) = pair();
        let (c, w) = counter();
        assert!(would_block(&a));
        wake_when_readable(a.as_raw_fd(), &w)?;
        let fd = a.as_raw_fd();
        open_nursery(|n| async move {
            n.start_soon(async move { wait_readable(fd).await });
            sleep(secs(1)).await?;
            assert_eq!(wakes(&c), 1, "the displaced waker must be woken");
            assert_eq!(current_statistics().io_waiters, 1);
            // Its poller, registering again, finds a task in the slot.
            let err = wake_when_readable(fd, &w).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BusyResource);
            (&*b).write_all(b"x")?;
            Ok(())
        })
        .await?;
        assert_eq!(current_statistics().io_waiters, 0);
        notify_closing(fd);
        Ok(())
    })
    .unwrap();
}

#[test]
fn waker_registration_outside_a_run_is_an_error_not_a_panic() {
    let (a, _b) = pair();
    let (_c, w) = counter();
    let err = wake_when_readable(a.as_raw_fd(), &w).unwrap_err();
    assert!(err.to_string().contains("outside a trio run"), "{err}");
}

#[test]
fn waker_registration_on_a_negative_fd_is_an_error() {
    autojump(|| async {
        let (_c, w) = counter();
        assert!(wake_when_readable(-1, &w).is_err());
        assert_eq!(current_statistics().io_waiters, 0);
        Ok(())
    })
    .unwrap();
}

/// Signals a thread each time the loop blocks in the OS with no timeout.
struct OnBlockingWait {
    armed: Arc<AtomicBool>,
    tx: Mutex<mpsc::Sender<()>>,
}

impl Instrument for OnBlockingWait {
    fn before_io_wait(&self, timeout: Option<Duration>) {
        if timeout.is_none() && self.armed.swap(false, Ordering::SeqCst) {
            let _ = self.tx.lock().unwrap().send(());
        }
    }
}

#[test]
fn the_loop_blocks_in_the_os_while_only_a_waker_waits_and_still_wakes() {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    let armed = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    // The peer writes only once the loop is blocked in epoll_wait with no timeout.
    let writer = std::thread::spawn(move || {
        rx.recv().expect("the loop never blocked");
        (&b).write_all(b"hello").expect("write");
        b
    });
    let instrument = OnBlockingWait {
        armed: armed.clone(),
        tx: Mutex::new(tx),
    };
    let got = Runner::new()
        .instrument(instrument)
        .run(|| async move {
            let mut buf = [0u8; 16];
            let mut first = true;
            // A plain future, as a futures-io adapter would be polled by a trio task.
            let n = std::future::poll_fn(|cx| match (&a).read(&mut buf) {
                Ok(n) => Poll::Ready(Ok::<_, trio_core::Error>(n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let r = if first {
                        wake_when_readable(a.as_raw_fd(), cx.waker())
                    } else {
                        wake_when_readable_after_would_block(a.as_raw_fd(), cx.waker())
                    };
                    first = false;
                    armed.store(true, Ordering::SeqCst);
                    match r {
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(e)),
                    }
                }
                Err(e) => Poll::Ready(Err(e.into())),
            })
            .await?;
            notify_closing(a.as_raw_fd());
            Ok(buf[..n].to_vec())
        })
        .unwrap();
    assert_eq!(got, b"hello");
    writer.join().expect("writer thread");
}
