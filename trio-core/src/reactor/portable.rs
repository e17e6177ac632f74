//! The backend for every OS but Linux and Android: the `polling` crate (kqueue, event
//! ports, IOCP/AFD, poll) with one-shot interest.
//!
//! After an event fires the fd is disarmed, so every wait re-arms it (the waits after
//! `EWOULDBLOCK` are level waits here), and the table re-arms it after an event for the
//! tasks that still wait. A waiter that gives up leaves the fd armed: the stray event
//! that may follow finds no waiter and is ignored.

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use super::{Interest, Mode, Ready};

/// The run's `polling::Poller`. `Sync`: other threads call `notify`.
pub(crate) struct Poller(polling::Poller);

/// The loop's buffer for `Poller::wait`.
pub(crate) struct Events(polling::Events);

impl Events {
    pub(crate) fn new() -> Self {
        Events(polling::Events::new())
    }

    /// The fd events of the last wait.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        self.0.iter().map(|ev| Ready {
            key: ev.key,
            read: ev.readable,
            write: ev.writable,
            // Not needed here: every wait is a level wait (see `read_readiness_count`).
            read_closed: false,
        })
    }
}

fn enoent() -> i32 {
    io::Error::from(io::ErrorKind::NotFound)
        .raw_os_error()
        .unwrap_or(2)
}

impl Poller {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Poller(polling::Poller::new()?))
    }

    /// Wakes a loop blocked in `wait` (from any thread).
    pub(crate) fn notify(&self) -> io::Result<()> {
        self.0.notify()
    }

    /// Waits for events for at most `timeout` (zero polls, `None` blocks).
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.0.clear();
        self.0.wait(&mut events.0, timeout).map(drop)
    }

    /// A task starts waiting on `fd`: arm it for `interest` (one-shot, so on every wait,
    /// whatever the `mode`).
    pub(crate) fn arm(
        &self,
        fd: RawFd,
        key: usize,
        registered: bool,
        interest: Interest,
        _mode: Mode,
    ) -> io::Result<()> {
        let ev = polling::Event::new(key, interest.read, interest.write);
        // SAFETY: the fd was passed to a wait by a caller that keeps it open until it
        // calls notify_closing, which deletes it from the poller first.
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        if registered {
            match self.0.modify(bfd, ev) {
                // The number was closed and reused without notify_closing: add anew.
                Err(e) if e.raw_os_error() == Some(enoent()) => {}
                other => return other,
            }
        }
        // SAFETY: as above; the registration is removed (notify_closing) before close.
        match unsafe { self.0.add(fd, ev) } {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => self.0.modify(bfd, ev),
            other => other,
        }
    }

    /// An event disarmed `fd`; arm it again for the tasks that still wait.
    pub(crate) fn rearm(&self, fd: RawFd, key: usize, interest: Interest) -> io::Result<()> {
        self.arm(fd, key, true, interest, Mode::Level)
    }

    /// Forgets `fd` (about to be closed). Errors mean it is gone already.
    pub(crate) fn delete(&self, fd: RawFd) {
        // SAFETY: the caller is about to close fd, so it is still open now.
        let _ = self.0.delete(unsafe { BorrowedFd::borrow_raw(fd) });
    }
}
