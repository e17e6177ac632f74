//! `open_tcp_listeners`: bind listening TCP sockets for a port on one host or on every
//! interface (IPv4 and IPv6), as Trio's.
//!
//! * `host = None` means every interface: one listener on `0.0.0.0` and one on `::`
//!   (with `IPV6_V6ONLY`, so the two do not collide). With port 0 each family gets its
//!   own free port.
//! * Every listener sets `SO_REUSEADDR` (a restarted server can rebind at once despite
//!   connections in `TIME_WAIT`) and asks for a large backlog (the kernel caps it at
//!   `somaxconn`), so bursts of connections queue instead of being refused.
//! * An address family the machine does not support is skipped; if every address fails,
//!   the error names each failure.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Type};
use trio_core::{Error, ErrorKind, Result};

use crate::connect::new_socket;
use crate::resolve::getaddrinfo;
use crate::SocketListener;

/// The backlog asked for by default (Trio's cap; the kernel lowers it to `somaxconn`).
pub const DEFAULT_BACKLOG: u32 = 65535;

/// Opens listening TCP sockets on `port` (0: pick a free one) for `host` (a name, a
/// numeric address, or `None` for every interface, IPv4 and IPv6). A checkpoint.
///
/// ```
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let listeners = trio_net::open_tcp_listeners(0, None).await?;
///     assert!(!listeners.is_empty()); // 0.0.0.0 and, where IPv6 works, [::]
///     for l in &listeners {
///         assert!(l.local_addr()?.ip().is_unspecified());
///         assert_ne!(l.local_addr()?.port(), 0);
///     }
///     Ok(())
/// })
/// # }
/// ```
pub async fn open_tcp_listeners(port: u16, host: Option<&str>) -> Result<Vec<SocketListener>> {
    open_tcp_listeners_with_backlog(port, host, DEFAULT_BACKLOG).await
}

/// [`open_tcp_listeners`] with an explicit listen backlog.
pub async fn open_tcp_listeners_with_backlog(
    port: u16,
    host: Option<&str>,
    backlog: u32,
) -> Result<Vec<SocketListener>> {
    let addrs = match host {
        None => {
            trio_core::checkpoint().await?;
            vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            ]
        }
        Some(h) => getaddrinfo(h, port).await?,
    };
    let backlog = i32::try_from(backlog.min(DEFAULT_BACKLOG)).unwrap_or(i32::MAX);
    let mut listeners = Vec::new();
    let mut unsupported = Vec::new();
    for addr in &addrs {
        match listen_on(*addr, backlog) {
            Ok(l) => listeners.push(l),
            Err(e) if is_unsupported_family(&e) => unsupported.push(format!("{addr}: {e}")),
            Err(e) => {
                let io = e;
                return Err(Error::with_source(
                    ErrorKind::Io,
                    format!("could not listen on {addr}: {io}"),
                    io,
                ));
            }
        }
    }
    if listeners.is_empty() {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "could not listen on any address for {:?} port {port}: {}",
                host.unwrap_or("*"),
                unsupported.join("; ")
            ),
        ));
    }
    Ok(listeners)
}

fn is_unsupported_family(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
}

fn listen_on(addr: SocketAddr, backlog: i32) -> io::Result<SocketListener> {
    let sock = new_socket(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(io::Error::from)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    SocketListener::new(sock).map_err(io::Error::from)
}
