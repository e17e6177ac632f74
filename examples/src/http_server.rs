//! The hyper HTTP server example: a small HTTP/1.1 service on trio-net's `serve_tcp`,
//! one [`serve_http1`] per connection.
//!
//! Routes: `GET /` greets; `POST /echo` returns the request body; `GET /slow?ms=N` sleeps
//! N ms on the trio clock first (a handler may use any trio operation); anything else is
//! 404. Cancelling the server's scope shuts every connection down gracefully (see
//! [`serve_http1`]): in-flight requests get their response within [`GRACE`].

use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use trio_core::{Result, TaskStatus};
use trio_net::SocketListener;

use crate::hyper_rt::serve_http1;

/// How long connections get to finish after the server is cancelled.
pub const GRACE: Duration = Duration::from_secs(2);

/// The greeting of `GET /`.
pub const GREETING: &str = "hello from hyper on trio-rs\n";

/// The request handler (a hyper service function).
pub async fn handle(
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r
    };
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => reply(StatusCode::OK, Bytes::from_static(GREETING.as_bytes())),
        (&Method::POST, "/echo") => match req.into_body().collect().await {
            Ok(body) => reply(StatusCode::OK, body.to_bytes()),
            Err(_) => reply(
                StatusCode::BAD_REQUEST,
                Bytes::from_static(b"unreadable body\n"),
            ),
        },
        (&Method::GET, "/slow") => {
            let ms = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("ms="))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(100);
            // A trio sleep inside a hyper handler: on the run's clock.
            match trio_core::sleep(Duration::from_millis(ms)).await {
                Ok(()) => reply(StatusCode::OK, Bytes::from(format!("slept {ms} ms\n"))),
                Err(_) => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Bytes::from_static(b"shutting down\n"),
                ),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    })
}

/// Serves [`handle`] on `port` of `host` until cancelled; `task_status.started()` reports
/// the listeners (use it with `nursery.start`).
pub async fn serve(
    port: u16,
    host: Option<&str>,
    task_status: TaskStatus<Vec<Rc<SocketListener>>>,
) -> Result<()> {
    trio_net::serve_tcp(
        |stream| serve_http1(stream, hyper::service::service_fn(handle), GRACE),
        port,
        host,
        task_status,
    )
    .await
}
