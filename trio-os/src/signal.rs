//! Signals: [`open_signal_receiver`] and [`SignalReceiver`], delivering process signals to
//! a task of any trio run, on any thread.
//!
//! # How a signal travels
//! 1. The handler (`sys.rs`) sets `PENDING[sig]` and writes a byte to a process-wide
//!    self-pipe. Nothing else is async-signal-safe.
//! 2. A dispatcher thread, started with the first receiver, blocks reading that pipe.
//!    Woken, it takes each pending flag and, under the registry lock, queues the signal on
//!    every receiver watching it (once: a signal already queued there coalesces, as in
//!    Trio) and writes a byte to that receiver's own pipe.
//! 3. `SignalReceiver::receive` waits on its pipe with the reactor of whichever run it is
//!    used in, so receivers work in any loop on any thread.
//!
//! # Dispositions
//! The registry counts receivers per signal. The first receiver of a signal installs the
//! handler and saves the disposition it replaced; when the last one is dropped that
//! disposition is restored. Signals still queued on a dropped receiver that no other
//! receiver watches are re-raised to the restored disposition (never lost, as in Trio),
//! and so is one that arrives while its receiver is being dropped.
//!
//! Why not `signal-hook`: its registry keeps its own handler installed forever (it only
//! chains to the previous one), so "restore the previous disposition on drop" cannot be
//! built on it: a SIGINT after the receiver is gone would be swallowed instead of
//! ending the process. Hence the small `sigaction` layer in `sys.rs`.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustix::io::Errno;
use rustix::pipe::{pipe_with, PipeFlags};
use trio_core::lowlevel::{notify_closing, wait_readable};
use trio_core::{cancel_shielded_checkpoint, checkpoint_if_cancelled, Error, ErrorKind, Result};

use crate::sys;

/// SIGTERM: asks a process to exit.
pub const SIGTERM: i32 = libc::SIGTERM;
/// SIGKILL: kills a process (cannot be caught).
pub const SIGKILL: i32 = libc::SIGKILL;
/// SIGINT: Ctrl-C.
pub const SIGINT: i32 = libc::SIGINT;
/// SIGHUP: the terminal went away; often "reload configuration".
pub const SIGHUP: i32 = libc::SIGHUP;
/// SIGUSR1: user-defined.
pub const SIGUSR1: i32 = libc::SIGUSR1;
/// SIGUSR2: user-defined.
pub const SIGUSR2: i32 = libc::SIGUSR2;

/// The half of a receiver the dispatcher thread sees.
struct Shared {
    id: u64,
    signals: Vec<i32>,
    /// Delivered, not yet received; each number at most once (coalescing).
    queue: Mutex<VecDeque<i32>>,
    /// Write end of this receiver's wake-up pipe (non-blocking).
    wake_w: OwnedFd,
}

#[derive(Default)]
struct Registry {
    receivers: Vec<Arc<Shared>>,
    /// Signals with our handler installed: receiver count and the disposition replaced.
    installed: HashMap<i32, (usize, sys::SavedAction)>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the dispatcher thread and the process-wide self-pipe, once.
fn ensure_dispatcher() -> io::Result<()> {
    static STARTED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        let start = || -> io::Result<()> {
            let (read, write) = pipe_with(PipeFlags::CLOEXEC)?;
            // The handler must never block on a full pipe.
            rustix::io::ioctl_fionbio(&write, true)?;
            std::thread::Builder::new()
                .name("trio-os signal dispatcher".into())
                .spawn(move || dispatch(read))?;
            // Never closed: the handler may write to it at any moment.
            let fd = std::os::fd::IntoRawFd::into_raw_fd(write);
            sys::WAKE_FD.store(fd, Ordering::SeqCst);
            Ok(())
        };
        start().map_err(|e| e.to_string())
    });
    started.clone().map_err(io::Error::other)
}

fn dispatch(read: OwnedFd) {
    let mut buf = [0u8; 256];
    loop {
        match rustix::io::read(&read, &mut buf) {
            Ok(0) => return,
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => return,
        }
        let reg = registry();
        for sig in 1..sys::NSIG {
            if !sys::PENDING[sig].swap(false, Ordering::SeqCst) {
                continue;
            }
            let sig = sig as i32;
            let mut watched = false;
            for r in reg.receivers.iter().filter(|r| r.signals.contains(&sig)) {
                watched = true;
                let mut q = r.queue.lock().unwrap_or_else(|p| p.into_inner());
                if !q.contains(&sig) {
                    q.push_back(sig);
                }
                // Full pipe: the receiver is already due to wake; nothing is lost.
                let _ = rustix::io::write(&r.wake_w, &[1]);
            }
            if !watched && !reg.installed.contains_key(&sig) {
                // Arrived while its last receiver was being dropped: redeliver it to the
                // disposition that was restored.
                sys::raise(sig);
            }
        }
    }
}

/// Receives the signals it was opened for, in any trio run on any thread. Dropping it
/// restores the previous disposition of signals no other receiver watches.
///
/// Repeated arrivals of one signal that was not yet received coalesce into one, as in
/// Trio: the receiver reports *that* a signal arrived, not how often.
pub struct SignalReceiver {
    shared: Arc<Shared>,
    wake_r: OwnedFd,
}

