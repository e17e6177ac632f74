//! The OS calls no safe crate offers: `kill` with a raw signal number, `raise`, and
//! installing / restoring a signal disposition with `sigaction`, plus the signal handler
//! itself. This is the crate's only `unsafe` code.
//!
//! # The handler's contract
//! The handler runs on whatever thread the kernel picks, interrupting arbitrary code, so it
//! may only touch async-signal-safe things: it sets one `AtomicBool` per signal number and
//! writes one byte to a process-wide pipe whose write end is never closed (so the fd it
//! writes to can never be recycled under it). It saves and restores `errno`. Everything
//! else (which receivers want the signal, waking their loops) happens on the dispatcher
//! thread in `signal.rs`.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// One past the highest signal number we accept (Linux's `_NSIG` is 65).
pub(crate) const NSIG: usize = 65;

/// `PENDING[sig]` is set by the handler when `sig` arrives; the dispatcher clears it.
pub(crate) static PENDING: [AtomicBool; NSIG] = [const { AtomicBool::new(false) }; NSIG];

/// Write end of the process-wide wake-up pipe (-1 until the dispatcher starts). Never
/// closed once set.
pub(crate) static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn handler(sig: libc::c_int) {
    let saved = errno::errno();
    if let Some(flag) = usize::try_from(sig).ok().and_then(|s| PENDING.get(s)) {
        flag.store(true, Ordering::SeqCst);
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: `fd` is the never-closed, non-blocking write end of the wake-up pipe and
        // `byte` is a valid one-byte buffer. write(2) is async-signal-safe; if the pipe
        // is full the dispatcher is already due to wake, so the error is ignored.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    errno::set_errno(saved);
}

/// A saved signal disposition, to put back later.
pub(crate) struct SavedAction(libc::sigaction);

/// Installs our handler for `sig`; returns the disposition it replaced.
pub(crate) fn install_handler(sig: i32) -> io::Result<SavedAction> {
    // SAFETY: sigaction is plain old data; all-zero is a valid empty value that we fill in.
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SA_RESTART: other threads' blocking syscalls resume instead of failing with EINTR.
    new.sa_flags = libc::SA_RESTART;
    // SAFETY: sa_mask is a valid sigset_t owned by `new`.
    unsafe { libc::sigemptyset(&mut new.sa_mask) };
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to valid, live sigaction values; the handler only does
    // async-signal-safe work (see the module doc).
    let rc = unsafe { libc::sigaction(sig, &new, &mut old) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(SavedAction(old))
}

/// Puts back a disposition saved by [`install_handler`].
pub(crate) fn restore_handler(sig: i32, saved: &SavedAction) {
    // SAFETY: `saved.0` is a disposition the kernel gave us for this very signal.
    unsafe { libc::sigaction(sig, &saved.0, std::ptr::null_mut()) };
}

/// Sends `sig` to process `pid`.
pub(crate) fn kill(pid: u32, sig: i32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `sig` to the calling thread; returns after its handler ran.
pub(crate) fn raise(sig: i32) {
    // SAFETY: raise(3) has no memory-safety preconditions.
    unsafe { libc::raise(sig) };
}

/// The highest valid signal number on this system.
pub(crate) fn max_signal() -> i32 {
    #[cfg(target_os = "linux")]
    {
        libc::SIGRTMAX()
    }
    #[cfg(not(target_os = "linux"))]
    {
        31
    }
}

// The libc types this module stores must be movable between threads (the registry is a
// global Mutex).
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<SavedAction>();
};
