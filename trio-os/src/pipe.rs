//! Pipes as trio streams: [`PipeSendStream`] and [`PipeReceiveStream`] own one end of a
//! pipe each, set non-blocking, and wait on trio-core's reactor (Trio's `FdStream`).
//!
//! Invariant: the fd is only closed through [`FdHolder::close`], which first calls
//! `notify_closing`, so a task blocked on it wakes with `ClosedResource` and the reactor
//! forgets the fd before its number can be reused.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use rustix::io::Errno;
use trio_core::lowlevel::{
    notify_closing, wait_readable, wait_readable_after_would_block, wait_writable,
    wait_writable_after_would_block, ConflictDetector, ConflictGuard,
};
use trio_core::{
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, AsyncResource, Error,
    ErrorKind, ReceiveStream, Result, SendStream,
};

/// Creates a pipe: bytes sent on the first end come out of the second. Both ends are
/// non-blocking, close-on-exec trio streams.
///
/// ```
/// use trio_core::{ReceiveStream, SendStream, AsyncResource};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let (tx, rx) = trio_os::pipe()?;
///     tx.send_all(b"hi").await?;
///     tx.aclose().await?;
///     let mut buf = [0u8; 8];
///     assert_eq!(rx.receive_some(&mut buf).await?, 2);
///     assert_eq!(rx.receive_some(&mut buf).await?, 0); // end of stream
///     Ok(())
/// })
/// # }
/// ```
pub fn pipe() -> Result<(PipeSendStream, PipeReceiveStream)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| {
        Error::with_source(ErrorKind::Io, "could not create a pipe", io::Error::from(e))
    })?;
    Ok((PipeSendStream::new(w)?, PipeReceiveStream::new(r)?))
}

/// The owned fd plus the one-task-per-direction guard.
#[derive(Debug)]
struct FdHolder {
    /// `None` once closed.
    fd: RefCell<Option<OwnedFd>>,
    busy: ConflictDetector,
    /// Whether a level wait on this fd succeeded, so that the reactor's registration
    /// is known to be this fd's (not a stale one of an earlier fd with this number):
    /// from then on a wait right after `EAGAIN` can take the no-syscall path.
    armed: Cell<bool>,
}

impl FdHolder {
    fn new(fd: OwnedFd, busy_message: &'static str) -> Result<Self> {
        // Our end only: the child's end of a pipe is a separate open file description,
        // so it keeps blocking semantics.
        rustix::io::ioctl_fionbio(&fd, true).map_err(io::Error::from)?;
        Ok(FdHolder {
            fd: RefCell::new(Some(fd)),
            busy: ConflictDetector::new(busy_message),
            armed: Cell::new(false),
        })
    }

    fn raw(&self) -> Result<RawFd> {
        match &*self.fd.borrow() {
            Some(fd) => Ok(fd.as_raw_fd()),
            None => Err(Error::new(
                ErrorKind::ClosedResource,
                "this pipe end was closed",
            )),
        }
    }

    fn enter(&self) -> Result<ConflictGuard<'_>> {
        self.busy.enter()
    }

    fn with_fd<T>(
        &self,
        f: impl FnOnce(&OwnedFd) -> rustix::io::Result<T>,
    ) -> Result<rustix::io::Result<T>> {
        match &*self.fd.borrow() {
            Some(fd) => Ok(f(fd)),
            None => Err(Error::new(
                ErrorKind::ClosedResource,
                "this pipe end was closed",
            )),
        }
    }

    /// Waits for readiness right after `EAGAIN` from a syscall on the fd, in the same
    /// step (the contract of `wait_*_after_would_block`). A checkpoint.
    async fn wait_after_again(&self, write: bool) -> Result<()> {
        let fd = self.raw()?;
        if self.armed.get() {
            return if write {
                wait_writable_after_would_block(fd).await
            } else {
                wait_readable_after_would_block(fd).await
            };
        }
        let r = if write {
            wait_writable(fd).await
        } else {
            wait_readable(fd).await
        };
        self.armed.set(r.is_ok());
        r
    }

    fn close(&self) {
        if let Some(fd) = self.fd.borrow_mut().take() {
            notify_closing(fd.as_raw_fd());
            drop(fd);
        }
    }

    fn take(&self) -> Option<OwnedFd> {
        let fd = self.fd.borrow_mut().take()?;
        notify_closing(fd.as_raw_fd());
        Some(fd)
    }
}

