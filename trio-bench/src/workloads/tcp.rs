//! Loopback TCP: an echo server with `conns` clients each doing `rounds` round trips of
//! 64 bytes (ns per round trip, all connections together), and a bulk transfer of
//! `total` bytes over one connection in 64 KiB writes (MB/s).
//!
//! trio-rs: `open_tcp_listeners` / `open_tcp_stream` / `SocketStream`. tokio:
//! `tokio::net`. smol: `async-net`. Every socket has `TCP_NODELAY`. Echoed bytes and
//! byte counts are checked.

use std::rc::Rc;
use std::time::Instant;

use futures_lite::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use trio_core::{AsyncResource as _, Listener as _, ReceiveStream as _, SendStream as _};

use crate::harness::Rt;
use crate::rt::{self, check, mb_per_s, ns_per};

const MSG: usize = 64;
const CHUNK: usize = 64 * 1024;

/// One echo run on `rt`: ns per round trip.
pub fn echo(rt: Rt, conns: usize, rounds: usize) -> Option<f64> {
    Some(match rt {
        Rt::Trio => trio_echo(conns, rounds),
        Rt::Tokio => tokio_echo(conns, rounds),
        Rt::Smol => smol_echo(conns, rounds),
    })
}

/// One bulk run on `rt`: MB/s.
pub fn bulk(rt: Rt, total: u64) -> Option<f64> {
    Some(match rt {
        Rt::Trio => trio_bulk(total),
        Rt::Tokio => tokio_bulk(total),
        Rt::Smol => smol_bulk(total),
    })
}

fn message(i: usize) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    m.iter_mut()
        .enumerate()
        .for_each(|(k, b)| *b = (i + k) as u8);
    m
}

