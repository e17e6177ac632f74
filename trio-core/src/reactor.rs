//! The I/O reactor: the table of tasks waiting on file descriptors, the public waits
//! (`wait_readable`, `wait_writable`, their `_after_would_block` fast paths,
//! `notify_closing`), and the choice of OS backend: `reactor/epoll.rs` on Linux and
//! Android, `reactor/portable.rs` (the `polling` crate) elsewhere.
//!
//! # OS facts and what follows
//! * On Linux each fd is registered with epoll once, persistently and edge-triggered
//!   (`EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET`), on its first wait. An edge is reported
//!   once, and an edge that finds no waiter is dropped: a waiter that gives up
//!   (cancelled) costs no syscall, and a socket that is waited on again and again costs
//!   no `epoll_ctl` at all.
//! * Edges are not levels. Trio's `wait_readable` means "until readable *now*", so the
//!   level waits re-arm a registered fd with `EPOLL_CTL_MOD` (same interest): the
//!   kernel re-evaluates readiness and queues an event if the fd is ready already. One
//!   syscall per wait, as with one-shot registrations.
//! * A caller that has *just* seen `EWOULDBLOCK` from a syscall on the fd, with no
//!   checkpoint in between, knows the fd is not ready, so any readiness to come raises a
//!   new edge: `wait_*_after_would_block` just parks, with no syscall. This is what
//!   trio-net's and trio-os's streams use after every failed try.
//! * epoll forgets an fd when its last descriptor is closed, but this table does not
//!   know about the close. Callers must call [`notify_closing`] before closing (trio-net
//!   and trio-os do). If someone forgot, the table wrongly says "registered" for the
//!   recycled number: a level wait repairs that (`MOD` falls back to `ADD` on
//!   `ENOENT`), a fast wait cannot. So an owner does its first wait on an fd it was
//!   handed with a level wait.
//! * Elsewhere (`polling`, one-shot interest) every wait re-arms the fd and the fast
//!   waits are level waits; a stray event after a cancelled wait finds no waiter.
//! * One task per direction per fd: a second reader or writer gets `BusyResource`.
//!
//! # Waker waiters (poll-based code)
//! `futures-io` adapters (trio-net's `SocketCompat`) cannot park a task: they are polled,
//! maybe for reading and writing at once, and must wake the `Waker` they were given.
//! [`wake_when_readable`] and friends put that waker in the direction's slot instead of a
//! task; the next event (or [`notify_closing`]) wakes it and empties the slot. Rules:
//! * A newer waker replaces an older one (the same adapter polled again); no error.
//! * A task that waits on a direction held by a waker takes the slot and wakes the
//!   waker; the poller then gets `BusyResource` from its next registration, as a second
//!   task would.
//! * A waker registration on a direction a task waits on gets `BusyResource`.
//! * Waker waiters count as I/O waiters, so the loop polls the OS while only they wait.
//!   A waker whose future was dropped stays until the next event or `notify_closing`:
//!   a spurious wake-up at worst.
//!
//! Invariant: the reactor never reads cancel state. Waiting is `wait_task_rescheduled`;
//! its abort function just forgets the waiter.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use crate::checkpoint::{reschedule, wait_task_rescheduled, Abort};
use crate::context;
use crate::int_hash::IntHash;
use crate::task::{Task, TaskData};
use crate::{Error, ErrorKind, Result};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;
#[cfg(any(target_os = "linux", target_os = "android"))]
use epoll as sys;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod portable;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
use portable as sys;

pub(crate) use sys::Poller;

/// Which directions an fd has waiters for (what a one-shot backend must arm).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(any(target_os = "linux", target_os = "android"), allow(dead_code))] // epoll: all
pub(crate) struct Interest {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

/// One readiness report from a backend, for the table entry `key`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ready {
    pub(crate) key: usize,
    pub(crate) read: bool,
    pub(crate) write: bool,
    /// The peer hung up or the fd reports an error: a read may still find an end of
    /// stream although no new edge will come.
    pub(crate) read_closed: bool,
}

