//! An echo server: every connection gets its bytes back, each handled by its own task.
//!
//! ```sh
//! cargo run --example echo_server            # listens on 127.0.0.1:12345
//! cargo run --example echo_server -- 4000    # another port
//! cargo run --example echo_client            # in another terminal
//! ```
//!
//! Stop it with Ctrl-C (or SIGTERM): the server stops accepting, every connection is
//! closed, and the program exits 0.

use std::cell::Cell;
use std::rc::Rc;

use trio_core::{open_nursery, AsyncResource, ErrorKind, ReceiveStream, Result, SendStream};
use trio_examples::shutdown::until_stopped;
use trio_net::{serve_tcp, SocketStream};

async fn echo(stream: SocketStream, id: u64) -> Result<()> {
    let peer = stream.peer_addr()?;
    println!("echo server {id}: connection from {peer}");
    let mut buf = vec![0u8; 16 * 1024];
    let outcome: Result<()> = async {
        loop {
            let n = stream.receive_some(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            println!(
                "echo server {id}: received {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
            stream.send_all(&buf[..n]).await?;
        }
    }
    .await;
    // Closed on every path, cancellation (Ctrl-C) included; closing cannot fail.
    let _ = stream.aclose().await;
    match outcome {
        Ok(()) => println!("echo server {id}: connection closed"),
        // A client vanishing is that connection's business, not the server's: report it
        // and return Ok, so one broken client does not crash the whole server.
        Err(e) if e.kind() == ErrorKind::BrokenResource => {
            println!("echo server {id}: connection broke: {e}")
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

fn main() -> Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p
            .parse()
            .map_err(|_| trio_core::Error::msg(format!("not a port number: {p:?}")))?,
        None => 12345,
    };
    trio_core::run(move || async move {
        let next_id = Rc::new(Cell::new(0u64));
        let handler = move |stream| {
            next_id.set(next_id.get() + 1);
            echo(stream, next_id.get())
        };
        let server = open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| serve_tcp(handler, port, Some("127.0.0.1"), status))
                .await?;
            for l in listeners.iter() {
                println!("echo server listening on {}", l.local_addr()?);
            }
            Ok(())
        });
        until_stopped("echo server", None, server).await?;
        println!("echo server stopped");
        Ok(())
    })
}
