//! `serve_tcp` / `serve_listeners`: many concurrent connections, foreign clients,
//! streams closed after their handler, listeners closed on shutdown, and the 100 ms
//! back-off when accept runs out of file descriptors.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    checkpoint, current_time, move_on_after, open_nursery, sleep_forever, AsyncResource, Error,
    ErrorKind, HalfCloseableStream, Instant, Listener, ReceiveStream, Result, SendStream,
    TaskStatus,
};
use trio_net::{open_tcp_stream, serve_listeners, serve_tcp, SocketStream};
use trio_sync::Event;

async fn echo(stream: SocketStream) -> Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.send_all(&buf[..n]).await?;
    }
}

async fn receive_to_end(s: &SocketStream) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_thousand_concurrent_connections_echo_through_serve_tcp() -> Result<()> {
    const CLIENTS: usize = 1000;
    trio_core::run(|| async {
        open_nursery(|server| async move {
            let listeners = server
                .start(|status| serve_tcp(echo, 0, Some("127.0.0.1"), status))
                .await?;
            let port = listeners[0].local_addr()?.port();
            let connected = Rc::new(Cell::new(0usize));
            let all_connected = Rc::new(Event::new());
            open_nursery(|clients| async move {
                for i in 0..CLIENTS {
                    let (connected, all_connected) = (connected.clone(), all_connected.clone());
                    clients.start_soon(async move {
                        let stream = open_tcp_stream("127.0.0.1", port).await?;
                        // Hold every connection open at once before echoing.
                        connected.set(connected.get() + 1);
                        if connected.get() == CLIENTS {
                            all_connected.set();
                        }
                        all_connected.wait().await?;
                        let msg = format!("hello from client {i}").repeat(10);
                        stream.send_all(msg.as_bytes()).await?;
                        stream.send_eof().await?;
                        let back = receive_to_end(&stream).await?;
                        assert_eq!(back, msg.as_bytes());
                        Ok(())
                    });
                }
                Ok(())
            })
            .await?;
            server.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn a_blocking_std_client_on_a_plain_thread_talks_to_serve_tcp() -> Result<()> {
    trio_core::run(|| async {
        open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| serve_tcp(echo, 0, Some("127.0.0.1"), status))
                .await?;
            let addr = listeners[0].local_addr()?;
            // The thread tells us it is done through a socket, so the loop never blocks.
            let (done_rx, done_tx) = std::os::unix::net::UnixStream::pair()?;
            let done_rx = SocketStream::new(done_rx)?;
            let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
                let mut s = std::net::TcpStream::connect(addr)?;
                s.write_all(b"not trio on this end")?;
                s.shutdown(std::net::Shutdown::Write)?;
                let mut back = Vec::new();
                s.read_to_end(&mut back)?;
                (&done_tx).write_all(b"!")?;
                Ok(back)
            });
            let mut buf = [0u8; 1];
            assert_eq!(done_rx.receive_some(&mut buf).await?, 1);
            let back = client.join().expect("client thread panicked")?;
            assert_eq!(back, b"not trio on this end");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn each_stream_is_closed_when_its_handler_returns() -> Result<()> {
    trio_core::run(|| async {
        open_nursery(|nursery| async move {
            let handler = |stream: SocketStream| async move {
                stream.send_all(b"bye").await?;
                Ok(()) // returns without closing: serve_tcp's job
            };
            let listeners = nursery
                .start(|status| serve_tcp(handler, 0, Some("127.0.0.1"), status))
                .await?;
            let port = listeners[0].local_addr()?.port();
            let stream = open_tcp_stream("127.0.0.1", port).await?;
            assert_eq!(receive_to_end(&stream).await?, b"bye");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn cancelling_the_server_closes_its_listeners() -> Result<()> {
    trio_core::run(|| async {
        let reported = open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| serve_tcp(echo, 0, None, status))
                .await?;
            assert!(!listeners.is_empty());
            nursery.cancel_scope().cancel();
            Ok(listeners)
        })
        .await?
        .expect("the body returned");
        for l in &reported {
            assert!(l.is_closed());
        }
        let port = reported[0].local_addr().err().map(|e| e.kind());
        assert_eq!(port, Some(ErrorKind::ClosedResource));
        Ok(())
    })
}

#[test]
fn a_handler_error_stops_the_server_and_comes_back() -> Result<()> {
    trio_core::run(|| async {
        let r = open_nursery(|nursery| async move {
            let handler =
                |_stream: SocketStream| async { Err::<(), _>(Error::msg("handler broke")) };
            let listeners = nursery
                .start(|status| serve_tcp(handler, 0, Some("127.0.0.1"), status))
                .await?;
            let port = listeners[0].local_addr()?.port();
            let _stream = open_tcp_stream("127.0.0.1", port).await?;
            sleep_forever().await?;
            Ok(())
        })
        .await;
        let err = r.unwrap_err();
        assert!(err.to_string().contains("handler broke"), "{err}");
        Ok(())
    })
}

/// A listener whose accept fails with EMFILE a few times, then blocks forever.
struct ExhaustedListener {
    failures_left: Cell<u32>,
    accept_times: RefCell<Vec<Duration>>,
}

impl AsyncResource for ExhaustedListener {
    async fn aclose(&self) -> Result<()> {
        checkpoint().await
    }
}

impl Listener for ExhaustedListener {
    type Stream = SocketStream;

    async fn accept(&self) -> Result<SocketStream> {
        self.accept_times
            .borrow_mut()
            .push(current_time() - Instant::ZERO);
        checkpoint().await?;
        if self.failures_left.get() > 0 {
            self.failures_left.set(self.failures_left.get() - 1);
            return Err(std::io::Error::from_raw_os_error(libc_emfile()).into());
        }
        match sleep_forever().await? {}
    }
}

fn libc_emfile() -> i32 {
    24 // EMFILE on Linux
}

#[test]
fn accept_backs_off_100ms_when_out_of_file_descriptors() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let record = Rc::new(RefCell::new(Vec::new()));
        let record2 = record.clone();
        move_on_after(Duration::from_millis(1000), async move {
            open_nursery(|nursery| async move {
                let listeners = nursery
                    .start(|status| {
                        serve_listeners(
                            echo,
                            vec![ExhaustedListener {
                                failures_left: Cell::new(3),
                                accept_times: RefCell::new(Vec::new()),
                            }],
                            None,
                            status,
                        )
                    })
                    .await?;
                *record2.borrow_mut() = listeners;
                sleep_forever().await?;
                Ok(())
            })
            .await
        })
        .await?;
        let times = record.borrow()[0].accept_times.borrow().clone();
        let ms: Vec<u128> = times.iter().map(Duration::as_millis).collect();
        // Not a spin: one try at 0, then one per 100 ms back-off, then a blocked accept.
        assert_eq!(ms, vec![0, 100, 200, 300]);
        Ok(())
    })
}

#[test]
fn other_accept_errors_end_the_server() -> Result<()> {
    struct Failing;
    impl AsyncResource for Failing {
        async fn aclose(&self) -> Result<()> {
            Ok(())
        }
    }
    impl Listener for Failing {
        type Stream = SocketStream;
        async fn accept(&self) -> Result<SocketStream> {
            checkpoint().await?;
            Err(Error::new(ErrorKind::Other, "listener exploded"))
        }
    }
    trio_testing::run_autojump(|| async {
        let err = serve_listeners(echo, vec![Failing], None, TaskStatus::ignored())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("listener exploded"), "{err}");
        Ok(())
    })
}

#[test]
fn handlers_can_run_in_a_nursery_of_the_callers_choosing() -> Result<()> {
    trio_core::run(|| async {
        let finished = Rc::new(Cell::new(false));
        let finished2 = finished.clone();
        open_nursery(|handlers| async move {
            let handler = move |stream: SocketStream| {
                let finished = finished2.clone();
                async move {
                    let got = receive_to_end(&stream).await?;
                    assert_eq!(got, b"outlives the server");
                    finished.set(true);
                    Ok(())
                }
            };
            let handlers2 = handlers.clone();
            let stream = open_nursery(|server| async move {
                let listener = trio_net::open_tcp_listeners(0, Some("127.0.0.1"))
                    .await?
                    .remove(0);
                let listeners = server
                    .start(|status| {
                        serve_listeners(handler, vec![listener], Some(handlers2), status)
                    })
                    .await?;
                let port = listeners[0].local_addr()?.port();
                let stream = open_tcp_stream("127.0.0.1", port).await?;
                trio_testing::wait_all_tasks_blocked().await?; // the handler is running
                server.cancel_scope().cancel(); // stop accepting
                Ok(stream)
            })
            .await?
            .expect("the body returned");
            // The server is gone, but its handler lives on in `handlers`.
            stream.send_all(b"outlives the server").await?;
            stream.send_eof().await?;
            Ok(())
        })
        .await?;
        assert!(finished.get());
        Ok(())
    })
}
