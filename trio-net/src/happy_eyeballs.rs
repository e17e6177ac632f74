//! `open_tcp_stream`: resolve a host and connect to it with RFC 8305 "happy eyeballs".
//!
//! # The algorithm (Trio's)
//! 1. Resolve; move the first address of the other family to second place (RFC 6555
//!    §5.4), so a broken IPv6 path costs at most one delay.
//! 2. Start attempts one at a time in a nursery. Each next attempt starts when the
//!    previous one *fails* or after `happy_eyeballs_delay`, whichever comes first;
//!    attempts overlap.
//! 3. The first attempt that connects wins: it cancels the nursery, which cancels the
//!    other attempts (a cancelled connect closes its socket). An attempt that connects
//!    after the winner closes its own stream.
//! 4. If every attempt fails, one error of kind `Io` names the target and lists every
//!    attempt's error; the errors themselves are in its [`ConnectError`] source.
//!
//! There is no per-attempt timeout, as in Trio: wrap the call in `fail_after`.

use std::cell::RefCell;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use trio_core::{move_on_after, open_nursery, Error, ErrorKind, Result};
use trio_sync::Event;

use crate::connect::current_socket_factory;
use crate::resolve::getaddrinfo;
use crate::SocketStream;

/// How long an attempt may run before the next one starts alongside it (RFC 8305's
/// recommendation, and Trio's default).
pub const DEFAULT_HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// Opens a TCP connection to `host` (a name or a numeric address) and `port`, trying
/// every address the name resolves to with happy eyeballs (see the module doc). A
/// checkpoint. The stream has `TCP_NODELAY` on.
///
/// When every attempt fails, the error has kind `Io`, a message naming each attempt,
/// and a [`ConnectError`] source holding the per-attempt errors.
///
/// ```
/// use trio_core::ErrorKind;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     // Port 1 on loopback: nothing listens there.
///     let err = trio_net::open_tcp_stream("127.0.0.1", 1).await.unwrap_err();
///     assert_eq!(err.kind(), ErrorKind::Io);
///     assert!(err.to_string().contains("127.0.0.1:1"));
///     Ok(())
/// })
/// # }
/// ```
pub async fn open_tcp_stream(host: &str, port: u16) -> Result<SocketStream> {
    TcpConnectOptions::new().connect(host, port).await
}

/// Options for [`open_tcp_stream`]: the happy-eyeballs delay and a local address.
///
/// ```
/// use std::time::Duration;
/// use trio_net::TcpConnectOptions;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let listeners = trio_net::open_tcp_listeners(0, Some("127.0.0.1")).await?;
///     let port = listeners[0].local_addr()?.port();
///     let stream = TcpConnectOptions::new()
///         .happy_eyeballs_delay(Duration::from_millis(100))
///         .local_address("127.0.0.1".parse().unwrap())
///         .connect("127.0.0.1", port)
///         .await?;
///     assert_eq!(stream.local_addr()?.ip().to_string(), "127.0.0.1");
///     Ok(())
/// })
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TcpConnectOptions {
    happy_eyeballs_delay: Duration,
    local_address: Option<IpAddr>,
}

impl Default for TcpConnectOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpConnectOptions {
    /// The defaults: a 250 ms delay, no local address.
    pub fn new() -> Self {
        TcpConnectOptions {
            happy_eyeballs_delay: DEFAULT_HAPPY_EYEBALLS_DELAY,
            local_address: None,
        }
    }

    /// How long each attempt runs alone before the next starts.
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.happy_eyeballs_delay = delay;
        self
    }

    /// Connect from this local IP (with a port picked by the kernel when binding; unlike
    /// Trio, `IP_BIND_ADDRESS_NO_PORT` is not set, as socket2 does not offer it).
    /// Addresses of the other family fail with an error naming the mismatch.
    pub fn local_address(mut self, ip: IpAddr) -> Self {
        self.local_address = Some(ip);
        self
    }

    /// Connects to `host`:`port` with these options; see [`open_tcp_stream`].
    pub async fn connect(&self, host: &str, port: u16) -> Result<SocketStream> {
        let mut targets = getaddrinfo(host, port).await?;
        if targets.is_empty() {
            return Err(Error::new(
                ErrorKind::Io,
                format!("getaddrinfo({host:?}) returned no addresses"),
            ));
        }
        reorder_for_rfc_6555_section_5_4(&mut targets);
        let race = Rc::new(Race {
            winner: RefCell::new(None),
            failures: RefCell::new(Vec::new()),
        });
        let factory = current_socket_factory();
        let delay = self.happy_eyeballs_delay;
        let local = self.local_address;
        let race2 = race.clone();
        let attempts = targets.len();
        open_nursery(|nursery| async move {
            for (index, addr) in targets.into_iter().enumerate() {
                let failed = Rc::new(Event::new());
                let (race, failed2, factory, nursery2) = (
                    race2.clone(),
                    failed.clone(),
                    factory.clone(),
                    nursery.clone(),
                );
                nursery.start_soon(async move {
                    match factory.connect_tcp(addr, local).await {
                        Ok(stream) => {
                            let mut winner = race.winner.borrow_mut();
                            if winner.is_none() {
                                *winner = Some(stream);
                                nursery2.cancel_scope().cancel();
                            }
                            // else: a later success; dropping it closes it.
                            Ok(())
                        }
                        Err(e) if e.is_cancelled() => Err(e),
                        Err(e) => {
                            race.failures.borrow_mut().push((index, addr, e));
                            failed2.set();
                            Ok(())
                        }
                    }
                });
                // Give this attempt the delay to itself, unless it fails sooner.
                move_on_after(delay, failed.wait()).await?;
            }
            Ok(())
        })
        .await?;
        if let Some(stream) = race.winner.borrow_mut().take() {
            return Ok(stream);
        }
        let mut failures = std::mem::take(&mut *race.failures.borrow_mut());
        debug_assert_eq!(failures.len(), attempts);
        failures.sort_by_key(|(index, _, _)| *index);
        let attempts = failures
            .into_iter()
            .map(|(_, addr, error)| ConnectAttempt { addr, error })
            .collect();
        Err(ConnectError {
            target: format_host_port(host, port),
            attempts,
        }
        .into_error())
    }
}

