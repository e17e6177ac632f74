//! # trio-examples: the programs users bring, on trio-rs
//!
//! The example programs' logic (the binaries in `examples/` are thin command-line
//! wrappers, so the integration tests drive the same code) and the glue they share:
//!
//! * [`spider`]: a web crawler (`CapacityLimiter`, `fail_after`, retries with back-off,
//!   a memory channel of results), with [`http_fetch`] (HTTP/1.1 parsed by `httparse`),
//!   [`http_pool`] (keep-alive connections) and [`robots`] (`robots.txt` rules);
//! * [`ws_chat`]: a websocket chat server (rooms, broadcast, slow clients disconnected);
//! * [`http_server`] / [`http_client`]: hyper 1.x serving and fetching over trio-net;
//! * [`hyper_rt`], [`hyper_timer`]: hyper's I/O traits over trio-net's `futures-io`
//!   adapter ([`trio_net::compat::Compat`], the I/O running in two pump tasks), hyper's
//!   executor and timer on trio, and a graceful HTTP/1.1 connection server;
//! * [`graceful`]: making poll-based futures cancellable, and graceful shutdown on a
//!   budget; [`shutdown`]: stopping a program on Ctrl-C / SIGTERM or after a time.
//!
//! # Model
//! Everything runs on one trio loop. Ecosystem protocol code (hyper, tungstenite) is
//! poll-based and never parks a trio task; the bytes move in pump tasks that live in the
//! caller's nursery, so cancelling a scope reaches the I/O, and closing is graceful
//! (`aclose`) whenever everything written was flushed.
//!
//! ```
//! use trio_examples::graceful::cancellable;
//! # fn main() -> trio_core::Result<()> {
//! trio_core::run(|| async {
//!     // A poll-based future that never completes, interrupted by a trio timeout.
//!     let r = trio_core::move_on_after(
//!         std::time::Duration::from_millis(10),
//!         cancellable(std::future::pending::<()>()),
//!     )
//!     .await?;
//!     assert!(r.is_none());
//!     Ok(())
//! })
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod graceful;
pub mod http_client;
pub mod http_fetch;
pub mod http_pool;
pub mod http_server;
pub mod hyper_rt;
pub mod hyper_timer;
pub mod robots;
pub mod shutdown;
pub mod spider;
pub mod ws_chat;
