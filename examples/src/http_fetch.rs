//! A minimal HTTP/1.1 GET over any trio stream, for the spider: the request is written
//! by hand (it is one format string), the response is parsed by `httparse` (status line,
//! headers, chunk sizes).
//!
//! [`exchange`] asks for a persistent connection (HTTP/1.1's default) and says whether the
//! connection may carry another request ([`Response::reusable`]): only when the server
//! speaks HTTP/1.1, did not say `Connection: close`, delimited the body (length or
//! chunked) and sent nothing after it. A failure reports whether any byte of the response
//! had arrived ([`Failure::nothing_received`]): on a reused connection that is how a
//! request that hit a connection the server had already closed is told apart from a real
//! failure. [`get`] is the one-shot form (`Connection: close`).

use trio_core::{Error, ErrorKind, Result, Stream};

/// Responses larger than this are refused (a spider should not fill its memory).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Response heads larger than this are refused.
pub const MAX_HEAD: usize = 64 * 1024;

/// The `User-Agent` the spider sends, and the name it looks for in `robots.txt`.
pub const USER_AGENT: &str = "trio-rs-spider/0.1";

/// A received response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The minor HTTP version of the response: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// Whether the connection may carry another request (see the module doc).
    pub reusable: bool,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The decoded body (chunked transfer coding removed).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::BrokenResource,
        format!("bad HTTP response: {}", msg.into()),
    )
}

/// A failed [`exchange`].
#[derive(Debug)]
pub struct Failure {
    /// What went wrong (`Cancelled` if the caller's scope was cancelled).
    pub error: Error,
    /// No byte of the response had arrived: the request may never have reached the
    /// server's application (on a reused connection: the server had closed it).
    pub nothing_received: bool,
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        f.error
    }
}

/// Sends `GET target` with `Host: host` on `stream` and reads the whole response, asking
/// for `Connection: close`.
pub async fn get<S: Stream>(stream: &S, host: &str, target: &str) -> Result<Response> {
    Ok(exchange(stream, host, target, false).await?)
}

/// Sends `GET target` with `Host: host` on `stream` and reads the whole response. With
/// `keep_alive` the connection is left open for another request if the response allows it
/// ([`Response::reusable`]); without, the request says `Connection: close`.
pub async fn exchange<S: Stream>(
    stream: &S,
    host: &str,
    target: &str,
    keep_alive: bool,
) -> std::result::Result<Response, Failure> {
    let mut received = 0usize;
    let r = read_response(stream, host, target, keep_alive, &mut received).await;
    r.map_err(|error| Failure {
        error,
        nothing_received: received == 0,
    })
}

async fn read_response<S: Stream>(
    stream: &S,
    host: &str,
    target: &str,
    keep_alive: bool,
    received: &mut usize,
) -> Result<Response> {
    let connection = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n\
         Accept: text/html, */*\r\n{connection}\r\n"
    );
    stream.send_all(request.as_bytes()).await?;

    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut eof = false;
    // 1. The head.
    let (status, version, headers, head_len) = loop {
        if !buf.is_empty() {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut hs);
            match resp.parse(&buf).map_err(|e| bad(e.to_string()))? {
                httparse::Status::Complete(n) => {
                    let status = resp.code.ok_or_else(|| bad("no status code"))?;
                    let headers = resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect::<Vec<_>>();
                    break (status, resp.version.unwrap_or(0), headers, n);
                }
                httparse::Status::Partial => {}
            }
        }
        if eof {
            return Err(bad("connection closed before the end of the head"));
        }
        if buf.len() > MAX_HEAD {
            return Err(bad("head too large"));
        }
        eof = read_more(stream, &mut buf, &mut chunk).await?;
        *received = buf.len();
    };
    buf.drain(..head_len);
    let closes = headers.iter().any(|(n, v)| {
        n == "connection" && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
    });
    let mut resp = Response {
        status,
        version,
        // Settled below, once the body turns out to be delimited.
        reusable: keep_alive && version >= 1 && !closes,
        headers,
        body: Vec::new(),
    };

    // 2. The body: chunked, by length, or up to end of stream.
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        loop {
            match httparse::parse_chunk_size(&buf) {
                Ok(httparse::Status::Complete((n, size))) => {
                    let size = usize::try_from(size).map_err(|_| bad("chunk too large"))?;
                    if resp.body.len() + size > MAX_BODY {
                        return Err(bad("body too large"));
                    }
                    // Wait for the chunk and its CRLF.
                    while buf.len() < n + size + 2 {
                        if eof {
                            return Err(bad("connection closed inside a chunk"));
                        }
                        eof = read_more(stream, &mut buf, &mut chunk).await?;
                    }
                    if &buf[n + size..n + size + 2] != b"\r\n" {
                        return Err(bad("chunk not followed by CRLF"));
                    }
                    resp.body.extend_from_slice(&buf[n..n + size]);
                    buf.drain(..n + size + 2);
                    if size == 0 {
                        // Trailers were refused above (the CRLF check); bytes after the
                        // body would be a response nobody asked for.
                        resp.reusable &= buf.is_empty();
                        return Ok(resp);
                    }
                }
                Ok(httparse::Status::Partial) => {
                    if eof {
                        return Err(bad("connection closed before a chunk size"));
                    }
                    eof = read_more(stream, &mut buf, &mut chunk).await?;
                }
                Err(_) => return Err(bad("invalid chunk size")),
            }
        }
    }
    let length = match resp.header("content-length") {
        Some(v) => Some(
            v.trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("invalid Content-Length {v:?}")))?,
        ),
        None => None,
    };
    if length.is_some_and(|n| n > MAX_BODY) {
        return Err(bad("body too large"));
    }
    let no_body = status / 100 == 1 || status == 204 || status == 304;
    let want = if no_body { Some(0) } else { length };
    // A body that runs to the end of the stream leaves no connection to reuse.
    resp.reusable &= want.is_some();
    loop {
        match want {
            Some(n) if buf.len() >= n => {
                resp.reusable &= buf.len() == n;
                buf.truncate(n);
                break;
            }
            _ => {}
        }
        if eof {
            if want.is_some() {
                return Err(bad("connection closed before the end of the body"));
            }
            break;
        }
        if buf.len() > MAX_BODY {
            return Err(bad("body too large"));
        }
        eof = read_more(stream, &mut buf, &mut chunk).await?;
    }
    resp.body = buf;
    Ok(resp)
}

/// Appends what the stream has; returns true at end of stream.
async fn read_more<S: Stream>(stream: &S, buf: &mut Vec<u8>, chunk: &mut [u8]) -> Result<bool> {
    let n = stream.receive_some(chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n == 0)
}