/// Starts catching `signals` (e.g. `[SIGINT, SIGTERM]`) and returns a receiver for them.
/// Not async: the handlers are installed before it returns, so a signal sent right after
/// is never missed. Callable from any thread, inside or outside a run.
///
/// Errors: an empty list, or a signal that cannot be caught (SIGKILL, SIGSTOP, out of
/// range), named in the message.
///
/// ```
/// use trio_os::{open_signal_receiver, SIGUSR2};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let signals = open_signal_receiver(&[SIGUSR2])?;
///     trio_os::raise_signal(SIGUSR2)?;          // e.g. `kill -USR2 <pid>` from outside
///     assert_eq!(signals.receive().await?, SIGUSR2);
///     Ok(())
/// })
/// # }
/// ```
pub fn open_signal_receiver(signals: &[i32]) -> Result<SignalReceiver> {
    if signals.is_empty() {
        return Err(Error::msg("open_signal_receiver needs at least one signal"));
    }
    let max = sys::max_signal();
    for &sig in signals {
        if sig <= 0 || sig > max || sig as usize >= sys::NSIG {
            return Err(Error::msg(format!(
                "open_signal_receiver: {sig} is not a valid signal number (1..={max})"
            )));
        }
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(Error::msg(format!(
                "open_signal_receiver: signal {sig} (SIGKILL/SIGSTOP) cannot be caught"
            )));
        }
    }
    ensure_dispatcher()
        .map_err(|e| Error::with_source(ErrorKind::Io, "could not start signal dispatch", e))?;
    let (wake_r, wake_w) = pipe_with(PipeFlags::CLOEXEC).map_err(io::Error::from)?;
    rustix::io::ioctl_fionbio(&wake_r, true).map_err(io::Error::from)?;
    rustix::io::ioctl_fionbio(&wake_w, true).map_err(io::Error::from)?;
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let mut wanted = signals.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let shared = Arc::new(Shared {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        signals: wanted,
        queue: Mutex::new(VecDeque::new()),
        wake_w,
    });

    let mut reg = registry();
    let mut newly_installed = Vec::new();
    for &sig in &shared.signals {
        if let Some((count, _)) = reg.installed.get_mut(&sig) {
            *count += 1;
            continue;
        }
        match sys::install_handler(sig) {
            Ok(saved) => {
                reg.installed.insert(sig, (1, saved));
                newly_installed.push(sig);
            }
            Err(e) => {
                // Undo what this call did, then report.
                for &done in &shared.signals {
                    if done == sig {
                        break;
                    }
                    release(&mut reg, done);
                }
                return Err(Error::with_source(
                    ErrorKind::Io,
                    format!("open_signal_receiver: cannot catch signal {sig}: {e}"),
                    e,
                ));
            }
        }
    }
    reg.receivers.push(shared.clone());
    Ok(SignalReceiver { shared, wake_r })
}

/// Drops one receiver's claim on `sig`; restores the old disposition with the last.
fn release(reg: &mut Registry, sig: i32) {
    if let Some((count, _)) = reg.installed.get_mut(&sig) {
        *count -= 1;
        if *count == 0 {
            let (_, saved) = reg.installed.remove(&sig).expect("present");
            sys::restore_handler(sig, &saved);
        }
    }
}

impl SignalReceiver {
    /// Waits for the next signal and returns its number. A checkpoint; cancel-safe (a
    /// cancelled `receive` takes nothing). Only one task may receive at a time
    /// (`BusyResource` otherwise).
    pub async fn receive(&self) -> Result<i32> {
        checkpoint_if_cancelled().await?;
        loop {
            if let Some(sig) = self.try_receive() {
                cancel_shielded_checkpoint().await;
                return Ok(sig);
            }
            wait_readable(self.wake_r.as_raw_fd()).await?;
            self.drain_wakeups();
        }
    }

    /// The next already-delivered signal, if any. Never blocks or yields.
    pub fn try_receive(&self) -> Option<i32> {
        self.queue().pop_front()
    }

    /// The signals this receiver watches.
    pub fn signals(&self) -> &[i32] {
        &self.shared.signals
    }

    fn queue(&self) -> MutexGuard<'_, VecDeque<i32>> {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn drain_wakeups(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = rustix::io::read(&self.wake_r, &mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}

impl std::fmt::Debug for SignalReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalReceiver")
            .field("signals", &self.shared.signals)
            .finish_non_exhaustive()
    }
}

impl Drop for SignalReceiver {
    fn drop(&mut self) {
        notify_closing(self.wake_r.as_raw_fd());
        let mut redeliver = Vec::new();
        {
            let mut reg = registry();
            reg.receivers.retain(|r| r.id != self.shared.id);
            for &sig in &self.shared.signals {
                release(&mut reg, sig);
            }
            for sig in self.queue().drain(..) {
                if !reg.receivers.iter().any(|r| r.signals.contains(&sig)) {
                    redeliver.push(sig);
                }
            }
        }
        for sig in redeliver {
            sys::raise(sig);
        }
    }
}

/// Sends `sig` to this process, to the calling thread (`raise(3)`): by the time it
/// returns, the signal's handler has run (so a receiver has it on its way) or its default
/// action happened. To test what an outside `kill -SIG <pid>` does, send one from a child
/// process.
pub fn raise_signal(sig: i32) -> Result<()> {
    if sig <= 0 || sig > sys::max_signal() {
        return Err(Error::msg(format!(
            "raise_signal: {sig} is not a valid signal number"
        )));
    }
    sys::raise(sig);
    Ok(())
}
