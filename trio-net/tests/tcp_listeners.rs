//! `open_tcp_listeners` and `SocketListener`: wildcard gives IPv4 and IPv6, port 0,
//! reuse-address, accept semantics (busy, closed, checkpoints), refused connections.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use trio_core::{open_nursery, AsyncResource, ErrorKind, Listener, Result};
use trio_net::socket2::{Domain, Protocol, Socket, Type};
use trio_net::{
    open_tcp_listeners, open_tcp_stream, set_custom_socket_factory, ConnectError, SocketFactory,
    SocketListener,
};
use trio_testing::{assert_checkpoints, wait_all_tasks_blocked};

fn ipv6_works() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn a_wildcard_host_listens_on_ipv4_and_ipv6_with_reuse_address() -> Result<()> {
    trio_core::run(|| async {
        let listeners = open_tcp_listeners(0, None).await?;
        let families: Vec<bool> = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.is_ipv4()))
            .collect::<Result<_>>()?;
        assert!(families.contains(&true), "an IPv4 listener");
        if ipv6_works() {
            assert!(families.contains(&false), "an IPv6 listener");
        }
        for l in &listeners {
            let addr = l.local_addr()?;
            assert!(addr.ip().is_unspecified());
            assert_ne!(addr.port(), 0, "port 0 picks a free port");
            assert!(l.with_socket(|s| s.reuse_address())?);
            if addr.is_ipv6() {
                assert!(l.with_socket(|s| s.only_v6())?, "v6 listeners are v6-only");
            }
        }
        Ok(())
    })
}

#[test]
fn a_named_host_is_resolved_and_connections_arrive() -> Result<()> {
    trio_core::run(|| async {
        // "localhost" goes through the system resolver on a worker thread.
        let listeners = open_tcp_listeners(0, Some("localhost")).await?;
        assert!(!listeners.is_empty());
        let l = &listeners[0];
        let addr = l.local_addr()?;
        assert!(addr.ip().is_loopback());
        let client = open_tcp_stream(&addr.ip().to_string(), addr.port()).await?;
        let server = l.accept().await?;
        assert_eq!(server.peer_addr()?, client.local_addr()?);
        Ok(())
    })
}

#[test]
fn connection_refused_is_a_clear_error() -> Result<()> {
    trio_core::run(|| async {
        // Bind a port, then close it: nothing listens there now.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let err = open_tcp_stream("127.0.0.1", port).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        let msg = err.to_string();
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        assert!(msg.to_lowercase().contains("refused"), "{msg}");
        let detail = err.downcast_ref::<ConnectError>().expect("ConnectError");
        let io = detail.attempts()[0].error.io_error().expect("io error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        Ok(())
    })
}

#[test]
fn two_tasks_accepting_at_once_get_busy_resource_and_close_wakes_accept() -> Result<()> {
    trio_core::run(|| async {
        let mut listeners = open_tcp_listeners(0, Some("127.0.0.1")).await?;
        let l: Rc<SocketListener> = Rc::new(listeners.remove(0));
        let (l2, l3) = (l.clone(), l.clone());
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let err = l2.accept().await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ClosedResource, "{err:?}");
                Ok(())
            });
            wait_all_tasks_blocked().await?;
            assert_eq!(
                l3.accept().await.unwrap_err().kind(),
                ErrorKind::BusyResource
            );
            l3.aclose().await?;
            Ok(())
        })
        .await?;
        assert_eq!(
            l.accept().await.unwrap_err().kind(),
            ErrorKind::ClosedResource
        );
        Ok(())
    })
}

#[test]
fn accept_and_connect_are_checkpoints() -> Result<()> {
    trio_core::run(|| async {
        let listeners = assert_checkpoints(open_tcp_listeners(0, Some("127.0.0.1"))).await?;
        let port = listeners[0].local_addr()?.port();
        let _c = assert_checkpoints(open_tcp_stream("127.0.0.1", port)).await?;
        let _s = assert_checkpoints(listeners[0].accept()).await?;
        Ok(())
    })
}

#[test]
fn wrapping_a_socket_that_is_not_listening_is_refused() {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let err = SocketListener::new(s).unwrap_err();
    assert!(err.to_string().contains("listening socket"), "{err}");
}

#[test]
fn localhost_connects_to_whichever_family_is_listening() -> Result<()> {
    trio_core::run(|| async {
        // Only IPv4 listens; if "localhost" also resolves to ::1, that attempt is refused
        // at once and happy eyeballs moves on without waiting for the delay.
        let listeners = open_tcp_listeners(0, Some("127.0.0.1")).await?;
        let port = listeners[0].local_addr()?.port();
        let start = trio_core::current_time();
        let client = open_tcp_stream("localhost", port).await?;
        assert_eq!(client.peer_addr()?.ip().to_string(), "127.0.0.1");
        let _server = listeners[0].accept().await?;
        let took = trio_core::current_time() - start;
        assert!(
            took < trio_net::DEFAULT_HAPPY_EYEBALLS_DELAY,
            "took {took:?}"
        );
        Ok(())
    })
}

/// The real network, counting the sockets it makes.
#[derive(Default)]
struct Counting {
    made: Cell<usize>,
}

impl SocketFactory for Counting {
    fn socket(&self, domain: Domain, ty: Type, protocol: Option<Protocol>) -> io::Result<Socket> {
        self.made.set(self.made.get() + 1);
        Socket::new(domain, ty, protocol)
    }
}

#[test]
fn a_custom_socket_factory_makes_every_socket_of_its_run() -> Result<()> {
    trio_core::run(|| async {
        let factory = Rc::new(Counting::default());
        set_custom_socket_factory(Some(factory.clone()));
        let listeners = open_tcp_listeners(0, Some("127.0.0.1")).await?;
        assert_eq!(factory.made.get(), 1);
        let port = listeners[0].local_addr()?.port();
        // The default connect_tcp creates its socket through the factory too.
        let _client = open_tcp_stream("127.0.0.1", port).await?;
        assert_eq!(factory.made.get(), 2);
        let _udp = trio_net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
        assert_eq!(factory.made.get(), 3);
        Ok(())
    })
}
