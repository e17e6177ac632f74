//! The I/O reactor: owns the registrations of file descriptors with the run's
//! `polling::Poller` and wakes the tasks waiting on them.
//!
//! # OS facts and what follows
//! * `polling` uses one-shot interest: after an event fires, the fd is disarmed. So the
//!   reactor re-arms an fd only while a task still waits on it, and a waiter that gives
//!   up (cancelled) leaves the fd armed: the stray event that may follow finds no waiter
//!   and is ignored. That trades one harmless wakeup for a syscall per cancellation.
//! * epoll forgets an fd when its last descriptor is closed, but this table does not
//!   know about the close. Callers must call [`notify_closing`] before closing (trio-net
//!   and trio-os do); if they forget, re-registering the recycled fd number recovers
//!   (`modify` falls back to `add` on `ENOENT`, `add` to `modify` on `EEXIST`).
//! * One task per direction per fd: a second reader or writer gets `BusyResource`.
//!
//! Invariant: the reactor never reads cancel state. Waiting is `wait_task_rescheduled`;
//! its abort function just forgets the waiter.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use polling::{Event, Events, Poller};

use crate::checkpoint::{reschedule, wait_task_rescheduled, Abort};
use crate::context;
use crate::task::{Task, TaskData};
use crate::{Error, ErrorKind, Result};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

#[derive(Default)]
struct FdEntry {
    fd: RawFd,
    reader: Option<Task>,
    writer: Option<Task>,
    /// Whether the poller knows this fd (was `add`ed and not `delete`d).
    registered: bool,
}

/// Per-run I/O state; lives on the loop thread.
pub(crate) struct Reactor {
    entries: RefCell<Vec<FdEntry>>,
    by_fd: RefCell<HashMap<RawFd, usize>>,
    free: RefCell<Vec<usize>>,
    events: RefCell<Events>,
    /// Number of tasks blocked on I/O; when zero the loop may skip polling.
    waiters: Cell<usize>,
}

impl Reactor {
    pub(crate) fn new() -> Self {
        Reactor {
            entries: RefCell::new(Vec::new()),
            by_fd: RefCell::new(HashMap::new()),
            free: RefCell::new(Vec::new()),
            events: RefCell::new(Events::new()),
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
        events.clear();
        match poller.wait(&mut events, timeout) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut woken = 0;
        for ev in events.iter() {
            let mut entries = self.entries.borrow_mut();
            let Some(entry) = entries.get_mut(ev.key) else {
                continue;
            };
            let reader = if ev.readable {
                entry.reader.take()
            } else {
                None
            };
            let writer = if ev.writable {
                entry.writer.take()
            } else {
                None
            };
            if entry.reader.is_some() || entry.writer.is_some() {
                // One-shot: the event disarmed the fd; re-arm for who still waits. If that
                // fails the fd is broken: wake them so their next operation reports it.
                if Self::arm(poller, ev.key, entry).is_err() {
                    let (r, w) = (entry.reader.take(), entry.writer.take());
                    drop(entries);
                    for t in r.into_iter().chain(w) {
                        self.waiters.set(self.waiters.get() - 1);
                        reschedule(&t, Ok(()));
                    }
                    entries = self.entries.borrow_mut();
                }
            }
            drop(entries);
            for t in reader.into_iter().chain(writer) {
                self.waiters.set(self.waiters.get() - 1);
                woken += 1;
                reschedule(&t, Ok(()));
            }
        }
        Ok(woken)
    }

    fn arm(poller: &Poller, key: usize, entry: &mut FdEntry) -> io::Result<()> {
        let interest = Event::new(key, entry.reader.is_some(), entry.writer.is_some());
        // SAFETY: the fd was passed to wait_readable/wait_writable by a caller that keeps
        // it open until it calls notify_closing, which deletes it from the poller first.
        let fd = unsafe { BorrowedFd::borrow_raw(entry.fd) };
        if entry.registered {
            match poller.modify(fd, interest) {
                Err(e) if e.raw_os_error() == Some(libc_enoent()) => {}
                other => return other,
            }
        }
        // SAFETY: as above; the registration is removed (notify_closing) before close.
        match unsafe { poller.add(entry.fd, interest) } {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => poller.modify(fd, interest)?,
            other => other?,
        }
        entry.registered = true;
        Ok(())
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

    fn register(&self, poller: &Poller, fd: RawFd, dir: Dir, task: &Rc<TaskData>) -> Result<usize> {
        if fd < 0 {
            // Bad input, not a panic (the poller's fd types refuse -1 by assertion).
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
        if slot.is_some() {
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
        *slot = Some(Task(task.clone()));
        if let Err(e) = Self::arm(poller, key, entry) {
            match dir {
                Dir::Read => entry.reader = None,
                Dir::Write => entry.writer = None,
            }
            // An fd the poller refused (e.g. not open) leaves no entry behind.
            let unused = !entry.registered && entry.reader.is_none() && entry.writer.is_none();
            drop(entries);
            if unused {
                self.by_fd.borrow_mut().remove(&fd);
                self.free.borrow_mut().push(key);
            }
            return Err(e.into());
        }
        self.waiters.set(self.waiters.get() + 1);
        Ok(key)
    }

    fn unregister(&self, key: usize, dir: Dir, task: &TaskData) -> Abort {
        let mut entries = self.entries.borrow_mut();
        let Some(entry) = entries.get_mut(key) else {
            return Abort::Failed;
        };
        let slot = match dir {
            Dir::Read => &mut entry.reader,
            Dir::Write => &mut entry.writer,
        };
        match slot {
            Some(t) if std::ptr::eq(&*t.0, task) => {
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
            // SAFETY: the caller is about to close fd, so it is still open now.
            let _ = poller.delete(unsafe { BorrowedFd::borrow_raw(fd) });
        }
        for t in entry.reader.into_iter().chain(entry.writer) {
            self.waiters.set(self.waiters.get() - 1);
            reschedule(
                &t,
                Err(Error::new(
                    ErrorKind::ClosedResource,
                    "another task closed this file descriptor while this one was waiting on it",
                )),
            );
        }
    }
}

fn libc_enoent() -> i32 {
    io::Error::from(io::ErrorKind::NotFound)
        .raw_os_error()
        .unwrap_or(2)
}

async fn wait(fd: RawFd, dir: Dir) -> Result<()> {
    let task = context::current_task();
    let key = context::with_run(|run| run.reactor.register(&run.poller, fd, dir, &task))?;
    wait_task_rescheduled(|| context::with_run(|run| run.reactor.unregister(key, dir, &task))).await
}

/// Blocks until `fd` is readable (or has an error or hang-up to report). A checkpoint.
///
/// Returns `BusyResource` if another task already waits to read `fd`, and
/// `ClosedResource` if [`notify_closing`] is called for `fd` while waiting.
pub async fn wait_readable(fd: RawFd) -> Result<()> {
    wait(fd, Dir::Read).await
}

/// Blocks until `fd` is writable. A checkpoint; errors as [`wait_readable`].
pub async fn wait_writable(fd: RawFd) -> Result<()> {
    wait(fd, Dir::Write).await
}

/// Tells the reactor that `fd` is about to be closed: tasks waiting on it wake with
/// `ClosedResource`, and the poller forgets it. Call it before closing any fd that was
/// passed to `wait_readable`/`wait_writable`. Never blocks; does nothing outside a run.
pub fn notify_closing(fd: RawFd) {
    context::try_with_run(|run| run.reactor.close(&run.poller, fd));
}
