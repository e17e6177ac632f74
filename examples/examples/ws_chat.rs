//! A websocket chat server on trio-rs (async-tungstenite over the futures-io adapter):
//! `cargo run -p trio-examples --example ws_chat -- [--port N] [--for SECS]`.
//!
//! Connect with any websocket client to `ws://127.0.0.1:PORT/ROOM?nick=NAME`, e.g.
//! `python3 -m websockets ws://127.0.0.1:9000/lobby?nick=ann`. Every message goes to every
//! member of the room. A client that falls 32 messages behind is disconnected (close code
//! 1008) rather than slowing the room down. On Ctrl-C or SIGTERM (or after `--for SECS`)
//! the server is cancelled: every client gets a close frame (1001) before its connection
//! closes, and the program exits 0.

use std::time::Duration;

use trio_core::open_nursery;
use trio_examples::shutdown::until_stopped;
use trio_examples::ws_chat::{serve_chat, ChatConfig, Rooms};

fn main() -> trio_core::Result<()> {
    let mut port = 9000u16;
    let mut run_for: Option<Duration> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--port" => port = value.parse().expect("--port takes a number"),
            "--for" => {
                run_for = Some(Duration::from_secs_f64(
                    value.parse().expect("--for takes seconds"),
                ))
            }
            _ => {
                eprintln!("usage: ws_chat [--port N] [--for SECS]");
                std::process::exit(2);
            }
        }
    }
    trio_core::run(move || async move {
        let server = open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| {
                    serve_chat(
                        ChatConfig::default(),
                        Rooms::default(),
                        port,
                        Some("127.0.0.1"),
                        status,
                    )
                })
                .await?;
            println!("chat on ws://{}/lobby?nick=you", listeners[0].local_addr()?);
            Ok(())
        });
        until_stopped("chat server", run_for, server).await?;
        println!("chat server stopped");
        Ok(())
    })
}
