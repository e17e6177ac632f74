//! Name resolution: [`getaddrinfo`] and the per-run [`HostnameResolver`] hook.
//!
//! Numeric hosts (`"127.0.0.1"`, `"::1"`, `"[::1]"`) are answered inline, without a
//! thread and without asking a custom resolver (as Trio). Other names go to the custom
//! resolver if one is installed, else to the system's `getaddrinfo` on a worker thread
//! (trio-sync's `to_thread`, abandoned on cancel: a cancelled lookup returns at once and
//! the thread finishes unobserved, since `getaddrinfo` itself cannot be interrupted).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;

use trio_core::lowlevel::RunVar;
use trio_core::{checkpoint, Error, ErrorKind, Result};

use crate::LocalBoxFuture;

/// Resolves host names for trio-net; install one per run with
/// [`set_custom_hostname_resolver`] to give tests a simulated DNS (Trio's
/// `HostnameResolver`).
///
/// ```
/// use std::net::SocketAddr;
/// use std::rc::Rc;
/// use trio_net::{getaddrinfo, set_custom_hostname_resolver, HostnameResolver, LocalBoxFuture};
///
/// struct Fixed;
/// impl HostnameResolver for Fixed {
///     fn getaddrinfo<'a>(&'a self, host: &'a str, port: u16)
///         -> LocalBoxFuture<'a, trio_core::Result<Vec<SocketAddr>>> {
///         Box::pin(async move {
///             trio_core::checkpoint().await?;
///             assert_eq!(host, "example.test");
///             Ok(vec![SocketAddr::from(([192, 0, 2, 1], port))])
///         })
///     }
/// }
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     set_custom_hostname_resolver(Some(Rc::new(Fixed)));
///     let addrs = getaddrinfo("example.test", 443).await?;
///     assert_eq!(addrs, vec![SocketAddr::from(([192, 0, 2, 1], 443))]);
///     Ok(())
/// })
/// # }
/// ```
pub trait HostnameResolver {
    /// The addresses of `host`, each with `port`, in preference order. A checkpoint.
    fn getaddrinfo<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>>>;
}

static RESOLVER: RunVar<Option<Rc<dyn HostnameResolver>>> =
    RunVar::new("trio_net.hostname_resolver");

/// Installs `resolver` for the rest of the current run (`None` restores the system
/// resolver) and returns the previous custom one. See [`HostnameResolver`].
///
/// # Panics
/// Outside a trio run.
pub fn set_custom_hostname_resolver(
    resolver: Option<Rc<dyn HostnameResolver>>,
) -> Option<Rc<dyn HostnameResolver>> {
    RESOLVER.set(resolver).flatten()
}

/// The addresses of `host` with `port`, for stream sockets, without duplicates. A
/// checkpoint. See the module doc for who answers.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let addrs = trio_net::getaddrinfo("127.0.0.1", 80).await?;
///     assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
///     Ok(())
/// })
/// # }
/// ```
pub async fn getaddrinfo(host: &str, port: u16) -> Result<Vec<SocketAddr>> {
    if let Some(ip) = parse_numeric(host) {
        checkpoint().await?;
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if host.is_empty() {
        checkpoint().await?;
        return Err(Error::new(ErrorKind::Other, "getaddrinfo: empty host name"));
    }
    let custom = RESOLVER.get().flatten();
    let found = match custom {
        Some(resolver) => resolver.getaddrinfo(host, port).await?,
        None => system_getaddrinfo(host.to_owned(), port).await?,
    };
    Ok(dedup(found))
}

/// A numeric IP address, with or without IPv6 brackets.
pub(crate) fn parse_numeric(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

fn dedup(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut seen = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !seen.contains(&a) {
            seen.push(a);
        }
    }
    seen
}

/// The system resolver, on a worker thread, abandoned if cancelled.
async fn system_getaddrinfo(host: String, port: u16) -> Result<Vec<SocketAddr>> {
    let shown = host.clone();
    let found = trio_sync::to_thread::Options::new()
        .abandon_on_cancel(true)
        .run_sync(move || {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(|it| it.collect::<Vec<_>>())
        })
        .await?;
    found.map_err(|e| {
        Error::with_source(
            ErrorKind::Io,
            format!("could not resolve host {shown:?}: {e}"),
            e,
        )
    })
}