struct Race {
    winner: RefCell<Option<SocketStream>>,
    failures: RefCell<Vec<(usize, SocketAddr, Error)>>,
}

/// Moves the first address of a different family than the first address to second
/// place (RFC 6555 §5.4), keeping the rest in order.
fn reorder_for_rfc_6555_section_5_4(targets: &mut [SocketAddr]) {
    let Some(first) = targets.first().copied() else {
        return;
    };
    if let Some(i) = targets.iter().position(|a| a.is_ipv4() != first.is_ipv4()) {
        targets[1..=i].rotate_right(1);
    }
}

fn format_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Why [`open_tcp_stream`] failed when every attempt failed: the target and each
/// attempt's address and error, in the order the attempts started. Reach it with
/// `err.downcast_ref::<ConnectError>()`.
///
/// ```
/// use trio_net::ConnectError;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let err = trio_net::open_tcp_stream("127.0.0.1", 1).await.unwrap_err();
///     let detail = err.downcast_ref::<ConnectError>().expect("a ConnectError source");
///     assert_eq!(detail.attempts().len(), 1);
///     let io = detail.attempts()[0].error.io_error().expect("an OS error");
///     assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct ConnectError {
    target: String,
    attempts: Vec<ConnectAttempt>,
}

/// One failed connection attempt of [`open_tcp_stream`].
#[derive(Debug)]
pub struct ConnectAttempt {
    /// The address tried.
    pub addr: SocketAddr,
    /// What went wrong.
    pub error: Error,
}

impl ConnectError {
    /// The `host:port` that was asked for.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Every attempt, in the order they started.
    pub fn attempts(&self) -> &[ConnectAttempt] {
        &self.attempts
    }

    fn into_error(self) -> Error {
        Error::with_source(ErrorKind::Io, self.summary(), self)
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.attempts.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, "{n} connection attempt{s} to {} failed", self.target)
    }
}

impl ConnectError {
    /// The one-line summary used as the top-level error's message: the target, then
    /// each attempt's error (prefixed by its address unless the error names it).
    fn summary(&self) -> String {
        let mut out = format!("all attempts to connect to {} failed:", self.target);
        for (i, a) in self.attempts.iter().enumerate() {
            let sep = if i == 0 { "" } else { ";" };
            let text = a.error.to_string();
            if text.contains(&a.addr.to_string()) {
                out.push_str(&format!("{sep} [{}] {text}", i + 1));
            } else {
                out.push_str(&format!("{sep} [{}] {}: {text}", i + 1, a.addr));
            }
        }
        out
    }
}

impl std::error::Error for ConnectError {
    /// The first attempt's OS error, if it was one (for error reporters that walk the
    /// chain); every attempt is in [`ConnectError::attempts`].
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let io = self.attempts.first()?.error.io_error()?;
        Some(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rfc_6555_moves_first_other_family_address_to_second_place() {
        let mut t = vec![
            a("[::1]:1"),
            a("[::2]:1"),
            a("[::3]:1"),
            a("1.1.1.1:1"),
            a("2.2.2.2:1"),
        ];
        reorder_for_rfc_6555_section_5_4(&mut t);
        assert_eq!(
            t,
            vec![
                a("[::1]:1"),
                a("1.1.1.1:1"),
                a("[::2]:1"),
                a("[::3]:1"),
                a("2.2.2.2:1")
            ]
        );
        let mut same = vec![a("1.1.1.1:1"), a("2.2.2.2:1")];
        reorder_for_rfc_6555_section_5_4(&mut same);
        assert_eq!(same, vec![a("1.1.1.1:1"), a("2.2.2.2:1")]);
        let mut already = vec![a("1.1.1.1:1"), a("[::1]:1"), a("2.2.2.2:1")];
        reorder_for_rfc_6555_section_5_4(&mut already);
        assert_eq!(already, vec![a("1.1.1.1:1"), a("[::1]:1"), a("2.2.2.2:1")]);
    }
}