/// How a wait learns that the fd is ready.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Trio's semantics: return when the fd is ready now, whatever happened before.
    Level,
    /// The caller just saw `EWOULDBLOCK` on this fd: the next edge is enough.
    AfterWouldBlock,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

/// The waiter a registration puts in the slot.
enum NewWaiter<'a> {
    Task(Rc<TaskData>),
    Waker(&'a Waker),
}

/// Who waits on one direction of an fd.
enum Waiter {
    /// A task parked in `wait_task_rescheduled`: rescheduled with the wait's result.
    Task(Task),
    /// Poll-based code: woken, and finds out by retrying its syscall.
    Waker(Waker),
}

impl Waiter {
    fn wake(self, closed: bool) {
        match self {
            Waiter::Task(t) => reschedule(
                &t,
                if closed {
                    Err(Error::new(
                        ErrorKind::ClosedResource,
                        "another task closed this file descriptor while this one was waiting on it",
                    ))
                } else {
                    Ok(())
                },
            ),
            Waiter::Waker(w) => w.wake(),
        }
    }
}

#[derive(Default)]
struct FdEntry {
    fd: RawFd,
    reader: Option<Waiter>,
    writer: Option<Waiter>,
    /// Whether the backend knows this fd (was added and not deleted since).
    registered: bool,
    /// Read-readiness reports taken for this fd, waiter or not (wrapping); see
    /// [`read_readiness_count`].
    read_reports: u32,
    /// A hang-up or error was reported: [`read_readiness_count`] answers `None` from
    /// then on, because a short read can stop right before an end of stream whose edge
    /// was already reported.
    read_closed: bool,
}

impl FdEntry {
    fn interest(&self) -> Interest {
        Interest {
            read: self.reader.is_some(),
            write: self.writer.is_some(),
        }
    }
}

/// Per-run I/O state; lives on the loop thread.
pub(crate) struct Reactor {
    entries: RefCell<Vec<FdEntry>>,
    by_fd: RefCell<HashMap<RawFd, usize, IntHash>>,
    free: RefCell<Vec<usize>>,
    events: RefCell<sys::Events>,
    /// Number of waiters (tasks and wakers) on I/O; when zero the loop may skip polling.
    waiters: Cell<usize>,
}

impl Reactor {
    pub(crate) fn new() -> Self {
        Reactor {
            entries: RefCell::new(Vec::new()),
            by_fd: RefCell::new(HashMap::default()),
            free: RefCell::new(Vec::new()),
            events: RefCell::new(sys::Events::new()),
            waiters: Cell::new(0),
        }
    }

    pub(crate) fn waiters(&self) -> usize {
        self.waiters.get()
    }

