//! # trio-sync: Trio's synchronization primitives, memory channels and threads
//!
//! What you get: [`Event`], [`Lock`], [`StrictFIFOLock`], [`Semaphore`],
//! [`CapacityLimiter`], [`Condition`], memory channels ([`open_memory_channel`],
//! [`open_unbounded_memory_channel`]), and thread offloading ([`to_thread`],
//! [`from_thread`]).
//!
//! # Model
//!
//! * Everything here belongs to one trio run (the primitives are `!Send`; share them
//!   between tasks with `Rc`, or clone the handle types). They are built only on
//!   `trio_core::lowlevel`: a blocked task parks in a fair FIFO queue with an abort
//!   function, and whoever frees the resource hands it *directly* to the longest waiter,
//!   so a releasing task can never barge back in ahead of the queue.
//! * Every `async` operation is a checkpoint (it checks for cancellation and yields, even
//!   when it could finish at once); `try_*` operations never yield and fail with
//!   `WouldBlock`; releasing, setting, notifying and closing never block.
//! * Cancel safety: a cancelled operation had no effect. A cancelled `send` delivered
//!   nothing and hands the item back in its [`SendError`]; a cancelled `receive` took
//!   nothing; a cancelled `acquire` holds nothing. An operation that completed before
//!   its cancellation could take effect (the item or lock was already handed over)
//!   reports success, so nothing is lost or duplicated.
//! * Channels close per handle: when every sender is closed, receivers drain the buffer
//!   and then get `EndOfChannel`; when every receiver is closed, senders get
//!   `BrokenResource`; a closed handle answers `ClosedResource`.
//! * [`to_thread::run_sync`] runs blocking code on reused worker threads, at most 40 at
//!   once per run by default; [`from_thread`] lets those threads call back into the loop.
//!
//! ```
//! use trio_core::{open_nursery, ErrorKind, Result};
//! use trio_sync::open_memory_channel;
//!
//! fn main() -> Result<()> {
//!     trio_core::run(|| async {
//!         let (tx, rx) = open_memory_channel::<u64>(8);
//!         open_nursery(|nursery| async move {
//!             for id in 0..3u64 {
//!                 let tx = tx.clone(); // each producer owns a handle
//!                 nursery.start_soon(async move {
//!                     tx.send(id * id).await?; // a cancelled send would give the item back
//!                     Ok(())
//!                 });
//!             }
//!             drop(tx); // the channel ends when the last sender closes
//!             let mut total = 0;
//!             loop {
//!                 match rx.receive().await {
//!                     Ok(v) => total += v,
//!                     Err(e) if e.kind() == ErrorKind::EndOfChannel => break,
//!                     Err(e) => return Err(e),
//!                 }
//!             }
//!             assert_eq!(total, 0 + 1 + 4);
//!             Ok(())
//!         })
//!         .await?;
//!         Ok(())
//!     })
//! }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod capacity_limiter;
mod channel;
mod channel_state;
mod condition;
mod event;
pub mod from_thread;
mod lock;
mod semaphore;
mod thread_cache;
pub mod to_thread;

pub use capacity_limiter::{Borrower, CapacityLimiter, CapacityLimiterStatistics};
pub use channel::{
    open_memory_channel, open_unbounded_memory_channel, MemoryChannelStatistics,
    MemoryReceiveChannel, MemorySendChannel, SendError,
};
pub use condition::{Condition, ConditionStatistics};
pub use event::{Event, EventStatistics};
pub use lock::{Lock, LockGuard, LockStatistics, StrictFIFOLock};
pub use semaphore::{Semaphore, SemaphoreStatistics};

/// The messages of misuse errors, quoted verbatim so code and tests can match them.
pub mod misuse {
    pub use crate::capacity_limiter::{BORROWER_ALREADY_HOLDS, BORROWER_HOLDS_NOTHING};
    pub use crate::condition::{CONDITION_FOREIGN_GUARD, CONDITION_LOCK_NOT_HELD};
    pub use crate::from_thread::{CHECK_CANCELLED_OUTSIDE_WORKER, FROM_THREAD_ON_LOOP_THREAD};
    pub use crate::lock::{REACQUIRE_OWN_LOCK, RELEASE_UNHELD_LOCK};
    pub use crate::semaphore::SEMAPHORE_OVER_RELEASE;
}
