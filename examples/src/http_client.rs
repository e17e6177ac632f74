//! The hyper HTTP client example: one HTTP/1.1 request with hyper's low-level client
//! (`client::conn::http1`) over a trio-net TCP stream.
//!
//! The connection future runs as a task in a nursery (where `tokio::spawn` would put it),
//! under [`cancellable`] (its socket is polled directly by [`TrioIo`], so only that
//! bridge lets a trio cancellation reach it); when the response body has been read,
//! dropping the request sender ends the connection and the nursery closes. Cancelling
//! the caller's scope ends the connection task, which ends hyper's other futures; the
//! error then comes back as `Cancelled`.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use trio_core::{checkpoint_if_cancelled, open_nursery, Error, ErrorKind, Result};
use url::Url;

use crate::graceful::cancellable;
use crate::hyper_rt::{hyper_error, TrioIo};

/// A fetched response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The HTTP status code.
    pub status: u16,
    /// Header names and values (values lossily decoded).
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Bytes,
}

/// Maps a hyper error to trio's, reporting `Cancelled` if that is what caused it.
async fn check<T>(r: std::result::Result<T, hyper::Error>) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => {
            checkpoint_if_cancelled().await?;
            Err(hyper_error(e))
        }
    }
}

/// GETs `url` (http only) with hyper and returns the whole response.
pub async fn fetch(url: &Url) -> Result<Fetched> {
    if url.scheme() != "http" {
        return Err(Error::new(
            ErrorKind::Other,
            format!("http_client: only http:// URLs are supported, not {url}"),
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Error::new(ErrorKind::Other, format!("no host in {url}")))?
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let stream =
        trio_net::open_tcp_stream(host.trim_matches(|c| c == '[' || c == ']'), port).await?;
    let fetched = open_nursery(|nursery| async move {
        let io = TrioIo::new(stream, &nursery);
        let (mut sender, conn) = check(hyper::client::conn::http1::handshake(io).await).await?;
        nursery.start_soon(async move { check(cancellable(conn).await?).await });
        let req = Request::get(target)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::USER_AGENT, "trio-rs-hyper-client/0.1")
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::with_source(ErrorKind::Other, "bad request", e))?;
        let resp = check(sender.send_request(req).await).await?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = check(resp.into_body().collect().await).await?.to_bytes();
        // Dropping the sender lets the connection task finish.
        drop(sender);
        Ok(Fetched {
            status,
            headers,
            body,
        })
    })
    .await?;
    fetched.ok_or_else(Error::cancelled)
}
