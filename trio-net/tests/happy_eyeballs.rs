//! `open_tcp_stream`'s happy eyeballs against a simulated resolver and network on the
//! mock clock: attempt order and timing, first success wins, losers closed, and one
//! combined error when everything fails.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    current_time, move_on_after, sleep, sleep_forever, CancelScope, Error, ErrorKind, Instant,
    ReceiveStream, Result, SendStream,
};
use trio_net::{
    open_tcp_stream, set_custom_hostname_resolver, set_custom_socket_factory, ConnectError,
    HostnameResolver, LocalBoxFuture, SocketFactory, SocketStream, TcpConnectOptions,
};

#[derive(Clone, Copy)]
enum Behaviour {
    /// Never answers (until cancelled).
    Stall,
    /// Refuses after this long.
    Fail(Duration),
    /// Connects after this long.
    Succeed(Duration),
    /// Connects after this long, even if cancelled meanwhile (a connect that the kernel
    /// completed before the cancellation could take effect).
    SucceedShielded(Duration),
}

/// A simulated DNS and network: one name, hosts that stall, refuse or answer.
#[derive(Default)]
struct FakeNet {
    addrs: Vec<SocketAddr>,
    hosts: HashMap<SocketAddr, Behaviour>,
    /// (virtual ms, event) in the order things happened.
    log: RefCell<Vec<(u64, String)>>,
    /// The far ends of connections handed out, to see which were closed.
    peers: RefCell<Vec<(SocketAddr, SocketStream)>>,
    locals: RefCell<Vec<Option<IpAddr>>>,
}

fn ms() -> u64 {
    let d = current_time() - Instant::ZERO;
    u64::try_from(d.as_millis()).unwrap()
}

impl FakeNet {
    fn new(hosts: &[(&str, Behaviour)]) -> Rc<Self> {
        let addrs: Vec<SocketAddr> = hosts.iter().map(|(a, _)| a.parse().unwrap()).collect();
        let map = addrs
            .iter()
            .copied()
            .zip(hosts.iter().map(|(_, b)| *b))
            .collect();
        let net = Rc::new(FakeNet {
            addrs,
            hosts: map,
            ..FakeNet::default()
        });
        set_custom_hostname_resolver(Some(net.clone()));
        set_custom_socket_factory(Some(net.clone()));
        net
    }

    fn note(&self, what: String) {
        self.log.borrow_mut().push((ms(), what));
    }

    fn log(&self) -> Vec<(u64, String)> {
        self.log.borrow().clone()
    }
}

impl HostnameResolver for FakeNet {
    fn getaddrinfo<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>>> {
        Box::pin(async move {
            trio_core::checkpoint().await?;
            assert_eq!(host, "example.test");
            Ok(self
                .addrs
                .iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect())
        })
    }
}

impl SocketFactory for FakeNet {
    fn connect_tcp(
        &self,
        addr: SocketAddr,
        local: Option<IpAddr>,
    ) -> LocalBoxFuture<'_, Result<SocketStream>> {
        Box::pin(async move {
            self.locals.borrow_mut().push(local);
            self.note(format!("start {addr}"));
            let behaviour = self.hosts[&SocketAddr::new(addr.ip(), self.addrs[0].port())];
            let outcome = async {
                match behaviour {
                    Behaviour::Stall => match sleep_forever().await? {},
                    Behaviour::Fail(d) => {
                        sleep(d).await?;
                        Err(Error::new(
                            ErrorKind::Io,
                            format!("{addr} refused (simulated)"),
                        ))
                    }
                    Behaviour::Succeed(d) | Behaviour::SucceedShielded(d) => {
                        if matches!(behaviour, Behaviour::SucceedShielded(_)) {
                            CancelScope::new().with_shield(true).run(sleep(d)).await?;
                        } else {
                            sleep(d).await?;
                        }
                        let (ours, theirs) = SocketStream::unix_pair()?;
                        self.peers.borrow_mut().push((addr, theirs));
                        Ok(ours)
                    }
                }
            }
            .await;
            match &outcome {
                Ok(_) => self.note(format!("connected {addr}")),
                Err(e) if e.is_cancelled() => self.note(format!("cancelled {addr}")),
                Err(_) => self.note(format!("failed {addr}")),
            }
            outcome
        })
    }
}

