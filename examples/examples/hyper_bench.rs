//! Throughput of the same hyper HTTP/1.1 server on trio-rs and on tokio (current-thread),
//! measured in one process run:
//! `cargo run --release -p trio-examples --example hyper_bench -- [--quick]
//! [--rounds N] [--seconds S] [--connections C] [--pipeline P] [--client-threads T]`.
//!
//! Each server runs on its own thread (one loop, one thread, as a user would run it):
//! trio-rs with `serve_tcp` + `serve_http1` (`TrioIo` on `SocketCompat`, graceful-shutdown
//! watcher per connection: the production path of this crate), tokio with
//! `TcpListener::accept` + `tokio::spawn` + hyper-util's `TokioIo` and `TokioTimer`; both
//! builders set a timer (hyper's header-read timeout) and `pipeline_flush`. The service is the
//! same closure returning a 12-byte body. The load generator is blocking `std::net` on
//! `T` threads holding `C` keep-alive connections in total, each sending `P` pipelined
//! requests and reading the `P` responses (validated with httparse). Rounds alternate
//! trio-rs / tokio after a warm-up; the table gives each round, the medians, and the
//! ratio trio-rs / tokio (higher is better for trio-rs).

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

const BODY: &[u8] = b"hello world\n";

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

/// A server thread: its address and its `/proc` task directory (for its CPU time).
#[derive(Clone)]
struct Server {
    addr: SocketAddr,
    task_dir: std::path::PathBuf,
}

/// The calling thread's `/proc/<pid>/task/<tid>` directory.
fn this_thread_dir() -> std::path::PathBuf {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self (Linux)");
    std::path::Path::new("/proc").join(link.strip_prefix("/proc").unwrap_or(&link))
}

/// CPU seconds (user + system) the server thread has used so far: the scheduler's exact
/// run time (`se.sum_exec_runtime` in `/proc/.../sched`, milliseconds with six decimals)
/// where the kernel shows it, else `utime + stime` from `stat` (10 ms ticks: over a 1 s
/// round that quantisation alone moves a ratio by a percent or two).
fn cpu_seconds(server: &Server) -> f64 {
    if let Ok(sched) = std::fs::read_to_string(server.task_dir.join("sched")) {
        let runtime = sched
            .lines()
            .find(|l| l.starts_with("se.sum_exec_runtime"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(ms) = runtime {
            return ms / 1000.0;
        }
    }
    let stat = std::fs::read_to_string(server.task_dir.join("stat")).expect("task stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn start_trio_server() -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    let named = std::thread::Builder::new().name("trio-server".into());
    named
        .spawn(move || {
            trio_core::run(move || async move {
                trio_core::open_nursery(|nursery| async move {
                    let listeners = nursery
                        .start(|status| {
                            trio_net::serve_tcp(
                                |stream| {
                                    trio_examples::hyper_rt::serve_http1(
                                        stream,
                                        hyper::service::service_fn(hello),
                                        Duration::from_secs(1),
                                    )
                                },
                                0,
                                Some("127.0.0.1"),
                                status,
                            )
                        })
                        .await?;
                    let server = Server {
                        addr: listeners[0].local_addr()?,
                        task_dir: this_thread_dir(),
                    };
                    tx.send(server).expect("main thread waits");
                    Ok(())
                })
                .await?;
                Ok(())
            })
            .expect("trio server");
        })
        .expect("spawn the trio server thread");
    rx.recv().expect("trio server started")
}

fn start_tokio_server() -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    let named = std::thread::Builder::new().name("tokio-server".into());
    named
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let server = Server {
                    addr: listener.local_addr().expect("addr"),
                    task_dir: this_thread_dir(),
                };
                tx.send(server).expect("main thread waits");
                loop {
                    let (stream, _) = listener.accept().await.expect("accept");
                    stream.set_nodelay(true).expect("nodelay");
                    tokio::spawn(async move {
                        // The same builder settings as serve_http1 (pipelined flushes).
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .pipeline_flush(true)
                            .serve_connection(
                                hyper_util::rt::TokioIo::new(stream),
                                hyper::service::service_fn(hello),
                            )
                            .await;
                    });
                }
            });
        })
        .expect("spawn the tokio server thread");
    rx.recv().expect("tokio server started")
}

struct Load {
    connections: usize,
    pipeline: usize,
    threads: usize,
}

/// Drives `server` for `duration`; returns completed requests per second and per CPU
/// second of the server thread.
fn measure(server: &Server, load: &Load, duration: Duration) -> (f64, f64) {
    let (rps, eff, _) = measure_counted(server, load, duration);
    (rps, eff)
}