    /// Waits for I/O events (or a `notify`) for at most `timeout`, then reschedules
    /// the tasks whose fds are ready. Returns how many tasks it woke.
    pub(crate) fn poll(&self, poller: &Poller, timeout: Option<Duration>) -> io::Result<usize> {
        let mut events = self.events.borrow_mut();
        match poller.wait(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut woken = 0;
        for ev in events.iter() {
            let mut entries = self.entries.borrow_mut();
            let Some(entry) = entries.get_mut(ev.key) else {
                continue;
            };
            if ev.read {
                entry.read_reports = entry.read_reports.wrapping_add(1);
            }
            entry.read_closed |= ev.read_closed;
            let reader = if ev.read { entry.reader.take() } else { None };
            let writer = if ev.write { entry.writer.take() } else { None };
            if entry.reader.is_some() || entry.writer.is_some() {
                // A one-shot backend disarmed the fd; re-arm for who still waits. If that
                // fails the fd is broken: wake them so their next operation reports it.
                if poller.rearm(entry.fd, ev.key, entry.interest()).is_err() {
                    let (r, w) = (entry.reader.take(), entry.writer.take());
                    drop(entries);
                    for t in r.into_iter().chain(w) {
                        self.waiters.set(self.waiters.get() - 1);
                        t.wake(false);
                    }
                    entries = self.entries.borrow_mut();
                }
            }
            drop(entries);
            for t in reader.into_iter().chain(writer) {
                self.waiters.set(self.waiters.get() - 1);
                woken += 1;
                t.wake(false);
            }
        }
        Ok(woken)
    }

    fn read_reports(&self, fd: RawFd) -> Option<u32> {
        let key = *self.by_fd.borrow().get(&fd)?;
        let entries = self.entries.borrow();
        let entry = &entries[key];
        (!entry.read_closed).then_some(entry.read_reports)
    }

    fn entry_key(&self, fd: RawFd) -> usize {
        if let Some(&k) = self.by_fd.borrow().get(&fd) {
            return k;
        }
        let mut entries = self.entries.borrow_mut();
        let key = match self.free.borrow_mut().pop() {
            Some(k) => k,
            None => {
                entries.push(FdEntry::default());
                entries.len() - 1
            }
        };
        entries[key] = FdEntry {
            fd,
            ..FdEntry::default()
        };
        self.by_fd.borrow_mut().insert(fd, key);
        key
    }

    fn register(
        &self,
        poller: &Poller,
        fd: RawFd,
        dir: Dir,
        mode: Mode,
        waiter: NewWaiter<'_>,
    ) -> Result<usize> {
        if fd < 0 {
            // Bad input, not a panic (borrowing fd -1 is refused by assertion).
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot wait on fd {fd}: not a file descriptor"),
            )
            .into());
        }
        let key = self.entry_key(fd);
        let mut entries = self.entries.borrow_mut();
        let entry = &mut entries[key];
        let slot = match dir {
            Dir::Read => &mut entry.reader,
            Dir::Write => &mut entry.writer,
        };
        // Whether the slot was empty (the waiter count grows), and a waker this
        // registration displaces (woken once the table is released).
        let was_empty = slot.is_none();
        let mut displaced = None;
        match (slot.as_mut(), waiter) {
            (None, NewWaiter::Task(task)) => *slot = Some(Waiter::Task(Task(task))),
            (None, NewWaiter::Waker(w)) => *slot = Some(Waiter::Waker(w.clone())),
            (Some(Waiter::Waker(old)), NewWaiter::Waker(w)) => {
                // The same poller again (the usual case): keep one waker, the newest.
                if !old.will_wake(w) {
                    old.clone_from(w);
                }
            }
            (Some(Waiter::Waker(_)), NewWaiter::Task(task)) => {
                displaced = slot.replace(Waiter::Task(Task(task)));
            }
            (Some(Waiter::Task(_)), _) => {
                let what = if dir == Dir::Read {
                    "reading"
                } else {
                    "writing"
                };
                return Err(Error::new(
                    ErrorKind::BusyResource,
                    format!("another task is already waiting for fd {fd} to be ready for {what}"),
                ));
            }
        }
        let armed = poller.arm(fd, key, entry.registered, entry.interest(), mode);
        // After a failure the backend may or may not know the fd: say "not registered",
        // so the next wait adds it again (an `EEXIST` there falls back to modify).
        entry.registered = armed.is_ok();
        if let Err(e) = armed {
            let failed = match dir {
                Dir::Read => entry.reader.take(),
                Dir::Write => entry.writer.take(),
            };
            if !was_empty {
                self.waiters.set(self.waiters.get() - 1);
            }
            // An fd the backend refused (e.g. not open) leaves no entry behind.
            let unused = entry.reader.is_none() && entry.writer.is_none();
            drop(entries);
            if unused {
                self.by_fd.borrow_mut().remove(&fd);
                self.free.borrow_mut().push(key);
            }
            // Wakers displaced or refused hear about it by registering again.
            drop(failed);
            if let Some(w) = displaced {
                w.wake(false);
            }
            return Err(e.into());
        }
        drop(entries);
        if was_empty {
            self.waiters.set(self.waiters.get() + 1);
        }
        if let Some(w) = displaced {
            w.wake(false);
        }
        Ok(key)
    }

    fn unregister(&self, key: usize, dir: Dir, task: *const TaskData) -> Abort {
        let mut entries = self.entries.borrow_mut();
        let Some(entry) = entries.get_mut(key) else {
            return Abort::Failed;
        };
        let slot = match dir {
            Dir::Read => &mut entry.reader,
            Dir::Write => &mut entry.writer,
        };
        match slot {
            Some(Waiter::Task(t)) if std::ptr::eq(Rc::as_ptr(&t.0), task) => {
                *slot = None;
                self.waiters.set(self.waiters.get() - 1);
                Abort::Succeeded
            }
            _ => Abort::Failed,
        }
    }

    fn close(&self, poller: &Poller, fd: RawFd) {
        let Some(key) = self.by_fd.borrow_mut().remove(&fd) else {
            return;
        };
        let entry = std::mem::take(&mut self.entries.borrow_mut()[key]);
        self.free.borrow_mut().push(key);
        if entry.registered {
            poller.delete(fd);
        }
        for t in entry.reader.into_iter().chain(entry.writer) {
            self.waiters.set(self.waiters.get() - 1);
            t.wake(true);
        }
    }
}

