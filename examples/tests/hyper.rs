//! hyper 1.x on trio-rs against foreign peers: the server answers `curl`, the client
//! fetches from Python's `http.server`; both shut down cleanly when cancelled.

mod common;

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use common::{python_http_server, run_checked, serial, TempDir};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use trio_core::{move_on_after, open_nursery, Result};
use trio_examples::http_client::fetch;
use trio_examples::http_server::{serve, GREETING};
use trio_examples::hyper_rt::serve_http1;
use trio_os::{run_process, Command};
use trio_sync::Event;

/// Runs curl with `args`, returning its stdout.
async fn curl(args: &[&str]) -> Result<String> {
    let done = run_process(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .args(args)
            .capture_stdout(true)
            .capture_stderr(true),
    )
    .await?;
    Ok(String::from_utf8_lossy(&done.stdout).into_owned())
}

#[test]
fn hyper_server_answers_curl_and_stops_when_cancelled() {
    let _serial = serial();
    run_checked(|| async {
        open_nursery(|nursery| async move {
            let listeners = nursery.start(|s| serve(0, Some("127.0.0.1"), s)).await?;
            let base = format!("http://{}", listeners[0].local_addr()?);
            assert_eq!(curl(&[&format!("{base}/")]).await?, GREETING);
            assert_eq!(
                curl(&["--data-binary", "ping over hyper", &format!("{base}/echo")]).await?,
                "ping over hyper"
            );
            // Two requests on one keep-alive connection, then a 404.
            let two = curl(&[&format!("{base}/"), &format!("{base}/slow?ms=10")]).await?;
            assert_eq!(two, format!("{GREETING}slept 10 ms\n"));
            let code = curl(&[
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{base}/nope"),
            ])
            .await?;
            assert_eq!(code, "404");
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(())
    });
}

#[test]
fn hyper_server_finishes_a_request_in_flight_when_cancelled() {
    let _serial = serial();
    run_checked(|| async {
        let arrived = Rc::new(Event::new());
        let responded = Rc::new(Cell::new(false));
        let began = trio_core::current_time();
        let out = open_nursery(|nursery| {
            let arrived = arrived.clone();
            let responded = responded.clone();
            async move {
                let arrived2 = arrived.clone();
                let service = move |_req: Request<Incoming>| {
                    let arrived = arrived.clone();
                    let responded = responded.clone();
                    async move {
                        arrived.set();
                        // Still running when the server is cancelled: graceful shutdown
                        // lets it finish (the handler runs under the connection's shield).
                        let _ = trio_core::sleep(Duration::from_millis(300)).await;
                        responded.set(true);
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("late reply\n"))))
                    }
                };
                let server = trio_core::CancelScope::new();
                let stop_server = server.handle();
                let listeners = nursery
                    .start(|status| async move {
                        server
                            .run(trio_net::serve_tcp(
                                move |s| {
                                    serve_http1(
                                        s,
                                        hyper::service::service_fn(service.clone()),
                                        Duration::from_secs(5),
                                    )
                                },
                                0,
                                Some("127.0.0.1"),
                                status,
                            ))
                            .await
                            .map(|_| ())
                    })
                    .await?;
                let url = format!("http://{}/", listeners[0].local_addr()?);
                nursery.start_soon(async move {
                    arrived2.wait().await?;
                    stop_server.cancel();
                    Ok(())
                });
                curl(&[&url]).await
            }
        })
        .await?;
        assert_eq!(out.as_deref(), Some("late reply\n"));
        assert!(responded.get());
        // Well within the 5 s grace: the connection closed as soon as the reply went out.
        assert!(trio_core::current_time() - began < Duration::from_secs(4));
        Ok(())
    });
}

#[test]
fn hyper_client_fetches_from_python_http_server() {
    let _serial = serial();
    let dir = TempDir::new("hyper-client");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(www.join("hello.txt"), "hello from python\n").unwrap();
    std::fs::write(www.join("big.bin"), &big).unwrap();
    let (mut server, port) = python_http_server(&www, &dir.path().join("log"));
    let (hello, big_got, missing) = run_checked(move || async move {
        let base = format!("http://127.0.0.1:{port}");
        let hello = fetch(&url::Url::parse(&format!("{base}/hello.txt")).unwrap()).await?;
        let big = fetch(&url::Url::parse(&format!("{base}/big.bin")).unwrap()).await?;
        let missing = fetch(&url::Url::parse(&format!("{base}/missing")).unwrap()).await?;
        Ok((hello, big, missing))
    });
    server.stop();
    assert_eq!(hello.status, 200);
    assert_eq!(&hello.body[..], b"hello from python\n");
    assert!(hello
        .headers
        .iter()
        .any(|(k, v)| k == "server" && v.contains("Python")));
    assert_eq!(big_got.status, 200);
    assert_eq!(big_got.body.len(), big.len());
    assert!(big_got.body[..] == big[..], "large body corrupted");
    assert_eq!(missing.status, 404);
}

#[test]
fn hyper_client_is_cancelled_promptly_by_a_timeout() {
    let _serial = serial();
    // A host that accepts (in the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = url::Url::parse(&format!("http://{}/", silent.local_addr().unwrap())).unwrap();
    let began = std::time::Instant::now();
    let r =
        run_checked(
            move || async move { move_on_after(Duration::from_millis(200), fetch(&url)).await },
        );
    assert!(r.is_none());
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "took {:?}",
        began.elapsed()
    );
}
