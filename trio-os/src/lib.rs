//! # trio-os: subprocesses, signals, pipes and async files for trio-rs
//!
//! What a process supervisor needs, with Trio's semantics, on trio-core's reactor.
//!
//! # Model
//!
//! * [`run_process`] runs a [`Command`] to completion: stdin fed from bytes (empty by
//!   default), stdout/stderr captured on request, and `check` on by default (an
//!   unsuccessful exit is an error holding a [`CalledProcessError`]). If it is cancelled,
//!   the child gets SIGTERM, then SIGKILL after a grace period (5 s by default), and is
//!   reaped before the cancellation propagates: no orphan, no zombie.
//! * [`open_process`] starts a [`Process`] and returns at once. Its piped stdin/stdout/
//!   stderr are trio streams ([`PipeSendStream`], [`PipeReceiveStream`]); `wait` blocks on
//!   a pidfd (Linux) or a helper thread, and several tasks may wait at once. Dropping a
//!   running `Process` kills and reaps its child.
//! * [`open_signal_receiver`] catches signals until the receiver is dropped, then restores
//!   what was there before; `receive` works in any run on any thread. Repeated signals
//!   coalesce, as in Trio. Use it for graceful shutdown on SIGINT/SIGTERM.
//! * Files: [`open_file`] gives an [`AsyncFile`] whose I/O runs on worker threads
//!   (disk I/O never blocks the loop), and [`fs`] has async versions of common helpers.
//!
//! Every async operation is a checkpoint; cancelling one that waits (a `wait`, a
//! `receive_some`, a signal `receive`) has no effect on the child, pipe or queue.
//!
//! ```
//! use std::process::Stdio;
//! use trio_core::{open_nursery, ReceiveStream, Result};
//! use trio_os::{open_process, run_process, Command};
//!
//! fn main() -> Result<()> {
//!     trio_core::run(|| async {
//!         let done = run_process(Command::new("echo").arg("hello").capture_stdout(true)).await?;
//!         assert_eq!(done.stdout, b"hello\n");
//!
//!         // Several children at once, each in its own task.
//!         open_nursery(|nursery| async move {
//!             for i in 0..3 {
//!                 nursery.start_soon(async move {
//!                     let mut p = open_process(Command::new("sh")
//!                         .args(["-c", &format!("echo {i}")]).stdout(Stdio::piped())).await?;
//!                     let out = p.stdout.take().unwrap();
//!                     let mut buf = [0u8; 16];
//!                     let n = out.receive_some(&mut buf).await?;
//!                     assert_eq!(&buf[..n], format!("{i}\n").as_bytes());
//!                     assert!(p.wait().await?.success());
//!                     Ok(())
//!                 });
//!             }
//!             Ok(())
//!         })
//!         .await?;
//!         Ok(())
//!     })
//! }
//! ```

#![deny(unsafe_code)] // allowed only in sys.rs, at the OS boundary
#![warn(missing_docs)]
#![cfg(unix)]

mod command;
mod file;
pub mod fs;
mod pipe;
mod process;
mod run_process;
mod signal;
#[allow(unsafe_code)]
mod sys;

pub use command::{Command, DEFAULT_KILL_GRACE};
pub use file::{open_file, AsyncFile};
pub use pipe::{pipe, PipeReceiveStream, PipeSendStream};
#[doc(hidden)]
pub use process::force_thread_wait_fallback;
pub use process::{open_process, Process};
pub use run_process::{run_process, CalledProcessError, CompletedProcess};
pub use signal::{
    open_signal_receiver, raise_signal, SignalReceiver, SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGUSR1,
    SIGUSR2,
};
