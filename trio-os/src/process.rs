//! `Process` and `open_process`: a running child with its pipes as trio streams, and an
//! async `wait` that several tasks may call at once.
//!
//! # How `wait` blocks
//! Each `Process` owns an *exit fd* that becomes readable when the child exits, and `wait`
//! blocks on it with the reactor's `wait_readable`:
//! * on Linux, a pidfd (`pidfd_open`), readable once the child has terminated;
//! * elsewhere, or when pidfds are unavailable (old kernel, seccomp), the read end of a
//!   pipe whose write end a helper thread closes when `waitid(WEXITED | WNOWAIT)` returns
//!   (it observes the exit without reaping, so the pid stays ours until we reap).
//!
//! Only one task may block on an fd per direction, so the first waiter blocks on the exit
//! fd and the others park in a `ParkingLot` until it is done (or cancelled, in which case
//! one of them takes over). Reaping is `std::process::Child::try_wait`, always on the
//! loop's thread, so the pid cannot be recycled while we may still signal it.
//!
//! # Dropping a running `Process`
//! Dropping a `Process` whose child is still running kills the child (SIGKILL) and reaps
//! it on a short-lived background thread: no child outlives its `Process` unnoticed and
//! none is left a zombie. Wait for it (or use `run_process`) to end it gracefully.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use trio_core::lowlevel::{notify_closing, wait_readable, ParkingLot};
use trio_core::{
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, move_on_after, CancelScope,
    Error, ErrorKind, Result,
};

use crate::command::Command;
use crate::pipe::{PipeReceiveStream, PipeSendStream};
use crate::signal::{SIGKILL, SIGTERM};
use crate::sys;

/// Set by tests to exercise the helper-thread fallback instead of pidfds.
static FORCE_THREAD_WAIT: AtomicBool = AtomicBool::new(false);

/// Makes processes started from now on wait for exit with the helper-thread fallback
/// even where pidfds work (for testing the fallback). Not for production use.
#[doc(hidden)]
pub fn force_thread_wait_fallback(on: bool) {
    FORCE_THREAD_WAIT.store(on, Ordering::Relaxed);
}

/// A child process started by [`open_process`].
///
/// The pipes are public so tasks can take them (`process.stdout.take()`) and use them
/// concurrently; `wait`, `poll` and the signal methods take `&self`, so the process can
/// be shared (e.g. in an `Rc`) by several tasks.
///
/// Dropping a `Process` whose child still runs kills it with SIGKILL and reaps it on a
/// background thread (see the module docs); nothing is leaked silently.
pub struct Process {
    /// The child's stdin, if it was `Stdio::piped()`.
    pub stdin: Option<PipeSendStream>,
    /// The child's stdout, if it was `Stdio::piped()`.
    pub stdout: Option<PipeReceiveStream>,
    /// The child's stderr, if it was `Stdio::piped()`.
    pub stderr: Option<PipeReceiveStream>,
    /// `None` only while dropping.
    child: RefCell<Option<Child>>,
    pid: u32,
    command: String,
    /// The exit status once reaped.
    status: Cell<Option<ExitStatus>>,
    /// Readable once the child has exited (see the module docs).
    exit_fd: Option<OwnedFd>,
    /// Whether some task is blocked on `exit_fd`.
    waiting: Cell<bool>,
    /// The other waiters.
    lot: ParkingLot,
}

/// Starts `cmd` and returns at once with the running [`Process`]. A checkpoint.
///
/// Stdio is as configured on `cmd` (inherited by default); streams set to
/// `Stdio::piped()` appear in `Process::{stdin, stdout, stderr}` as trio streams. The
/// `run_process` options of `cmd` (`stdin_bytes`, `capture_*`, `check`) are ignored here.
/// A program that cannot be started is an `Io` error naming it, with the `io::Error`
/// (e.g. `NotFound`) as source.
///
/// ```
/// use std::process::Stdio;
/// use trio_core::{ReceiveStream, SendStream, AsyncResource};
/// use trio_os::{open_process, Command};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let mut cat = open_process(Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped())).await?;
///     let (stdin, stdout) = (cat.stdin.take().unwrap(), cat.stdout.take().unwrap());
///     stdin.send_all(b"ping").await?;
///     stdin.aclose().await?;
///     let mut buf = [0u8; 4];
///     assert_eq!(stdout.receive_some(&mut buf).await?, 4);
///     assert!(cat.wait().await?.success());
///     Ok(())
/// })
/// # }
/// ```
pub async fn open_process(cmd: &mut Command) -> Result<Process> {
    checkpoint_if_cancelled().await?;
    let command = cmd.describe();
    let mut child = cmd.inner.spawn().map_err(|e| {
        Error::with_source(
            ErrorKind::Io,
            format!("could not start `{command}`: {e}"),
            e,
        )
    })?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let mut process = Process {
        stdin: None,
        stdout: None,
        stderr: None,
        pid: child.id(),
        exit_fd: None,
        child: RefCell::new(Some(child)),
        command,
        status: Cell::new(None),
        waiting: Cell::new(false),
        lot: ParkingLot::new(),
    };
    // From here on, an error drops `process`, which kills and reaps the child.
    process.stdin = stdin.map(|s| PipeSendStream::new(s.into())).transpose()?;
    process.stdout = stdout
        .map(|s| PipeReceiveStream::new(s.into()))
        .transpose()?;
    process.stderr = stderr
        .map(|s| PipeReceiveStream::new(s.into()))
        .transpose()?;
    let notifier = exit_notifier(process.child.borrow().as_ref().expect("child present"));
    process.exit_fd = Some(notifier.map_err(|e| {
        Error::with_source(ErrorKind::Io, "could not watch the child for its exit", e)
    })?);
    cancel_shielded_checkpoint().await;
    Ok(process)
}