/// [`measure`], also returning how many requests completed (to divide a profile by).
fn measure_counted(server: &Server, load: &Load, duration: Duration) -> (f64, f64, u64) {
    let addr = server.addr;
    let cpu_before = cpu_seconds(server);
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").repeat(load.pipeline);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let per_thread = load.connections.div_ceil(load.threads);
    let mut handles = Vec::new();
    let started = Instant::now();
    for t in 0..load.threads {
        let n = per_thread.min(load.connections - t * per_thread);
        let (request, stop, done) = (request.clone(), stop.clone(), done.clone());
        let pipeline = load.pipeline;
        handles.push(std::thread::spawn(move || {
            let mut conns: Vec<TcpStream> = (0..n)
                .map(|_| {
                    let s = TcpStream::connect(addr).expect("connect");
                    s.set_nodelay(true).expect("nodelay");
                    s
                })
                .collect();
            let mut buf = vec![0u8; 64 * 1024];
            let mut response_len = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for c in &mut conns {
                    c.write_all(request.as_bytes()).expect("send requests");
                }
                for c in &mut conns {
                    let mut got = 0usize;
                    loop {
                        let k = c.read(&mut buf[got..]).expect("read responses");
                        assert!(k > 0, "server closed the connection");
                        got += k;
                        if response_len == 0 {
                            response_len = first_response_len(&buf[..got]);
                        }
                        if response_len != 0 && got >= response_len * pipeline {
                            assert_eq!(got, response_len * pipeline, "unexpected response bytes");
                            break;
                        }
                        assert!(got < buf.len(), "responses larger than expected");
                    }
                }
                done.fetch_add((n * pipeline) as u64, Ordering::Relaxed);
            }
        }));
    }
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("load thread");
    }
    let count = done.load(Ordering::Relaxed);
    let requests = count as f64;
    let cpu = (cpu_seconds(server) - cpu_before).max(1e-6);
    (
        requests / started.elapsed().as_secs_f64(),
        requests / cpu,
        count,
    )
}

/// The length of one response (all are identical), once its head and body arrived.
fn first_response_len(buf: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(head)) => {
            assert_eq!(resp.code, Some(200));
            if buf.len() >= head + BODY.len() {
                assert_eq!(&buf[head..head + BODY.len()], BODY);
                head + BODY.len()
            } else {
                0
            }
        }
        Ok(httparse::Status::Partial) => 0,
        Err(e) => panic!("bad response: {e}"),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut rounds = 5usize;
    let mut only: Option<String> = None;
    let mut seconds = 1.0f64;
    let mut load = Load {
        connections: 32,
        pipeline: 8,
        threads: 2,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut num = || -> f64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} takes a number"))
        };
        match flag.as_str() {
            "--quick" => {
                rounds = 2;
                seconds = 0.2;
            }
            "--rounds" => rounds = num() as usize,
            "--seconds" => seconds = num(),
            "--connections" => load.connections = num() as usize,
            "--pipeline" => load.pipeline = num() as usize,
            "--client-threads" => load.threads = num() as usize,
            // For profiling one side: `perf record` this with `--only trio`.
            "--only" => only = args.next(),
            other => panic!("unknown flag {other}"),
        }
    }
    load.threads = load.threads.clamp(1, load.connections);
    if let Some(side) = only {
        let server = if side == "trio" {
            start_trio_server()
        } else {
            start_tokio_server()
        };
        let (rps, eff, n) = measure_counted(&server, &load, Duration::from_secs_f64(seconds));
        println!("{side}: {rps:.0} req/s, {eff:.0} req/cpu-s, {n} requests");
        return;
    }
    let trio = start_trio_server();
    let tokio = start_tokio_server();
    let d = Duration::from_secs_f64(seconds);
    println!(
        "hyper HTTP/1.1 on loopback: {} connections, {} pipelined requests each, {} client threads, {} rounds of {seconds} s",
        load.connections, load.pipeline, load.threads, rounds
    );
    // Warm-up (connections, allocator, CPU frequency).
    measure(&trio, &load, d / 2);
    measure(&tokio, &load, d / 2);
    let (mut t, mut k, mut te, mut ke) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        // Alternate which goes first so drift hits both equally.
        let (a, b) = if r % 2 == 0 {
            let a = measure(&trio, &load, d);
            (a, measure(&tokio, &load, d))
        } else {
            let b = measure(&tokio, &load, d);
            (measure(&trio, &load, d), b)
        };
        println!(
            "round {r}: trio-rs {:>9.0} req/s {:>9.0} req/cpu-s | tokio {:>9.0} req/s {:>9.0} req/cpu-s | ratio {:.3} / {:.3}",
            a.0, a.1, b.0, b.1, a.0 / b.0, a.1 / b.1
        );
        t.push(a.0);
        k.push(b.0);
        te.push(a.1);
        ke.push(b.1);
    }
    let (mt, mk) = (median(&mut t), median(&mut k));
    let (mte, mke) = (median(&mut te), median(&mut ke));
    println!(
        "median:  trio-rs {mt:>9.0} req/s {mte:>9.0} req/cpu-s | tokio {mk:>9.0} req/s {mke:>9.0} req/cpu-s | ratio {:.3} / {:.3}",
        mt / mk,
        mte / mke
    );
    println!("(ratio = trio-rs / tokio: throughput / requests per server-thread CPU second)");
}
