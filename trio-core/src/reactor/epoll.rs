//! The Linux/Android backend: epoll with persistent edge-triggered registrations and an
//! eventfd for cross-thread wake-ups, on rustix's safe epoll API.
//!
//! Per loop turn this costs one `epoll_wait` (plus one `read` of the eventfd when another
//! thread woke the loop); per wait on an fd, one `epoll_ctl` for a level wait, none for a
//! wait after `EWOULDBLOCK` on an fd already registered. See the reactor's module doc for
//! why edges are enough.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags, Timespec};
use rustix::io::Errno;

use super::{Interest, Mode, Ready};

/// The event data that marks the wake-up eventfd (table keys are small indices).
const NOTIFY_KEY: u64 = u64::MAX;

/// Events reported by one `epoll_wait` at most; more wait for the next turn.
const EVENTS_CAPACITY: usize = 1024;

/// The longest single wait: a timeout that does not fit `epoll_pwait`'s `int`
/// milliseconds would need `epoll_pwait2` (Linux 5.11). The loop just waits again.
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Registered once per fd; `ET` makes the registration persistent without re-arming.
fn interest_flags() -> EventFlags {
    EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET
}

/// The run's epoll instance and wake-up eventfd. `Sync`: other threads call `notify`.
pub(crate) struct Poller {
    epoll: OwnedFd,
    wake: OwnedFd,
}

/// The loop's buffer for `epoll_wait`.
pub(crate) struct Events(Vec<epoll::Event>);

impl Events {
    pub(crate) fn new() -> Self {
        Events(Vec::with_capacity(EVENTS_CAPACITY))
    }

    /// The fd events of the last wait (the wake-up is not one of them).
    pub(crate) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        self.0.iter().filter_map(|ev| {
            let key = ev.data.u64();
            if key == NOTIFY_KEY {
                return None;
            }
            let flags = ev.flags;
            let trouble = EventFlags::HUP | EventFlags::ERR;
            Some(Ready {
                key: key as usize,
                read: flags.intersects(EventFlags::IN | EventFlags::RDHUP | trouble),
                write: flags.intersects(EventFlags::OUT | trouble),
                read_closed: flags.intersects(EventFlags::RDHUP | trouble),
            })
        })
    }
}

/// The caller's promise, checked by the reactor's public API: `fd` stays open until
/// `notify_closing`, which deletes it from epoll first.
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: `fd >= 0` (the table refuses negative numbers). The reactor's contract is
    // that an fd passed to a wait stays open until `notify_closing`, which deletes it
    // here before the caller closes it; epoll_ctl on a number that was closed anyway
    // fails with EBADF/ENOENT, it does not touch memory.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Self> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        // Registered once, edge-triggered: every `notify` write raises an edge.
        epoll::add(
            &epoll,
            &wake,
            EventData::new_u64(NOTIFY_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(Poller { epoll, wake })
    }

    /// Wakes a loop blocked in `wait` (from any thread). The entry queue's `notified`
    /// flag makes this rare: once per batch of injections.
    pub(crate) fn notify(&self) -> io::Result<()> {
        match rustix::io::write(&self.wake, &1u64.to_ne_bytes()) {
            // The counter is full: the loop has an unread wake-up anyway.
            Ok(_) | Err(Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// One `epoll_wait` for at most `timeout` (rounded up to whole milliseconds; zero
    /// polls without blocking, `None` blocks until an event).
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.0.clear();
        let ts = timeout.map(|d| {
            let d = d.min(MAX_WAIT);
            Timespec {
                tv_sec: d.as_secs() as _,
                tv_nsec: d.subsec_nanos() as _,
            }
        });
        epoll::wait(&self.epoll, spare_capacity(&mut events.0), ts.as_ref())?;
        if events.0.iter().any(|ev| ev.data.u64() == NOTIFY_KEY) {
            // Reset the counter. A write racing with this read raises another edge,
            // reported next turn: a spurious turn at worst, never a lost wake-up (the
            // entry queue's flag, not this counter, says what was injected).
            let _ = rustix::io::read(&self.wake, &mut [0u8; 8]);
        }
        Ok(())
    }

    /// A task starts waiting on `fd` (entry `key`). Registers the fd on its first wait;
    /// afterwards a level wait re-arms it (`MOD` re-evaluates readiness, so a ready fd
    /// reports at once) and a wait after `EWOULDBLOCK` costs nothing.
    pub(crate) fn arm(
        &self,
        fd: RawFd,
        key: usize,
        registered: bool,
        _interest: Interest,
        mode: Mode,
    ) -> io::Result<()> {
        let data = EventData::new_u64(key as u64);
        let fd = borrow(fd);
        if !registered {
            return match epoll::add(&self.epoll, fd, data, interest_flags()) {
                // Known to epoll but not to the table (e.g. a failed wait forgot it).
                Err(Errno::EXIST) => Ok(epoll::modify(&self.epoll, fd, data, interest_flags())?),
                other => Ok(other?),
            };
        }
        if mode == Mode::AfterWouldBlock {
            return Ok(());
        }
        match epoll::modify(&self.epoll, fd, data, interest_flags()) {
            // The number was closed and reused without notify_closing: register anew.
            Err(Errno::NOENT) => Ok(epoll::add(&self.epoll, fd, data, interest_flags())?),
            other => Ok(other?),
        }
    }

    /// Registrations are persistent: nothing to re-arm after an event.
    #[inline]
    pub(crate) fn rearm(&self, _fd: RawFd, _key: usize, _interest: Interest) -> io::Result<()> {
        Ok(())
    }

    /// Forgets `fd` (about to be closed). Errors mean it is gone already.
    pub(crate) fn delete(&self, fd: RawFd) {
        let _ = epoll::delete(&self.epoll, borrow(fd));
    }
}