async fn trio_listen() -> trio_core::Result<(trio_net::SocketListener, u16)> {
    let mut listeners = trio_net::open_tcp_listeners(0, Some("127.0.0.1")).await?;
    let listener = listeners.remove(0);
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

fn trio_echo(conns: usize, rounds: usize) -> f64 {
    rt::trio(move || async move {
        let (listener, port) = trio_listen().await?;
        let t0 = Instant::now();
        trio_core::open_nursery(|nursery| async move {
            let server = nursery.clone();
            nursery.start_soon(async move {
                for _ in 0..conns {
                    let stream = listener.accept().await?;
                    stream.set_nodelay(true)?;
                    server.start_soon(async move {
                        let mut buf = [0u8; MSG];
                        loop {
                            let n = stream.receive_some(&mut buf).await?;
                            if n == 0 {
                                return Ok(());
                            }
                            stream.send_all(&buf[..n]).await?;
                        }
                    });
                }
                Ok(())
            });
            for c in 0..conns {
                nursery.start_soon(async move {
                    let stream = trio_net::open_tcp_stream("127.0.0.1", port).await?;
                    stream.set_nodelay(true)?;
                    let mut buf = [0u8; MSG];
                    for r in 0..rounds {
                        let m = message(c + r);
                        stream.send_all(&m).await?;
                        let mut got = 0;
                        while got < MSG {
                            let n = stream.receive_some(&mut buf[got..]).await?;
                            assert!(n > 0, "echo server closed early");
                            got += n;
                        }
                        check("trio-rs echo", buf, m);
                    }
                    stream.aclose().await
                });
            }
            Ok(())
        })
        .await?;
        Ok(ns_per(t0.elapsed(), conns * rounds))
    })
}

fn tokio_echo(conns: usize, rounds: usize) -> f64 {
    rt::tokio(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let t0 = Instant::now();
        let server = tokio::task::spawn_local(async move {
            let mut handlers = Vec::new();
            for _ in 0..conns {
                let (mut stream, _) = listener.accept().await.expect("accept");
                stream.set_nodelay(true).expect("nodelay");
                handlers.push(tokio::task::spawn_local(async move {
                    let mut buf = [0u8; MSG];
                    loop {
                        let n = stream.read(&mut buf).await.expect("server read");
                        if n == 0 {
                            return;
                        }
                        stream.write_all(&buf[..n]).await.expect("server write");
                    }
                }));
            }
            for h in handlers {
                h.await.expect("handler");
            }
        });
        let clients: Vec<_> = (0..conns)
            .map(|c| {
                tokio::task::spawn_local(async move {
                    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut buf = [0u8; MSG];
                    for r in 0..rounds {
                        let m = message(c + r);
                        stream.write_all(&m).await.expect("client write");
                        stream.read_exact(&mut buf).await.expect("client read");
                        check("tokio echo", buf, m);
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.expect("client");
        }
        server.await.expect("server");
        ns_per(t0.elapsed(), conns * rounds)
    })
}

fn smol_echo(conns: usize, rounds: usize) -> f64 {
    rt::smol(|ex| async move {
        let listener = async_net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let t0 = Instant::now();
        let ex2 = Rc::clone(&ex);
        let server = ex.spawn(async move {
            let mut handlers = Vec::new();
            for _ in 0..conns {
                let (mut stream, _) = listener.accept().await.expect("accept");
                stream.set_nodelay(true).expect("nodelay");
                handlers.push(ex2.spawn(async move {
                    let mut buf = [0u8; MSG];
                    loop {
                        let n = stream.read(&mut buf).await.expect("server read");
                        if n == 0 {
                            return;
                        }
                        stream.write_all(&buf[..n]).await.expect("server write");
                    }
                }));
            }
            for h in handlers {
                h.await;
            }
        });
        let clients: Vec<_> = (0..conns)
            .map(|c| {
                ex.spawn(async move {
                    let mut stream = async_net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut buf = [0u8; MSG];
                    for r in 0..rounds {
                        let m = message(c + r);
                        stream.write_all(&m).await.expect("client write");
                        stream.read_exact(&mut buf).await.expect("client read");
                        check("smol echo", buf, m);
                    }
                })
            })
            .collect();
        for c in clients {
            c.await;
        }
        server.await;
        ns_per(t0.elapsed(), conns * rounds)
    })
}

fn trio_bulk(total: u64) -> f64 {
    rt::trio(move || async move {
        let (listener, port) = trio_listen().await?;
        let mut received = 0u64;
        let got = &mut received;
        let t0 = Instant::now();
        trio_core::open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                let stream = trio_net::open_tcp_stream("127.0.0.1", port).await?;
                let chunk = vec![7u8; CHUNK];
                let mut sent = 0u64;
                while sent < total {
                    let n = CHUNK.min((total - sent) as usize);
                    stream.send_all(&chunk[..n]).await?;
                    sent += n as u64;
                }
                stream.aclose().await
            });
            let stream = listener.accept().await?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = stream.receive_some(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                *got += n as u64;
            }
        })
        .await?;
        let elapsed = t0.elapsed();
        check("trio-rs bulk bytes", received, total);
        Ok(mb_per_s(total, elapsed))
    })
}

fn tokio_bulk(total: u64) -> f64 {
    rt::tokio(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let t0 = Instant::now();
        let sender = tokio::task::spawn_local(async move {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let chunk = vec![7u8; CHUNK];
            let mut sent = 0u64;
            while sent < total {
                let n = CHUNK.min((total - sent) as usize);
                stream.write_all(&chunk[..n]).await.expect("write");
                sent += n as u64;
            }
        });
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0u64;
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        sender.await.expect("sender");
        let elapsed = t0.elapsed();
        check("tokio bulk bytes", received, total);
        mb_per_s(total, elapsed)
    })
}

fn smol_bulk(total: u64) -> f64 {
    rt::smol(|ex| async move {
        let listener = async_net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let t0 = Instant::now();
        let sender = ex.spawn(async move {
            let mut stream = async_net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let chunk = vec![7u8; CHUNK];
            let mut sent = 0u64;
            while sent < total {
                let n = CHUNK.min((total - sent) as usize);
                stream.write_all(&chunk[..n]).await.expect("write");
                sent += n as u64;
            }
        });
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; CHUNK];
        let mut received = 0u64;
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        sender.await;
        let elapsed = t0.elapsed();
        check("smol bulk bytes", received, total);
        mb_per_s(total, elapsed)
    })
}