fn entry(t: u64, what: &str) -> (u64, String) {
    (t, what.to_owned())
}

/// Which simulated host the stream is connected to: send a byte and see who gets it.
async fn connected_to(net: &FakeNet, stream: &SocketStream) -> Result<SocketAddr> {
    stream.send_all(b"?").await?;
    for (addr, peer) in net.peers.borrow().iter() {
        // A non-blocking peek: only the winner's peer has the byte.
        let got = peer.with_socket(|s| {
            let mut b = [std::mem::MaybeUninit::<u8>::uninit(); 1];
            match s.recv(&mut b) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
                other => other,
            }
        })?;
        if got == 1 {
            return Ok(*addr);
        }
    }
    panic!("no simulated host received the byte");
}

#[test]
fn a_stalled_first_attempt_lets_the_second_start_and_win_at_250ms() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let net = FakeNet::new(&[
            ("[2001:db8::1]:80", Behaviour::Stall),
            ("192.0.2.1:80", Behaviour::Succeed(Duration::ZERO)),
        ]);
        let stream = open_tcp_stream("example.test", 80).await?;
        assert_eq!(ms(), 250, "the winner connects at 250 ms virtual");
        assert_eq!(
            net.log(),
            vec![
                entry(0, "start [2001:db8::1]:80"),
                entry(250, "start 192.0.2.1:80"),
                entry(250, "connected 192.0.2.1:80"),
                entry(250, "cancelled [2001:db8::1]:80"),
            ]
        );
        assert_eq!(
            connected_to(&net, &stream).await?,
            "192.0.2.1:80".parse().unwrap()
        );
        Ok(())
    })
}

#[test]
fn a_failed_attempt_starts_the_next_one_at_once() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let net = FakeNet::new(&[
            ("192.0.2.1:80", Behaviour::Fail(Duration::from_millis(100))),
            ("192.0.2.2:80", Behaviour::Fail(Duration::from_millis(10))),
            ("192.0.2.3:80", Behaviour::Succeed(Duration::from_millis(5))),
        ]);
        open_tcp_stream("example.test", 80).await?;
        assert_eq!(
            net.log(),
            vec![
                entry(0, "start 192.0.2.1:80"),
                entry(100, "failed 192.0.2.1:80"),
                entry(100, "start 192.0.2.2:80"),
                entry(110, "failed 192.0.2.2:80"),
                entry(110, "start 192.0.2.3:80"),
                entry(115, "connected 192.0.2.3:80"),
            ]
        );
        Ok(())
    })
}

#[test]
fn when_every_attempt_fails_one_error_carries_each_attempts_error() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let _net = FakeNet::new(&[
            (
                "[2001:db8::1]:80",
                Behaviour::Fail(Duration::from_millis(300)),
            ),
            (
                "[2001:db8::2]:80",
                Behaviour::Fail(Duration::from_millis(10)),
            ),
            ("192.0.2.1:80", Behaviour::Fail(Duration::from_millis(20))),
        ]);
        let err = open_tcp_stream("example.test", 80).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        let msg = err.to_string();
        assert!(
            msg.contains("all attempts to connect to example.test:80 failed"),
            "{msg}"
        );
        let detail = err
            .downcast_ref::<ConnectError>()
            .expect("ConnectError source");
        assert_eq!(detail.target(), "example.test:80");
        // In the order the attempts started (RFC 6555 puts the IPv4 address second).
        let addrs: Vec<String> = detail
            .attempts()
            .iter()
            .map(|a| a.addr.to_string())
            .collect();
        assert_eq!(
            addrs,
            ["[2001:db8::1]:80", "192.0.2.1:80", "[2001:db8::2]:80"]
        );
        for a in detail.attempts() {
            assert!(a.error.to_string().contains("refused (simulated)"));
            assert!(msg.contains(&a.addr.to_string()), "{msg}");
        }
        // Attempts: 0 (fails at 300), 250 (fails at 270), 270 (fails at 280).
        assert_eq!(ms(), 300);
        Ok(())
    })
}

