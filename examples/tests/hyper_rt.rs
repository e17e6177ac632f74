//! The hyper `rt` glue and the pump adapter, on memory streams and the mock clock:
//! hyper's timers run on the trio clock, graceful shutdown closes idle connections at once
//! and cuts overrunning ones at the grace deadline, and `TrioIo` moves bytes faithfully.

use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use trio_core::{current_time, open_nursery, CancelScope, ReceiveStream, SendStream};
use trio_examples::graceful::cancellable;
use trio_examples::hyper_rt::serve_http1;
use trio_examples::hyper_rt::TrioIo;
use trio_testing::{memory_stream_pair, run_autojump};

async fn slow_hello(
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/forever" {
        let _ = trio_core::sleep(Duration::from_secs(3600)).await;
    }
    Ok(Response::new(Full::new(Bytes::from_static(b"hi"))))
}

/// Reads until end of stream (or an error); returns what arrived.
async fn read_to_end(stream: &impl ReceiveStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.receive_some(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn hyper_header_read_timeout_runs_on_the_trio_clock() {
    run_autojump(|| async {
        let (client, server) = memory_stream_pair();
        let start = current_time();
        open_nursery(|nursery| async move {
            nursery.start_soon(serve_http1(
                server,
                hyper::service::service_fn(slow_hello),
                Duration::from_secs(1),
            ));
            // Half a request head, then silence: hyper's 30 s header timer must fire.
            client.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await?;
            let _ = read_to_end(&client).await;
            let waited = current_time() - start;
            assert_eq!(
                waited,
                Duration::from_secs(30),
                "hyper's header_read_timeout (30 s) must fire on trio time"
            );
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_serve_http1_closes_an_idle_keep_alive_connection_at_once() {
    run_autojump(|| async {
        let (client, server) = memory_stream_pair();
        open_nursery(|nursery| async move {
            let scope = CancelScope::new();
            let stop = scope.handle();
            nursery.start_soon(async move {
                scope
                    .run(serve_http1(
                        server,
                        hyper::service::service_fn(slow_hello),
                        Duration::from_secs(10),
                    ))
                    .await
                    .map(|_| ())
            });
            client
                .send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await?;
            let mut buf = [0u8; 4096];
            let n = client.receive_some(&mut buf).await?;
            assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));
            assert!(buf[..n].ends_with(b"hi"));
            // Idle keep-alive connection; now the server is cancelled.
            let at = current_time();
            stop.cancel();
            assert_eq!(read_to_end(&client).await, b"");
            assert_eq!(
                current_time(),
                at,
                "an idle connection closes without waiting"
            );
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

/// Serves `service` on `server` with a 2 s grace period, sends a request the service
/// never finishes, cancels the server after 5 s, and checks that the connection is cut
/// exactly when the grace period ends, with no response.
async fn check_cut_off_at_the_grace_deadline<C, S, Svc>(
    client: C,
    server: S,
    service: Svc,
) -> trio_core::Result<()>
where
    C: SendStream + ReceiveStream,
    S: trio_core::Stream + 'static,
    Svc: hyper::service::HttpService<Incoming, ResBody = Full<Bytes>> + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    open_nursery(|nursery| async move {
        let scope = CancelScope::new();
        let stop = scope.handle();
        nursery.start_soon(async move {
            scope
                .run(serve_http1(server, service, Duration::from_secs(2)))
                .await
                .map(|_| ())
        });
        client
            .send_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
            .await?;
        trio_core::sleep(Duration::from_secs(5)).await?;
        let at = current_time();
        stop.cancel();
        assert_eq!(
            read_to_end(&client).await,
            b"",
            "no response for a cut-off request"
        );
        assert_eq!(current_time() - at, Duration::from_secs(2));
        Ok(())
    })
    .await?;
    Ok(())
}

#[test]
fn a_request_overrunning_the_grace_period_is_cut_off_at_its_deadline() {
    run_autojump(|| async {
        let (client, server) = memory_stream_pair();
        check_cut_off_at_the_grace_deadline(client, server, hyper::service::service_fn(slow_hello))
            .await
    })
    .unwrap();
}

/// A service that never answers and never parks in a trio operation: only the cut at
/// the end of the grace period can stop its connection.
async fn never_answers(
    _req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    std::future::pending().await
}

#[test]
fn on_a_plain_socket_a_request_overrunning_the_grace_period_is_cut_off_at_its_deadline() {
    // A `SocketStream` is polled directly (no pump tasks that the grace deadline could
    // cancel): the cut must reach hyper's connection future itself.
    run_autojump(|| async {
        let (client, server) = trio_net::SocketStream::unix_pair()?;
        check_cut_off_at_the_grace_deadline(
            client,
            server,
            hyper::service::service_fn(never_answers),
        )
        .await
    })
    .unwrap();
}

#[test]
fn trio_io_moves_bytes_both_ways_and_closes_gracefully_on_drop() {
    run_autojump(|| async {
        let (a, b) = memory_stream_pair();
        let payload: Vec<u8> = (0..500_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let expect = payload.clone();
        open_nursery(|nursery| async move {
            let io = TrioIo::new(a, &nursery);
            // The peer echoes everything back, then closes when it sees end of stream.
            nursery.start_soon(async move {
                let mut buf = vec![0u8; 10_000];
                loop {
                    let n = b.receive_some(&mut buf).await?;
                    if n == 0 {
                        return trio_core::AsyncResource::aclose(&b).await;
                    }
                    b.send_all(&buf[..n]).await?;
                }
            });
            let mut io = io;
            let mut back = Vec::new();
            let mut sent = 0;
            let mut buf = vec![0u8; 7_000];
            // Write and read from one task, interleaved: the pumps make that legal.
            cancellable(poll_fn(|cx| loop {
                let mut progress = false;
                if sent < payload.len() {
                    if let std::task::Poll::Ready(r) = Pin::new(&mut io)
                        .poll_write(cx, &payload[sent..(sent + 9_000).min(payload.len())])
                    {
                        sent += r.expect("write");
                        progress = true;
                    }
                } else if let std::task::Poll::Ready(r) = Pin::new(&mut io).poll_flush(cx) {
                    r.expect("flush");
                }
                if let std::task::Poll::Ready(r) = Pin::new(&mut io).poll_read(cx, &mut buf) {
                    let n = r.expect("read");
                    back.extend_from_slice(&buf[..n]);
                    progress = true;
                    if back.len() == payload.len() {
                        return std::task::Poll::Ready(());
                    }
                }
                if !progress {
                    return std::task::Poll::Pending;
                }
            }))
            .await?;
            assert!(back == expect, "echoed bytes differ");
            // Dropping the adapter closes the stream gracefully: the peer sees end of
            // stream and finishes; the nursery (pumps included) then closes.
            drop(io);
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn http2_streams_run_as_tasks_of_the_trio_executor() {
    use trio_examples::hyper_rt::{TrioExecutor, TrioTimer};
    run_autojump(|| async {
        let (client_end, server_end) = memory_stream_pair();
        open_nursery(|nursery| async move {
            // Server: every HTTP/2 stream is a task hyper spawns into this nursery.
            let server_io = TrioIo::new(server_end, &nursery);
            let mut server = hyper::server::conn::http2::Builder::new(TrioExecutor::new(&nursery));
            server.timer(TrioTimer);
            let conn = server.serve_connection(server_io, hyper::service::service_fn(slow_hello));
            nursery.start_soon(async move {
                let _ = conn.await;
                Ok(())
            });
            // Client: its connection task goes into the nursery too.
            let client_io = TrioIo::new(client_end, &nursery);
            let (mut sender, conn) =
                hyper::client::conn::http2::Builder::new(TrioExecutor::new(&nursery))
                    .timer(TrioTimer)
                    .handshake::<_, http_body_util::Empty<Bytes>>(client_io)
                    .await
                    .expect("h2 handshake");
            nursery.start_soon(async move {
                let _ = conn.await;
                Ok(())
            });
            // Three requests at once on one connection.
            let mut answers = Vec::new();
            for _ in 0..3 {
                let req = Request::get("http://x/")
                    .body(http_body_util::Empty::new())
                    .unwrap();
                answers.push(sender.send_request(req));
            }
            for a in answers {
                let resp = a.await.expect("h2 response");
                assert_eq!(resp.version(), hyper::Version::HTTP_2);
                let body = http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .unwrap();
                assert_eq!(&body.to_bytes()[..], b"hi");
            }
            // Dropping the sender ends the client connection; the server sees the end
            // of stream; every task finishes and the nursery closes.
            drop(sender);
            Ok(())
        })
        .await?;
        Ok(())
    })
    .unwrap();
}

#[test]
fn trio_timer_fires_in_deadline_order_and_forgets_dropped_sleeps() {
    use hyper::rt::Timer;
    use trio_examples::hyper_rt::TrioTimer;
    run_autojump(|| async {
        let timer = TrioTimer;
        let start = current_time();
        // What hyper does for every request: a sleep made and dropped unfired, mostly
        // without a poll, sometimes after one (then it sat in the driver's heap).
        for i in 0..1000 {
            let mut s = timer.sleep(Duration::from_secs(30));
            if i % 2 == 0 {
                poll_fn(|cx| {
                    assert!(s.as_mut().poll(cx).is_pending());
                    std::task::Poll::Ready(())
                })
                .await;
            }
        }
        let late = timer.sleep(Duration::from_secs(3));
        let early = timer.sleep(Duration::from_secs(1));
        early.await;
        assert_eq!(current_time() - start, Duration::from_secs(1));
        late.await;
        assert_eq!(current_time() - start, Duration::from_secs(3));
        // hyper's notion of now follows the run's clock.
        let before = timer.now();
        trio_core::sleep(Duration::from_secs(5)).await?;
        assert_eq!(timer.now() - before, Duration::from_secs(5));
        Ok(())
    })
    .unwrap();
}

#[test]
fn trio_timer_fires_a_past_deadline_at_once_and_never_fires_a_reused_slot_early() {
    use hyper::rt::Timer;
    use trio_examples::hyper_rt::TrioTimer;
    run_autojump(|| async {
        let timer = TrioTimer;
        let start = current_time();
        // Due already: completes without the clock moving.
        timer.sleep(Duration::ZERO).await;
        timer.sleep_until(timer.now()).await;
        assert_eq!(current_time(), start);
        // A sleep registered (polled) and dropped leaves a stale entry due in 1 s; the
        // next sleep takes over its slot and must still wait its own 4 s.
        let mut early = timer.sleep(Duration::from_secs(1));
        poll_fn(|cx| {
            assert!(early.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        drop(early);
        timer.sleep(Duration::from_secs(4)).await;
        assert_eq!(current_time() - start, Duration::from_secs(4));
        Ok(())
    })
    .unwrap();
}
