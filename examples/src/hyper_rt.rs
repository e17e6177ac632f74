//! hyper 1.x on trio-rs: the `rt` glue (I/O, executor, timer) and a graceful HTTP/1.1
//! connection server.
//!
//! * I/O: [`TrioIo`] implements `hyper::rt::Read`/`Write` over
//!   any trio stream (see `pump_io.rs` for why the I/O runs in pump tasks).
//! * [`TrioExecutor`]: hyper's `Executor`, spawning into a trio [`Nursery`], so every
//!   future hyper spawns (HTTP/2 streams, client connections) is joined by that nursery.
//!   Futures need not be `Send`.
//! * [`TrioTimer`] (in `hyper_timer.rs`): hyper's `Timer` on the run's clock, so a mock
//!   clock drives hyper's timeouts too.
//! * [`serve_http1`]: one HTTP/1.1 connection, served until the client leaves; if the
//!   caller's scope is cancelled, hyper's `graceful_shutdown` runs (in-flight requests
//!   finish, idle keep-alive connections close) with a `grace` budget.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::HttpService;
use trio_core::{open_nursery, Error, Nursery, Result, Stream};

use crate::graceful::with_grace;
pub use crate::hyper_timer::{timer_driver_running, TrioSleep, TrioTimer};
use crate::pump_io::TrioIo;

/// hyper's `Executor`: spawns into a trio nursery.
#[derive(Clone, Debug)]
pub struct TrioExecutor {
    nursery: Nursery,
}

impl TrioExecutor {
    /// Spawns every future hyper hands over into `nursery`.
    pub fn new(nursery: &Nursery) -> Self {
        TrioExecutor {
            nursery: nursery.clone(),
        }
    }
}

impl<F> hyper::rt::Executor<F> for TrioExecutor
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        self.nursery.start_soon(async move {
            fut.await;
            Ok(())
        });
    }
}

/// Converts a hyper error into a trio error, keeping it as the source.
pub fn hyper_error(e: hyper::Error) -> Error {
    Error::with_source(trio_core::ErrorKind::Other, "hyper", e)
}

/// Serves HTTP/1.1 on one connection until the client is done.
///
/// If the caller's scope is cancelled, the connection shuts down gracefully: a request in
/// flight gets its response (with `Connection: close`), an idle keep-alive connection is
/// closed at once, and after `grace` whatever is left is cancelled. Then this returns
/// `Err(Cancelled)` for the caller's scope to absorb.
pub async fn serve_http1<S, Svc, B>(stream: S, service: Svc, grace: Duration) -> Result<()>
where
    S: Stream + 'static,
    Svc: HttpService<Incoming, ResBody = B>,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    with_grace(grace, |shutdown| async move {
        let r = open_nursery(|pumps| async move {
            let io = TrioIo::new(stream, &pumps);
            let mut builder = hyper::server::conn::http1::Builder::new();
            // Pipelined requests get their responses in one flush (one pump round trip).
            builder.timer(TrioTimer).pipeline_flush(true);
            let mut conn = pin!(builder.serve_connection(io, service));
            let mut shutdown_seen = false;
            let mut wait = pin!(shutdown.wait());
            std::future::poll_fn(|cx| {
                if !shutdown_seen && wait.as_mut().poll(cx).is_ready() {
                    shutdown_seen = true;
                    conn.as_mut().graceful_shutdown();
                }
                conn.as_mut().poll(cx)
            })
            .await
            .map_err(hyper_error)
        })
        .await;
        match r {
            Ok(_) => Ok(()),
            // A connection reset or a client that vanished is the client's business, not
            // a server failure; cancellation keeps propagating.
            Err(e) if e.is_cancelled() => Err(e),
            Err(_) => {
                trio_core::checkpoint_if_cancelled().await?;
                Ok(())
            }
        }
    })
    .await
    .map(|_| ())
}
