//! The spider's connections: HTTP/1.1 keep-alive with a small pool of idle connections
//! per origin (scheme, host, port).
//!
//! [`Pool::get`] performs one GET: on the most recently used idle connection of the
//! URL's origin if there is one, else on a new one (TCP, plus TLS for `https`). Afterwards
//! the connection goes back to the pool only if the response allows it
//! ([`http_fetch::Response::reusable`]: HTTP/1.1, no `Connection: close`, a delimited body)
//! and the pool has room (at most [`PoolConfig::max_idle_per_origin`]); otherwise it is
//! closed. A failed or cancelled request (a read error, a time-out) **retires** its
//! connection: it is closed, never reused.
//!
//! Servers close idle connections when they like, so a request on a reused connection
//! can find it dead. When such a request fails before any byte of a response arrived, the
//! server never processed it: [`Pool::get`] then closes that connection and sends the
//! request once more on a new connection, within the same call (for the spider: the same
//! attempt, not a retry of the page). Idle connections older than
//! [`PoolConfig::idle_timeout`] are closed instead of reused, which makes that rarer.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use trio_core::{current_time, move_on_after, AsyncResource, Error, ErrorKind, Instant, Result};
use trio_net::SocketStream;
use trio_tls::{rustls, TlsStream};
use url::Url;

use crate::http_fetch::{self, Failure, Response};

/// How the pool behaves.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Idle connections kept per origin; 0 turns keep-alive off (`Connection: close`).
    pub max_idle_per_origin: usize,
    /// Idle connections older than this are closed rather than reused.
    pub idle_timeout: Duration,
    /// TLS client configuration for `https` (default: Mozilla's root certificates).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for PoolConfig {
    /// 10 idle connections per origin, idle for at most 4 s, Mozilla's roots.
    fn default() -> Self {
        PoolConfig {
            max_idle_per_origin: 10,
            idle_timeout: Duration::from_secs(4),
            tls: None,
        }
    }
}

/// What the pool did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections opened (TCP connects).
    pub opened: usize,
    /// Requests sent on a connection that had carried one before.
    pub reused: usize,
    /// Requests resent on a new connection because the reused one had been closed by
    /// the server.
    pub stale_retries: usize,
}

impl fmt::Display for PoolStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connections opened: {}, requests on reused connections: {}, \
             resent after a stale connection: {}",
            self.opened, self.reused, self.stale_retries
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

enum Conn {
    Tcp(SocketStream),
    // Boxed: a TLS session is much larger than a socket.
    Tls(Box<TlsStream<SocketStream>>),
}

impl Conn {
    async fn exchange(
        &self,
        host: &str,
        target: &str,
        keep_alive: bool,
    ) -> std::result::Result<Response, Failure> {
        match self {
            Conn::Tcp(s) => http_fetch::exchange(s, host, target, keep_alive).await,
            Conn::Tls(s) => http_fetch::exchange(&**s, host, target, keep_alive).await,
        }
    }