#[test]
fn rfc_6555_puts_the_first_address_of_the_other_family_second() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let net = FakeNet::new(&[
            ("[2001:db8::1]:80", Behaviour::Stall),
            ("[2001:db8::2]:80", Behaviour::Stall),
            ("192.0.2.1:80", Behaviour::Stall),
        ]);
        let r = move_on_after(Duration::from_secs(1), open_tcp_stream("example.test", 80)).await?;
        assert!(r.is_none());
        let starts: Vec<_> = net
            .log()
            .into_iter()
            .filter(|(_, e)| e.starts_with("start"))
            .collect();
        assert_eq!(
            starts,
            vec![
                entry(0, "start [2001:db8::1]:80"),
                entry(250, "start 192.0.2.1:80"),
                entry(500, "start [2001:db8::2]:80"),
            ]
        );
        Ok(())
    })
}

#[test]
fn cancelling_open_tcp_stream_cancels_every_attempt() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let net = FakeNet::new(&[
            ("192.0.2.1:80", Behaviour::Stall),
            ("192.0.2.2:80", Behaviour::Stall),
        ]);
        let r = move_on_after(
            Duration::from_millis(600),
            open_tcp_stream("example.test", 80),
        )
        .await?;
        assert!(r.is_none());
        let log = net.log();
        assert!(
            log.contains(&entry(600, "cancelled 192.0.2.1:80")),
            "{log:?}"
        );
        assert!(
            log.contains(&entry(600, "cancelled 192.0.2.2:80")),
            "{log:?}"
        );
        Ok(())
    })
}

#[test]
fn the_first_success_wins_and_a_later_success_is_closed() -> Result<()> {
    trio_testing::run_autojump(|| async {
        // Both connect at 500 ms, too late to be cancelled: one wins, the other must be
        // closed, not leaked.
        let net = FakeNet::new(&[
            (
                "192.0.2.1:80",
                Behaviour::SucceedShielded(Duration::from_millis(500)),
            ),
            (
                "192.0.2.2:80",
                Behaviour::SucceedShielded(Duration::from_millis(250)),
            ),
        ]);
        let stream = open_tcp_stream("example.test", 80).await?;
        assert_eq!(ms(), 500);
        let winner = connected_to(&net, &stream).await?;
        let peers = std::mem::take(&mut *net.peers.borrow_mut());
        assert_eq!(peers.len(), 2);
        for (addr, peer) in peers.iter() {
            if *addr != winner {
                let mut buf = [0u8; 1];
                assert_eq!(
                    peer.receive_some(&mut buf).await?,
                    0,
                    "the loser was closed"
                );
            }
        }
        Ok(())
    })
}

#[test]
fn an_earlier_success_wins_and_the_attempt_still_connecting_is_cancelled() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let net = FakeNet::new(&[
            (
                "192.0.2.1:80",
                Behaviour::Succeed(Duration::from_millis(400)),
            ),
            (
                "192.0.2.2:80",
                Behaviour::Succeed(Duration::from_millis(300)),
            ),
        ]);
        let stream = open_tcp_stream("example.test", 80).await?;
        assert_eq!(ms(), 400);
        assert!(net.log().contains(&entry(400, "cancelled 192.0.2.2:80")));
        assert_eq!(
            connected_to(&net, &stream).await?,
            "192.0.2.1:80".parse().unwrap()
        );
        Ok(())
    })
}

#[test]
fn the_happy_eyeballs_delay_and_local_address_are_configurable() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let net = FakeNet::new(&[
            ("192.0.2.1:80", Behaviour::Stall),
            ("192.0.2.2:80", Behaviour::Succeed(Duration::ZERO)),
        ]);
        let local: IpAddr = "192.0.2.200".parse().unwrap();
        TcpConnectOptions::new()
            .happy_eyeballs_delay(Duration::from_millis(40))
            .local_address(local)
            .connect("example.test", 80)
            .await?;
        assert_eq!(ms(), 40);
        assert_eq!(*net.locals.borrow(), vec![Some(local), Some(local)]);
        Ok(())
    })
}

#[test]
fn a_name_with_no_addresses_is_a_clear_error() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let _net = FakeNet::new(&[]);
        let err = open_tcp_stream("example.test", 80).await.unwrap_err();
        assert!(err.to_string().contains("no addresses"), "{err}");
        Ok(())
    })
}