async fn wait(fd: RawFd, dir: Dir, mode: Mode) -> Result<()> {
    let task = context::current_task();
    // Only compared, never dereferenced: the waiter slot holds the task itself.
    let me = Rc::as_ptr(&task);
    let key = context::with_run(|run| {
        run.reactor
            .register(&run.poller, fd, dir, mode, NewWaiter::Task(task))
    })?;
    wait_task_rescheduled(|| context::with_run(|run| run.reactor.unregister(key, dir, me))).await
}

/// Blocks until `fd` is readable (or has an error or hang-up to report), even if it
/// already is. A checkpoint.
///
/// Returns `BusyResource` if another task already waits to read `fd`, and
/// `ClosedResource` if [`notify_closing`] is called for `fd` while waiting.
pub async fn wait_readable(fd: RawFd) -> Result<()> {
    wait(fd, Dir::Read, Mode::Level).await
}

/// Blocks until `fd` is writable. A checkpoint; errors as [`wait_readable`].
pub async fn wait_writable(fd: RawFd) -> Result<()> {
    wait(fd, Dir::Write, Mode::Level).await
}

/// [`wait_readable`] for a caller that has *just* seen `EWOULDBLOCK`/`EAGAIN` from a
/// non-blocking read (or `accept`, `recv`, ...) on `fd`: on Linux it parks until the fd
/// next becomes readable without any syscall (the level wait costs an `epoll_ctl`).
/// A checkpoint, cancel-safe, errors as [`wait_readable`].
///
/// # Contract
/// * "Just": nothing that could have made the fd readable and been noticed by the run
///   loop (no checkpoint, no `await`) happened between the failed syscall and this call.
///   Then readiness arriving later raises an edge that wakes this wait; readiness that
///   arrived before the failed syscall is not missed either, since the syscall would
///   have succeeded.
/// * It may return when the fd is not readable (a stale edge): retry the syscall, and
///   call this again if it fails with `EWOULDBLOCK`.
/// * The reactor must know the fd's current incarnation: the first wait on an fd you
///   were handed (or after a wait on it failed) is a level wait, and you call
///   [`notify_closing`] before closing it. A stale registration left by code that closed
///   an earlier fd with the same number without `notify_closing` is repaired by a level
///   wait only; this wait would sleep forever on it.
///
/// Elsewhere than Linux and Android it is exactly [`wait_readable`].
pub async fn wait_readable_after_would_block(fd: RawFd) -> Result<()> {
    wait(fd, Dir::Read, Mode::AfterWouldBlock).await
}

/// [`wait_writable`] after `EWOULDBLOCK` from a non-blocking write (or `send`,
/// `connect`'s `EINPROGRESS`, ...) on `fd`. Contract as
/// [`wait_readable_after_would_block`].
pub async fn wait_writable_after_would_block(fd: RawFd) -> Result<()> {
    wait(fd, Dir::Write, Mode::AfterWouldBlock).await
}