    /// Closes gracefully (TLS: close_notify), but never for long: a slow close must not
    /// eat a request's deadline. Cancelled or not, the connection is closed afterwards.
    async fn close(self) {
        let budget = Duration::from_millis(100);
        let _ = match &self {
            Conn::Tcp(s) => move_on_after(budget, s.aclose()).await,
            Conn::Tls(s) => move_on_after(budget, s.aclose()).await,
        };
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Keep-alive connections, shared by the tasks of one trio run (`Rc<Pool>`).
pub struct Pool {
    config: PoolConfig,
    idle: RefCell<HashMap<Origin, Vec<Idle>>>,
    opened: Cell<usize>,
    reused: Cell<usize>,
    stale_retries: Cell<usize>,
}

impl Pool {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Self {
        Pool {
            config,
            idle: RefCell::new(HashMap::new()),
            opened: Cell::new(0),
            reused: Cell::new(0),
            stale_retries: Cell::new(0),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            opened: self.opened.get(),
            reused: self.reused.get(),
            stale_retries: self.stale_retries.get(),
        }
    }

    /// How many idle connections the pool holds.
    pub fn idle_connections(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }

    /// GETs `url` (http or https) and reads the whole response, reusing an idle
    /// connection when there is one (see the module doc). Cancel-safe in Trio's sense: a
    /// cancelled request retires its connection.
    pub async fn get(&self, url: &Url) -> Result<Response> {
        let origin = origin_of(url)?;
        let host_header = match url.port() {
            Some(p) => format!("{}:{p}", origin.host_for_header()),
            None => origin.host_for_header(),
        };
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let keep_alive = self.config.max_idle_per_origin > 0;
        if let Some(conn) = self.checkout(&origin).await {
            self.reused.set(self.reused.get() + 1);
            match conn.exchange(&host_header, &target, keep_alive).await {
                Ok(resp) => {
                    self.checkin(origin, conn, &resp).await;
                    return Ok(resp);
                }
                Err(f) if f.nothing_received && !f.error.is_cancelled() => {
                    // The server had closed it while idle: resend on a new connection.
                    self.stale_retries.set(self.stale_retries.get() + 1);
                    conn.close().await;
                }
                Err(f) => {
                    conn.close().await;
                    return Err(f.error);
                }
            }
        }
        let conn = self.connect(&origin).await?;
        match conn.exchange(&host_header, &target, keep_alive).await {
            Ok(resp) => {
                self.checkin(origin, conn, &resp).await;
                Ok(resp)
            }
            Err(f) => {
                conn.close().await;
                Err(f.error)
            }
        }
    }

    /// Closes every idle connection (gracefully, briefly). The pool stays usable.
    pub async fn close_idle(&self) {
        let all: Vec<Idle> = self
            .idle
            .borrow_mut()
            .drain()
            .flat_map(|(_, v)| v)
            .collect();
        for idle in all {
            idle.conn.close().await;
        }
    }

    /// The most recently used idle connection of `origin`, closing the expired ones.
    async fn checkout(&self, origin: &Origin) -> Option<Conn> {
        let now = current_time();
        let (fresh, expired) = {
            let mut idle = self.idle.borrow_mut();
            let list = idle.get_mut(origin)?;
            // Oldest first: the expired ones are a prefix.
            let n = list
                .iter()
                .take_while(|i| now - i.since > self.config.idle_timeout)
                .count();
            let expired: Vec<Idle> = list.drain(..n).collect();
            (list.pop(), expired)
        };
        for idle in expired {
            idle.conn.close().await;
        }
        fresh.map(|i| i.conn)
    }

    async fn checkin(&self, origin: Origin, conn: Conn, resp: &Response) {
        if resp.reusable {
            let mut idle = self.idle.borrow_mut();
            let list = idle.entry(origin).or_default();
            if list.len() < self.config.max_idle_per_origin {
                list.push(Idle {
                    conn,
                    since: current_time(),
                });
                return;
            }
        }
        conn.close().await;
    }

    async fn connect(&self, origin: &Origin) -> Result<Conn> {
        let tcp = trio_net::open_tcp_stream(&origin.host, origin.port).await?;
        self.opened.set(self.opened.get() + 1);
        if !origin.tls {
            return Ok(Conn::Tcp(tcp));
        }
        let tls_config = match &self.config.tls {
            Some(c) => c.clone(),
            None => default_tls_config(),
        };
        let name = trio_tls::ServerName::try_from(origin.host.clone()).map_err(|e| {
            Error::with_source(ErrorKind::Other, format!("bad TLS name {}", origin.host), e)
        })?;
        let tls = TlsStream::client(tcp, tls_config, name)?.https_compatible(true);
        Ok(Conn::Tls(Box::new(tls)))
    }
}

impl Origin {
    /// IPv6 addresses go back into brackets for the `Host` header.
    fn host_for_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

fn origin_of(url: &Url) -> Result<Origin> {
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => {
            return Err(Error::new(
                ErrorKind::Other,
                format!("unsupported scheme {other:?} in {url}"),
            ))
        }
    };
    let host = url
        .host_str()
        .ok_or_else(|| Error::new(ErrorKind::Other, format!("no host in {url}")))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Error::new(ErrorKind::Other, format!("no port for {url}")))?;
    Ok(Origin {
        tls,
        // `host_str` keeps IPv6 brackets; the resolver wants them off.
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    })
}

fn default_tls_config() -> Arc<rustls::ClientConfig> {
    thread_local! {
        static CONFIG: Arc<rustls::ClientConfig> = {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            Arc::new(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
            )
        };
    }
    CONFIG.with(Clone::clone)
}
