//! The trio-rs tour: structured concurrency in one screenful, on loopback, in about a
//! second. Run it with `cargo run --example tour`.
//!
//! 1. A "slow squares" server runs under `serve_tcp` in a nursery; `nursery.start` hands
//!    back its listeners once it is accepting.
//! 2. A fan-out of clients runs in a second nursery; each sends its result into a memory
//!    channel, and the main task gathers them as they arrive.
//! 3. One request is too slow: `move_on_after` gives up on it, cleanly.
//! 4. Shutdown is cancelling the server's scope: every accept loop and handler stops at
//!    its next checkpoint, the nursery joins them all, and nothing is left running.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    current_time, move_on_after, open_nursery, sleep, ErrorKind, HalfCloseableStream, Instant,
    ReceiveStream, Result, SendStream,
};
use trio_net::{open_tcp_stream, serve_tcp, SocketStream};
use trio_sync::open_memory_channel;

/// Reads until the peer sends end of stream.
async fn read_to_end(stream: &SocketStream) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The server's handler: a request is "<number> <delay in ms>"; the answer is the
/// number squared, after the delay (a stand-in for real work, or a slow backend).
async fn slow_squares(stream: SocketStream, served: Rc<Cell<u32>>) -> Result<()> {
    let request = String::from_utf8_lossy(&read_to_end(&stream).await?).into_owned();
    let mut words = request.split_whitespace();
    let parse = |w: Option<&str>| w.and_then(|w| w.parse::<u64>().ok());
    let (Some(n), Some(delay)) = (parse(words.next()), parse(words.next())) else {
        return stream
            .send_all(b"error: expected \"<number> <delay ms>\"")
            .await;
    };
    sleep(Duration::from_millis(delay)).await?;
    stream.send_all(format!("{}", n * n).as_bytes()).await?;
    served.set(served.get() + 1);
    Ok(())
    // The stream is dropped here, which closes it: serve_tcp's handlers own their stream.
}

/// One client: connect, ask, wait for the answer.
async fn ask(port: u16, n: u64, delay_ms: u64) -> Result<u64> {
    let stream = open_tcp_stream("127.0.0.1", port).await?;
    stream
        .send_all(format!("{n} {delay_ms}").as_bytes())
        .await?;
    stream.send_eof().await?;
    let answer = String::from_utf8_lossy(&read_to_end(&stream).await?).into_owned();
    answer
        .parse()
        .map_err(|_| trio_core::Error::msg(format!("bad answer from server: {answer:?}")))
}

fn ms_since(start: Instant) -> u128 {
    (current_time() - start).as_millis()
}

fn main() -> Result<()> {
    trio_core::run(|| async {
        let start = current_time();
        println!("trio-rs tour: a server, a fan-out of clients, a timeout, a clean shutdown.\n");

        let served = Rc::new(Cell::new(0u32));
        let served_in_server = served.clone();
        open_nursery(|server_nursery| async move {
            // 1. The server: serve_tcp runs until cancelled; `start` returns once it listens.
            let handler = move |stream| slow_squares(stream, served_in_server.clone());
            let listeners = server_nursery
                .start(|status| serve_tcp(handler, 0, Some("127.0.0.1"), status))
                .await?;
            let port = listeners[0].local_addr()?.port();
            println!("[{:>4} ms] 1. server listening on 127.0.0.1:{port} (inside a nursery)", ms_since(start));

            // 2. Fan-out: eight clients in their own nursery, results through a channel.
            println!("[{:>4} ms] 2. starting 8 clients; each sends its result into a memory channel", ms_since(start));
            let (results_tx, results_rx) = open_memory_channel::<(u64, u64, u128)>(0);
            open_nursery(|clients| async move {
                for n in 1..=8u64 {
                    let tx = results_tx.clone();
                    // Different delays, so answers arrive out of order.
                    let delay = 40 * ((n * 5) % 8 + 1);
                    clients.start_soon(async move {
                        let square = ask(port, n, delay).await?;
                        tx.send((n, square, ms_since(start))).await?;
                        Ok(()) // dropping `tx` closes this clone
                    });
                }
                drop(results_tx); // only the clients' clones remain
                // The main task gathers results until every sender is closed.
                let mut total = 0;
                loop {
                    match results_rx.receive().await {
                        Ok((n, square, at)) => {
                            total += square;
                            println!("[{at:>4} ms]    client {n}: {n}² = {square}");
                        }
                        Err(e) if e.kind() == ErrorKind::EndOfChannel => break,
                        Err(e) => return Err(e),
                    }
                }
                println!("[{:>4} ms]    all clients done; the nursery joined them. sum of squares = {total}", ms_since(start));
                Ok(())
            })
            .await?;

            // 3. A timeout is a cancel scope: give up on a slow request after 300 ms.
            println!("[{:>4} ms] 3. asking for a result that takes 2 s, with move_on_after(300 ms)", ms_since(start));
            match move_on_after(Duration::from_millis(300), ask(port, 12, 2000)).await? {
                Some(v) => println!("[{:>4} ms]    unexpectedly got {v}", ms_since(start)),
                None => println!(
                    "[{:>4} ms]    gave up: the scope cancelled the client at its next checkpoint,\n              \
                     its socket was closed, and the error never escaped the scope",
                    ms_since(start)
                ),
            }

            // 4. Shutdown: cancel the server's scope. The accept loop and the handler still
            //    sleeping on the abandoned request are cancelled; the nursery joins them.
            println!("[{:>4} ms] 4. cancelling the server's scope", ms_since(start));
            server_nursery.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        println!(
            "[{:>4} ms]    server stopped: {} requests served, listeners closed, no task left behind.",
            ms_since(start),
            served.get()
        );
        Ok(())
    })
}
