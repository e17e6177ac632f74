//! # trio-core: structured concurrency for Rust
//!
//! Trio's model of concurrency, as an async I/O runtime: a single-threaded run loop whose
//! tasks live in **nurseries**, whose timeouts are **cancel scopes**, and whose every
//! blocking operation is a **checkpoint**.
//!
//! # Model
//!
//! * [`run`] starts one loop on the current thread (one thread, one loop, one poller) and
//!   returns when the main task *and every task it spawned* have finished. Tasks need not
//!   be `Send`.
//! * A task can only be spawned into a [`Nursery`], opened with [`open_nursery`]. The
//!   nursery does not return until its body and all its children are done; when one fails,
//!   the others are cancelled, and the error comes back (several as a group). No task
//!   outlives the block that started it; no error is dropped.
//! * A [`CancelScope`] is a block that can be cancelled, given a deadline, or shielded.
//!   Cancellation is level-triggered and lands only at checkpoints, as an ordinary
//!   `Err` whose [`Error::is_cancelled`] is true, so `?` propagates it and async cleanup
//!   still runs. The outermost cancelled scope absorbs it: [`move_on_after`] gives
//!   `Ok(None)`, [`fail_after`] an error of kind [`ErrorKind::TooSlow`]. Dropping a future
//!   is never the cancellation mechanism.
//! * Every async operation of trio-rs checkpoints: it checks for cancellation and lets
//!   other tasks run, even when it could finish at once. A cancelled operation had no
//!   effect; a completed one is never reported as cancelled.
//! * Time is the run's [`Clock`] ([`Instant`]), so a mock clock can drive every sleep,
//!   deadline and I/O timeout in tests.
//!
//! ```
//! use std::time::Duration;
//! use trio_core::{open_nursery, sleep, move_on_after, Result};
//!
//! fn main() -> Result<()> {
//!     trio_core::run(|| async {
//!         let done = open_nursery(|nursery| async move {
//!             for i in 1..=3u64 {
//!                 nursery.start_soon(async move {
//!                     sleep(Duration::from_millis(i)).await?;
//!                     println!("task {i} woke up");
//!                     Ok(())
//!                 });
//!             }
//!             Ok("all joined")
//!         })
//!         .await?;
//!         assert_eq!(done, Some("all joined"));
//!
//!         // A timeout is a scope: the body is cancelled at its next checkpoint.
//!         let r = move_on_after(Duration::from_millis(5), sleep(Duration::from_secs(60))).await?;
//!         assert!(r.is_none());
//!         Ok(())
//!     })
//! }
//! ```
//!
//! The crates above this one bring the rest: `trio-sync` (locks, channels, threads),
//! `trio-net` (sockets), `trio-tls`, `trio-os` (processes, signals, files) and
//! `trio-testing` (mock clock, memory streams, conformance suites).

#![deny(unsafe_code)] // allowed only in reactor.rs, at the OS boundary
#![warn(missing_docs)]

mod cancel;
mod checkpoint;
mod clock;
mod conflict;
mod context;
mod deadline;
mod entry_queue;
mod error;
mod instrument;
mod int_hash;
mod local;
mod nursery;
mod parking_lot;
#[allow(unsafe_code)]
mod reactor;
mod run;
mod scope_future;
mod stream;
mod task;
mod timeout;

pub mod lowlevel;

pub use cancel::{CancelHandle, CancelScope};
pub use checkpoint::{cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled};
pub use clock::{Clock, Instant, SystemClock};
pub use error::{misuse, Error, ErrorKind, Result, StdErrorAdapter};
pub use nursery::{open_nursery, Nursery, TaskStatus};
pub use run::{run, Runner};
pub use stream::{
    AsyncResource, HalfCloseableStream, Listener, ReceiveStream, SendStream, StapledStream, Stream,
};
pub use timeout::{
    current_effective_deadline, current_time, fail_after, fail_at, move_on_after, move_on_at,
    sleep, sleep_forever, sleep_until,
};