impl Drop for FdHolder {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writing end of a pipe (a child's stdin, or one end of [`pipe`]).
///
/// Dropping it closes the fd at once; the reader then sees end of stream.
#[derive(Debug)]
pub struct PipeSendStream {
    holder: FdHolder,
}

/// The reading end of a pipe (a child's stdout or stderr, or one end of [`pipe`]).
#[derive(Debug)]
pub struct PipeReceiveStream {
    holder: FdHolder,
}

impl PipeSendStream {
    /// Wraps the write end of a pipe (or any fd that supports non-blocking writes) and
    /// sets it non-blocking.
    pub fn new(fd: OwnedFd) -> Result<Self> {
        Ok(PipeSendStream {
            holder: FdHolder::new(fd, "another task is already sending on this pipe")?,
        })
    }

    /// The raw fd, or `None` once closed.
    pub fn as_raw_fd(&self) -> Option<RawFd> {
        self.holder.raw().ok()
    }

    /// Takes the fd out (still non-blocking), leaving this stream closed.
    pub fn into_owned_fd(self) -> Option<OwnedFd> {
        self.holder.take()
    }
}

impl PipeReceiveStream {
    /// Wraps the read end of a pipe (or any fd that supports non-blocking reads) and sets
    /// it non-blocking.
    pub fn new(fd: OwnedFd) -> Result<Self> {
        Ok(PipeReceiveStream {
            holder: FdHolder::new(fd, "another task is already receiving from this pipe")?,
        })
    }

    /// The raw fd, or `None` once closed.
    pub fn as_raw_fd(&self) -> Option<RawFd> {
        self.holder.raw().ok()
    }

    /// Takes the fd out (still non-blocking), leaving this stream closed.
    pub fn into_owned_fd(self) -> Option<OwnedFd> {
        self.holder.take()
    }
}

fn broken(e: Errno, what: &'static str) -> Error {
    Error::with_source(ErrorKind::BrokenResource, what, io::Error::from(e))
}

impl AsyncResource for PipeSendStream {
    /// Closes the fd (tasks blocked on it wake with `ClosedResource`), then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.holder.close();
        checkpoint().await
    }
}

impl AsyncResource for PipeReceiveStream {
    /// Closes the fd (tasks blocked on it wake with `ClosedResource`), then checkpoints.
    async fn aclose(&self) -> Result<()> {
        self.holder.close();
        checkpoint().await
    }
}

impl SendStream for PipeSendStream {
    async fn send_all(&self, data: &[u8]) -> Result<()> {
        let _busy = self.holder.enter()?;
        self.holder.raw()?; // closed: an error even for empty data
        checkpoint_if_cancelled().await?;
        let mut sent = 0;
        while sent < data.len() {
            match self
                .holder
                .with_fd(|fd| rustix::io::write(fd, &data[sent..]))?
            {
                Ok(n) => sent += n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => self.holder.wait_after_again(true).await?,
                Err(Errno::PIPE) => {
                    return Err(broken(
                        Errno::PIPE,
                        "the reading end of the pipe was closed",
                    ))
                }
                Err(e) => return Err(broken(e, "writing to the pipe failed")),
            }
        }
        cancel_shielded_checkpoint().await;
        Ok(())
    }

    async fn wait_send_all_might_not_block(&self) -> Result<()> {
        let _busy = self.holder.enter()?;
        wait_writable(self.holder.raw()?).await
    }
}

impl ReceiveStream for PipeReceiveStream {
    async fn receive_some(&self, buf: &mut [u8]) -> Result<usize> {
        if buf.is_empty() {
            return Err(Error::msg("receive_some needs a non-empty buffer"));
        }
        let _busy = self.holder.enter()?;
        checkpoint_if_cancelled().await?;
        loop {
            match self.holder.with_fd(|fd| rustix::io::read(fd, &mut *buf))? {
                Ok(n) => {
                    cancel_shielded_checkpoint().await;
                    return Ok(n);
                }
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => self.holder.wait_after_again(false).await?,
                Err(e) => return Err(broken(e, "reading from the pipe failed")),
            }
        }
    }
}
