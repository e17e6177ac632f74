//! An echo client: one task sends while another receives, on the same stream.
//!
//! ```sh
//! cargo run --example echo_server            # first, in another terminal
//! cargo run --example echo_client            # talks to 127.0.0.1:12345
//! cargo run --example echo_client -- localhost 4000
//! ```

use std::time::Duration;

use trio_core::{open_nursery, sleep, HalfCloseableStream, ReceiveStream, Result, SendStream};
use trio_net::open_tcp_stream;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let port: u16 = match args.next() {
        Some(p) => p
            .parse()
            .map_err(|_| trio_core::Error::msg(format!("not a port number: {p:?}")))?,
        None => 12345,
    };
    trio_core::run(move || async move {
        // Happy eyeballs: every address of `host` is tried, staggered by 250 ms.
        let stream = std::rc::Rc::new(open_tcp_stream(&host, port).await?);
        println!("echo client: connected to {}", stream.peer_addr()?);
        let sender = stream.clone();
        open_nursery(|nursery| async move {
            nursery.start_soon(async move {
                for i in 1..=5 {
                    let msg = format!("message {i}");
                    println!("echo client: sending {msg:?}");
                    sender.send_all(msg.as_bytes()).await?;
                    sleep(Duration::from_millis(200)).await?;
                }
                // Half-close: the server sees end of stream, answers what is left, closes.
                sender.send_eof().await
            });
            let mut buf = [0u8; 1024];
            loop {
                let n = stream.receive_some(&mut buf).await?;
                if n == 0 {
                    println!("echo client: server closed the connection");
                    return Ok(());
                }
                println!(
                    "echo client: received {:?}",
                    String::from_utf8_lossy(&buf[..n])
                );
            }
        })
        .await?;
        Ok(())
    })
}