/// An fd that becomes readable when `child` exits.
fn exit_notifier(child: &Child) -> io::Result<OwnedFd> {
    #[cfg(target_os = "linux")]
    if !FORCE_THREAD_WAIT.load(Ordering::Relaxed) {
        let pid = rustix::process::Pid::from_child(child);
        if let Ok(fd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
            return Ok(fd);
        }
    }
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let pid = rustix::process::Pid::from_child(child);
    std::thread::Builder::new()
        .name("trio-os child waiter".into())
        .spawn(move || {
            use rustix::process::{waitid, WaitId, WaitIdOptions};
            // WNOWAIT: observe the exit without reaping; the loop thread reaps.
            while let Err(rustix::io::Errno::INTR) = waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
            ) {}
            // Closing the write end makes the read end readable (end of file).
            drop(write);
        })?;
    Ok(read)
}

/// Clears the "someone is waiting on the exit fd" flag and lets the next waiter in,
/// however the wait ended.
struct WaiterGuard<'a>(&'a Process);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.waiting.set(false);
        self.0.lot.unpark_all();
    }
}

impl Process {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if the child has exited (reaping it), `None` while it runs.
    /// Never blocks.
    pub fn poll(&self) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.status.get() {
            return Ok(Some(status));
        }
        let mut child = self.child.borrow_mut();
        let child = child.as_mut().expect("child present until drop");
        let status = child.try_wait()?;
        self.status.set(status);
        Ok(status)
    }

    /// The exit status, if the child has exited and was reaped by `poll` or `wait`.
    pub fn returncode(&self) -> Option<ExitStatus> {
        self.status.get()
    }

    /// Waits for the child to exit and returns its status. A checkpoint. Several tasks
    /// may wait at once; all get the status.
    ///
    /// Cancelling `wait` does not affect the child (as in Trio): use
    /// [`terminate_then_kill`](Process::terminate_then_kill) or `run_process` for that.
    pub async fn wait(&self) -> Result<ExitStatus> {
        loop {
            if let Some(status) = self.poll()? {
                checkpoint().await?;
                return Ok(status);
            }
            if self.waiting.get() {
                self.lot.park().await?;
                continue;
            }
            let fd = self
                .exit_fd
                .as_ref()
                .expect("exit fd present until drop")
                .as_raw_fd();
            self.waiting.set(true);
            let guard = WaiterGuard(self);
            wait_readable(fd).await?;
            drop(guard);
            if let Some(status) = self.poll()? {
                return Ok(status);
            }
        }
    }

    /// Sends signal `sig` to the child. Does nothing if the child has already exited
    /// and been reaped (so a recycled pid is never signalled).
    pub fn send_signal(&self, sig: i32) -> Result<()> {
        if self.poll()?.is_some() {
            return Ok(());
        }
        sys::kill(self.pid, sig).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!(
                    "could not send signal {sig} to process {} (`{}`)",
                    self.pid, self.command
                ),
                e,
            )
        })
    }

    /// Asks the child to exit: SIGTERM.
    pub fn terminate(&self) -> Result<()> {
        self.send_signal(SIGTERM)
    }

    /// Kills the child: SIGKILL.
    pub fn kill(&self) -> Result<()> {
        self.send_signal(SIGKILL)
    }

    /// Ends the child the way a cancelled `run_process` does: SIGTERM, up to `grace` for
    /// it to exit, then SIGKILL; returns once it is reaped. Runs shielded from
    /// cancellation, so the child is always gone when this returns.
    pub async fn terminate_then_kill(&self, grace: Duration) -> Result<ExitStatus> {
        let shielded = CancelScope::new().with_shield(true).run(async {
            self.terminate()?;
            if let Some(status) = move_on_after(grace, self.wait()).await? {
                return Ok(status);
            }
            self.kill()?;
            self.wait().await
        });
        Ok(shielded
            .await?
            .expect("a shielded scope is never cancelled"))
    }

    /// The command line the process was started with (for messages).
    pub fn command(&self) -> &str {
        &self.command
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid)
            .field("command", &self.command)
            .field("status", &self.status.get())
            .finish_non_exhaustive()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(fd) = self.exit_fd.take() {
            notify_closing(fd.as_raw_fd());
        }
        let Some(mut child) = self.child.get_mut().take() else {
            return;
        };
        if self.status.get().is_some() || !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        // Still running: kill it, and reap it off the loop thread (it takes a moment).
        let _ = child.kill();
        let reaper = std::thread::Builder::new()
            .name("trio-os reaper".into())
            .spawn(move || {
                let _ = child.wait();
            });
        if let Err(e) = reaper {
            // No thread: leave a note rather than block the loop.
            eprintln!("trio-os: could not reap a dropped child process: {e}");
        }
    }
}
