//! # Testing your code
//!
//! A guide to testing trio-rs code with this crate: deterministic time, waiting for
//! "everything has settled", forcing an order between tasks, checking checkpoints,
//! in-memory networks and conformance suites for your own streams. (This module holds
//! documentation only.)
//!
//! ## 1. Write the test as an `async fn`
//!
//! `#[trio_testing::test]` runs an `async fn() -> trio_core::Result<()>` on a fresh run;
//! an `Err` fails the test and prints the error with its causes, so use `?` freely.
//! Almost every test wants `#[trio_testing::test(autojump)]`: the run's clock is a
//! [`MockClock`](crate::MockClock) that jumps to the next deadline whenever every task is
//! blocked, so timeouts cost no real time and happen at exact, repeatable instants.
//!
//! ```
//! use std::time::Duration;
//! use trio_core::{fail_after, sleep_forever, ErrorKind, Result};
//!
//! #[trio_testing::test(autojump)]
//! async fn a_stuck_operation_times_out() -> Result<()> {
//!     let err = fail_after(Duration::from_secs(30), sleep_forever()).await.unwrap_err();
//!     assert_eq!(err.kind(), ErrorKind::TooSlow); // instantly, at exactly t = 30 s
//!     Ok(())
//! }
//! ```
//!
//! Prefer functions? [`run_autojump`](crate::run_autojump) and
//! [`run_with_mock_clock`](crate::run_with_mock_clock) do the same and return the
//! result. (Examples below use them so they run as doctests.)
//!
//! ## 2. Control time
//!
//! Virtual time starts at [`Instant::ZERO`](trio_core::Instant::ZERO). With autojump,
//! a sleep of `d` started at `t` ends at exactly `t + d`, so assert on
//! [`current_time`](trio_core::current_time) directly. Without autojump
//! (`#[trio_testing::test(mock_clock)]`, or `MockClock::new()`), time moves only when you
//! call [`jump`](crate::MockClock::jump), which lets a test stop *between* two deadlines.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use trio_core::{open_nursery, sleep, Result};
//! use trio_testing::wait_all_tasks_blocked;
//!
//! # fn main() -> Result<()> {
//! trio_testing::run_with_mock_clock(|clock| async move {
//!     let fired = Rc::new(Cell::new(false));
//!     let f = fired.clone();
//!     open_nursery(|n| async move {
//!         n.start_soon(async move {
//!             sleep(Duration::from_secs(10)).await?; // a "retry timer"
//!             f.set(true);
//!             Ok(())
//!         });
//!         wait_all_tasks_blocked().await?; // the timer is armed (at t = 0)
//!         clock.jump(Duration::from_secs(9));
//!         wait_all_tasks_blocked().await?;
//!         assert!(!fired.get()); // at t = 9 s it has not fired...
//!         clock.jump(Duration::from_secs(1));
//!         wait_all_tasks_blocked().await?;
//!         assert!(fired.get()); // ...at t = 10 s it has
//!         Ok(())
//!     })
//!     .await?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! `with_rate(r)` makes virtual time follow real time `r` times faster; useful when code
//! under test talks to a thread or process that takes real time.
//!
//! ## 3. Wait for things to settle, never sleep
//!
//! [`wait_all_tasks_blocked`](crate::wait_all_tasks_blocked) returns once every other
//! task is blocked: it is the precise version of "sleep a bit and hope the other task got
//! there". It runs before any autojump, so you see the state *before* time moves. Tasks
//! blocked on real I/O count as blocked; if the kernel or another thread may still wake
//! them, give a real-time cushion with
//! [`wait_all_tasks_blocked_with_cushion`](crate::wait_all_tasks_blocked_with_cushion).
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use trio_core::{open_nursery, sleep_forever, Result};
//! use trio_testing::wait_all_tasks_blocked;
//!
//! # fn main() -> Result<()> {
//! trio_testing::run_autojump(|| async {
//!     let started = Rc::new(Cell::new(0));
//!     let s = started.clone();
//!     open_nursery(|n| async move {
//!         for _ in 0..3 {
//!             let s = s.clone();
//!             n.start_soon(async move {
//!                 s.set(s.get() + 1);
//!                 sleep_forever().await?;
//!                 Ok(())
//!             });
//!         }
//!         wait_all_tasks_blocked().await?;
//!         assert_eq!(s.get(), 3); // every worker reached its wait
//!         n.cancel_scope().cancel();
//!         Ok(())
//!     })
//!     .await?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## 4. Force an interleaving
//!
//! A [`Sequencer`](crate::Sequencer) makes tasks pass numbered points in order, to
//! reproduce a race on purpose: `let _turn = seq.step(n).await?;` waits for step `n - 1`'s
//! guard to be dropped.
//!
//! ## 5. Check the checkpoint rules
//!
//! Every blocking trio-rs operation must checkpoint (even when it could finish at once),
//! and a purely synchronous helper must not. [`assert_checkpoints`](crate::assert_checkpoints)
//! and [`assert_no_checkpoints`](crate::assert_no_checkpoints) wrap a future and panic
//! otherwise:
//!
//! ```
//! use trio_testing::{assert_checkpoints, assert_no_checkpoints};
//! # fn main() -> trio_core::Result<()> {
//! trio_testing::run_autojump(|| async {
//!     let lot = trio_core::lowlevel::ParkingLot::new();
//!     assert_no_checkpoints(async { lot.unpark_all() }).await; // never blocks
//!     assert_checkpoints(trio_core::checkpoint()).await?;
//!     Ok(())
//! })
//! # }
//! ```
//!
//! To check cancel-safety, run the operation inside a cancelled
//! [`CancelScope`](trio_core::CancelScope) and assert it had no effect.
//!
//! ## 6. Fake networks
//!
//! [`memory_stream_pair`](crate::memory_stream_pair) gives two connected in-memory
//! streams: code written against the `trio_core` stream traits can be tested without
//! sockets. For control over delivery, build from the halves: a
//! [`MemorySendStream`](crate::MemorySendStream) buffers what is sent until you (or a
//! hook) move it with [`memory_stream_pump`](crate::memory_stream_pump); hooks let you
//! trickle bytes, delay them or fail a send. [`lockstep_stream_pair`](crate::lockstep_stream_pair)
//! has no buffer at all, so every send waits for the reader, which shakes out code that
//! assumes sends never block.
//!
//! ```
//! use trio_core::{ReceiveStream, Result, SendStream};
//! use trio_testing::{memory_stream_pump, MemoryReceiveStream, MemorySendStream};
//!
//! # fn main() -> Result<()> {
//! trio_testing::run_autojump(|| async {
//!     // A network that delivers one byte per send: exposes code that assumes a whole
//!     // message arrives in one receive_some.
//!     let send = std::rc::Rc::new(MemorySendStream::new());
//!     let receive = std::rc::Rc::new(MemoryReceiveStream::new());
//!     let (s, r) = (std::rc::Rc::downgrade(&send), receive.clone());
//!     send.set_send_all_hook(move || {
//!         let (s, r) = (s.upgrade(), r.clone());
//!         async move {
//!             if let Some(s) = s {
//!                 while memory_stream_pump(&s, &r, Some(1))? {}
//!             }
//!             Ok(())
//!         }
//!     });
//!     send.send_all(b"hello").await?;
//!     let mut buf = [0; 16];
//!     let n = receive.receive_some(&mut buf).await?;
//!     assert_eq!(&buf[..n], b"hello"); // pumped byte by byte, all buffered by now
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## 7. Check your own stream type
//!
//! If you implement the stream traits (a protocol wrapper, a new transport), run the
//! conformance suites on it: [`check_one_way_stream`](crate::check_one_way_stream),
//! [`check_two_way_stream`](crate::check_two_way_stream) and
//! [`check_half_closeable_stream`](crate::check_half_closeable_stream) each take a
//! *maker*, a closure returning a future of a fresh connected pair, and check ordering,
//! closing, `BusyResource`, cancellation, checkpoints and a large full-duplex transfer.
//! Give the `_clogged` variants a second maker whose pair blocks on send until the peer
//! reads, to also check `wait_send_all_might_not_block` and blocked-send behaviour. Run
//! them on an autojumping clock: a hang then fails at once, naming the check.
//!
//! ```
//! use trio_core::Result;
//! use trio_testing::{check_two_way_stream_clogged, lockstep_stream_pair};
//!
//! # fn main() -> Result<()> {
//! trio_testing::run_autojump(|| async {
//!     // Your stream would wrap a memory or lockstep pair, or real sockets.
//!     let maker = || async { Ok(lockstep_stream_pair()) };
//!     check_two_way_stream_clogged(maker, maker).await
//! })
//! # }
//! ```
//!
//! ## Pitfalls
//!
//! * Never sleep in real time in a test (CI's tidy check rejects `thread::sleep` in
//!   tests); use the mock clock and `wait_all_tasks_blocked`.
//! * `start_soon` only schedules: the child has not run when it returns. Call
//!   `wait_all_tasks_blocked` before jumping the clock or asserting on what the child
//!   did.
//! * Tasks are `'static`: share state with `Rc` (tasks need not be `Send`).
//! * A task blocks in one trio operation at a time; to wait on two, use a nursery.
//! * Autojump treats a task blocked on real I/O as idle: if a test mixes real sockets
//!   with timeouts, the clock may jump before the kernel delivers data that is still in
//!   flight. Loopback data written before the wait is safe; otherwise use
//!   `MockClock::with_rate` or a cushion.
