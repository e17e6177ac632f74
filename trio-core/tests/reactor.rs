//! The reactor's raw waits, `wait_readable` / `wait_writable` / `notify_closing`, on a
//! Unix socket pair: they block until the fd is ready, are checkpoints and cancel-safe,
//! give `BusyResource` to a second waiter in the same direction, and wake a waiter with
//! `ClosedResource` when the fd is about to be closed.

mod common;

use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;

use common::*;
use trio_core::lowlevel::{
    current_statistics, current_task, notify_closing, wait_readable, wait_writable,
};
use trio_core::{
    current_time, move_on_after, open_nursery, sleep, CancelScope, Error, ErrorKind, Result,
};

fn pair() -> (Rc<UnixStream>, Rc<UnixStream>) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    a.set_nonblocking(true).expect("nonblocking");
    b.set_nonblocking(true).expect("nonblocking");
    (Rc::new(a), Rc::new(b))
}

#[test]
fn wait_readable_blocks_until_the_peer_writes() {
    autojump(|| async {
        let (a, b) = pair();
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(2)).await?;
                (&*b).write_all(b"ping")?;
                Ok(())
            });
            let mut buf = [0u8; 8];
            assert_eq!(
                (&*a).read(&mut buf).unwrap_err().kind(),
                std::io::ErrorKind::WouldBlock
            );
            wait_readable(a.as_raw_fd()).await?;
            assert_eq!(current_time(), at(2));
            let got = (&*a).read(&mut buf)?;
            assert_eq!(&buf[..got], b"ping");
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn wait_writable_on_a_writable_socket_returns_but_still_checkpoints() {
    autojump(|| async {
        let (a, _b) = pair();
        let me = current_task();
        let (c0, s0) = (me.cancel_points(), me.schedule_points());
        wait_writable(a.as_raw_fd()).await?;
        assert!(me.cancel_points() > c0 && me.schedule_points() > s0);
        // In a cancelled scope it raises, even though the socket is ready.
        let scope = CancelScope::new();
        scope.handle().cancel();
        assert_eq!(scope.run(wait_writable(a.as_raw_fd())).await?, None);
        assert_eq!(current_statistics().io_waiters, 0);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancelled_wait_leaves_no_waiter_and_the_fd_can_be_waited_on_again() {
    autojump(|| async {
        let (a, b) = pair();
        let r = move_on_after(secs(1), wait_readable(a.as_raw_fd())).await?;
        assert_eq!(r, None);
        assert_eq!(current_statistics().io_waiters, 0);
        open_nursery(|n| async move {
            n.start_soon(async move {
                sleep(secs(1)).await?;
                (&*b).write_all(b"x")?;
                Ok(())
            });
            wait_readable(a.as_raw_fd()).await?;
            assert_eq!(current_time(), at(2));
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_second_waiter_in_the_same_direction_gets_busy_resource() {
    autojump(|| async {
        let (a, b) = pair();
        let first_done = Rc::new(Cell::new(false));
        let f = first_done.clone();
        let fd = a.as_raw_fd();
        open_nursery(|n| async move {
            n.start_soon(async move {
                wait_readable(fd).await?;
                f.set(true);
                Ok(())
            });
            sleep(secs(1)).await?;
            let err = wait_readable(fd).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BusyResource);
            assert!(err.to_string().contains("already waiting"), "{err}");
            // The other direction is independent.
            wait_writable(fd).await?;
            // The first waiter is unaffected.
            (&*b).write_all(b"x")?;
            Ok(())
        })
        .await?;
        assert!(first_done.get());
        Ok(())
    })
    .unwrap();
}

#[test]
fn notify_closing_wakes_a_waiter_with_closed_resource() {
    autojump(|| async {
        let (a, _b) = pair();
        let fd = a.as_raw_fd();
        let got: Rc<Cell<Option<ErrorKind>>> = Rc::default();
        let g = got.clone();
        open_nursery(|n| async move {
            n.start_soon(async move {
                let r: Result<()> = wait_readable(fd).await;
                g.set(r.err().as_ref().map(Error::kind));
                Ok(())
            });
            sleep(secs(1)).await?;
            assert_eq!(current_statistics().io_waiters, 1);
            notify_closing(fd);
            Ok(())
        })
        .await?;
        assert_eq!(got.get(), Some(ErrorKind::ClosedResource));
        assert_eq!(current_statistics().io_waiters, 0);
        drop(a); // now actually close it
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_reader_and_a_writer_wait_on_one_fd_at_once() {
    autojump(|| async {
        let (a, b) = pair();
        let fd = a.as_raw_fd();
        // Fill a's send buffer so that it is not writable.
        let chunk = vec![0u8; 65536];
        loop {
            match (&*a).write(&chunk) {
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let (l1, l2) = (log.clone(), log.clone());
        open_nursery(|n| async move {
            n.start_soon(async move {
                wait_writable(fd).await?;
                l1.borrow_mut().push("writable");
                Ok(())
            });
            n.start_soon(async move {
                wait_readable(fd).await?;
                l2.borrow_mut().push("readable");
                Ok(())
            });
            sleep(secs(1)).await?;
            assert_eq!(current_statistics().io_waiters, 2);
            (&*b).write_all(b"x")?; // a becomes readable
            sleep(secs(1)).await?;
            // Drain b so that a becomes writable again.
            let mut buf = vec![0u8; 1 << 20];
            while (&*b).read(&mut buf).is_ok() {}
            Ok(())
        })
        .await?;
        assert_eq!(*log.borrow(), ["readable", "writable"]);
        Ok(())
    })
    .unwrap();
}

#[test]
fn waiting_on_an_invalid_fd_is_an_io_error_not_a_hang() {
    autojump(|| async {
        for fd in [-1, 1_000_000] {
            let err = wait_readable(fd).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Io, "fd {fd}: {err:?}");
            let err = wait_writable(fd).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Io, "fd {fd}: {err:?}");
        }
        assert_eq!(current_statistics().io_waiters, 0);
        Ok(())
    })
    .unwrap();
}
