//! `serve_listeners` and `serve_tcp`: accept loops that run a handler per connection
//! in a nursery, as Trio's.
//!
//! * One accept loop per listener. Each connection's handler runs as its own task in
//!   the handler nursery (by default, one owned by `serve_listeners`), and the stream
//!   is closed when the handler returns (it is moved into the handler, so it is dropped,
//!   which closes it).
//! * Handler errors are not caught: like any task's error, one crashes the server (the
//!   nursery cancels everything and the error comes out of `serve_listeners`). Catch
//!   inside the handler what should not stop the server.
//! * When `accept` fails for lack of resources (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`),
//!   the loop sleeps 100 ms and retries instead of spinning: the pending connection stays
//!   queued until some handler finishes and frees a descriptor. Other accept errors end
//!   the server.
//! * It runs until cancelled. Use it with `nursery.start(...)`: `started()` reports the
//!   listeners once every accept loop is running. The listeners are closed on the way out.

use std::future::Future;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    checkpoint, open_nursery, sleep, AsyncResource, CancelScope, Error, Listener, Nursery, Result,
    TaskStatus,
};

use crate::{open_tcp_listeners, SocketListener, SocketStream};

/// How long an accept loop pauses when the process or system is out of descriptors.
pub const ACCEPT_CAPACITY_BACKOFF: Duration = Duration::from_millis(100);

const ACCEPT_CAPACITY_ERRNOS: &[i32] = &[libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::ENOBUFS];

/// Serves TCP on `port` (0: a free one) of `host` (`None`: every interface): opens
/// the listeners with [`open_tcp_listeners`] and runs [`serve_listeners`] on them. Runs
/// until cancelled; `task_status.started()` reports the listeners.
///
/// ```
/// use trio_core::{open_nursery, ReceiveStream, SendStream};
/// use trio_net::{open_tcp_stream, serve_tcp, SocketStream};
///
/// async fn echo(stream: SocketStream) -> trio_core::Result<()> {
///     let mut buf = [0u8; 1024];
///     loop {
///         let n = stream.receive_some(&mut buf).await?;
///         if n == 0 {
///             return Ok(());
///         }
///         stream.send_all(&buf[..n]).await?;
///     }
/// }
///
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     open_nursery(|nursery| async move {
///         let listeners = nursery
///             .start(|status| serve_tcp(echo, 0, Some("127.0.0.1"), status))
///             .await?;
///         let port = listeners[0].local_addr()?.port();
///         let client = open_tcp_stream("127.0.0.1", port).await?;
///         client.send_all(b"hello").await?;
///         let mut buf = [0u8; 5];
///         let n = client.receive_some(&mut buf).await?;
///         assert_eq!(&buf[..n], b"hello");
///         nursery.cancel_scope().cancel(); // shut the server down
///         Ok(())
///     })
///     .await?;
///     Ok(())
/// })
/// # }
/// ```
pub async fn serve_tcp<H, Fut>(
    handler: H,
    port: u16,
    host: Option<&str>,
    task_status: TaskStatus<Vec<Rc<SocketListener>>>,
) -> Result<()>
where
    H: Fn(SocketStream) -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    let listeners = open_tcp_listeners(port, host).await?;
    serve_listeners(handler, listeners, None, task_status).await
}

/// Runs an accept loop on each of `listeners`, starting `handler(stream)` as a task in
/// `handler_nursery` (default: a nursery of its own) for every connection. Runs until
/// cancelled (it only ever returns an error); `task_status.started()` reports the
/// listeners, shared. See the module doc for the rules.
///
/// Generic over trio-core's [`Listener`], so it serves TLS listeners, Unix listeners and
/// test doubles alike.
pub async fn serve_listeners<L, H, Fut>(
    handler: H,
    listeners: Vec<L>,
    handler_nursery: Option<Nursery>,
    task_status: TaskStatus<Vec<Rc<L>>>,
) -> Result<()>
where
    L: Listener + 'static,
    L::Stream: 'static,
    H: Fn(L::Stream) -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    let listeners: Vec<Rc<L>> = listeners.into_iter().map(Rc::new).collect();
    let handler = Rc::new(handler);
    open_nursery(|nursery| async move {
        let handler_nursery = handler_nursery.unwrap_or_else(|| nursery.clone());
        for listener in &listeners {
            nursery.start_soon(serve_one(
                listener.clone(),
                handler_nursery.clone(),
                handler.clone(),
            ));
        }
        // The accept loops are queued; one more tick and every one of them is accepting.
        checkpoint().await?;
        task_status.started(listeners);
        Ok(())
    })
    .await?;
    // Only reached if every accept loop ended without error, which they never do; or if
    // the nursery's own scope was cancelled through a handle (treated as a stop).
    Ok(())
}

async fn serve_one<L, H, Fut>(
    listener: Rc<L>,
    handler_nursery: Nursery,
    handler: Rc<H>,
) -> Result<()>
where
    L: Listener + 'static,
    L::Stream: 'static,
    H: Fn(L::Stream) -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    let result = accept_loop(&*listener, &handler_nursery, &handler).await;
    // Trio's `async with listener`: closed on the way out, even when cancelled.
    aclose_forcefully(&*listener).await;
    result
}

async fn accept_loop<L, H, Fut>(
    listener: &L,
    handler_nursery: &Nursery,
    handler: &Rc<H>,
) -> Result<()>
where
    L: Listener,
    L::Stream: 'static,
    H: Fn(L::Stream) -> Fut + 'static,
    Fut: Future<Output = Result<()>> + 'static,
{
    loop {
        match listener.accept().await {
            Ok(stream) => {
                // The handler owns the stream; it is closed (dropped) when the handler ends.
                handler_nursery.start_soon(handler(stream));
            }
            Err(e) if is_capacity_error(&e) => sleep(ACCEPT_CAPACITY_BACKOFF).await?,
            Err(e) => return Err(e),
        }
    }
}

fn is_capacity_error(e: &Error) -> bool {
    e.io_error()
        .and_then(io::Error::raw_os_error)
        .is_some_and(|n| ACCEPT_CAPACITY_ERRNOS.contains(&n))
}

/// Closes `resource` without waiting (Trio's `aclose_forcefully`): `aclose` inside an
/// already cancelled scope. Errors are ignored; the resource ends up closed regardless.
pub async fn aclose_forcefully<R: AsyncResource + ?Sized>(resource: &R) {
    let scope = CancelScope::new();
    scope.handle().cancel();
    let _ = scope.run(resource.aclose()).await;
}