/// How many read-readiness reports the reactor has taken from the OS for `fd` so far
/// (wrapping), whether or not a task was waiting; `None` if the reactor has no entry for
/// `fd` (never waited on, or closed since), or once it has reported a hang-up or error
/// for it (a short read may then stop right before an end of stream whose edge is past).
///
/// For streams that know a short read drained the kernel's buffer (TCP: `recv` returned
/// fewer bytes than asked, but some): note the count right after that read, in the same
/// step. If it is unchanged at the next receive, nothing has arrived that the reactor
/// knows of, and anything that arrives later raises a report, so the receive can go
/// straight to [`wait_readable_after_would_block`] and skip the `recv` that would fail
/// with `EWOULDBLOCK` (trio-net's `SocketStream` does). Elsewhere than Linux and Android
/// that wait is a level wait, so skipping is just as safe there.
pub fn read_readiness_count(fd: RawFd) -> Option<u32> {
    context::try_with_run(|run| run.reactor.read_reports(fd)).flatten()
}

/// Tells the reactor that `fd` is about to be closed: tasks waiting on it wake with
/// `ClosedResource`, wakers registered for it are woken, and the poller forgets it. Call it before closing any fd that was
/// passed to `wait_readable`/`wait_writable`. Never blocks; does nothing outside a run.
pub fn notify_closing(fd: RawFd) {
    context::try_with_run(|run| run.reactor.close(&run.poller, fd));
}

fn register_waker(fd: RawFd, dir: Dir, mode: Mode, waker: &Waker) -> Result<()> {
    context::try_with_run(|run| {
        run.reactor
            .register(&run.poller, fd, dir, mode, NewWaiter::Waker(waker))
            .map(drop)
    })
    .unwrap_or_else(|| {
        Err(Error::new(
            ErrorKind::Other,
            "wake_when_readable/wake_when_writable called outside a trio run (on a thread \
             with no run loop to watch the fd)",
        ))
    })
}

/// Registers `waker` to be woken when `fd` is readable (or has an error or hang-up to
/// report), even if it already is: the poll-based counterpart of [`wait_readable`], for
/// `futures-io` style adapters. Returns at once; the next readiness event, or
/// [`notify_closing`], wakes the waker once and forgets it.
///
/// Not a checkpoint and nothing to cancel: dropping the future that registered costs
/// at most one spurious wake-up. A newer waker for the same direction replaces the older
/// one. Returns `BusyResource` if a *task* waits to read `fd` (and a task that starts
/// waiting later takes the slot and wakes this waker, so the poller's next registration
/// reports `BusyResource`). Must be called on the run's thread: outside a run, an error.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use std::task::Poll;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (a, b) = std::os::unix::net::UnixStream::pair()?;
///     std::io::Write::write_all(&mut &a, b"x")?;
///     let mut registered = false;
///     std::future::poll_fn(|cx| {
///         if registered {
///             return Poll::Ready(Ok::<(), trio_core::Error>(()));
///         }
///         registered = true;
///         trio_core::lowlevel::wake_when_readable(b.as_raw_fd(), cx.waker())?;
///         Poll::Pending
///     })
///     .await?;
///     trio_core::lowlevel::notify_closing(b.as_raw_fd());
///     Ok(())
/// })
/// # }
/// ```
pub fn wake_when_readable(fd: RawFd, waker: &Waker) -> Result<()> {
    register_waker(fd, Dir::Read, Mode::Level, waker)
}

/// [`wake_when_readable`] for writability.
pub fn wake_when_writable(fd: RawFd, waker: &Waker) -> Result<()> {
    register_waker(fd, Dir::Write, Mode::Level, waker)
}

/// [`wake_when_readable`] for a caller that has *just* seen `EWOULDBLOCK` from a
/// non-blocking read on `fd`: no syscall on Linux. The contract of
/// [`wait_readable_after_would_block`] applies ("just": in the same poll, before
/// returning `Pending`; the first registration for an fd you were handed is a level one).
pub fn wake_when_readable_after_would_block(fd: RawFd, waker: &Waker) -> Result<()> {
    register_waker(fd, Dir::Read, Mode::AfterWouldBlock, waker)
}

/// [`wake_when_writable`] after `EWOULDBLOCK` from a non-blocking write on `fd`;
/// contract as [`wake_when_readable_after_would_block`].
pub fn wake_when_writable_after_would_block(fd: RawFd, waker: &Waker) -> Result<()> {
    register_waker(fd, Dir::Write, Mode::AfterWouldBlock, waker)
}
