//! hyper 1.x serving HTTP/1.1 on trio-rs:
//! `cargo run -p trio-examples --example hyper_server -- [--port N] [--for SECS]`.
//!
//! Try `curl http://127.0.0.1:PORT/`, `curl -d hi http://127.0.0.1:PORT/echo` or
//! `curl 'http://127.0.0.1:PORT/slow?ms=500'`. On Ctrl-C or SIGTERM (or after `--for SECS`)
//! the server's scope is cancelled: connections get a graceful shutdown (a request in
//! flight still gets its response), then the program exits 0.

use std::time::Duration;

use trio_core::open_nursery;
use trio_examples::http_server::serve;
use trio_examples::shutdown::until_stopped;

fn main() -> trio_core::Result<()> {
    let mut port = 8080u16;
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
                eprintln!("usage: hyper_server [--port N] [--for SECS]");
                std::process::exit(2);
            }
        }
    }
    trio_core::run(move || async move {
        let body = open_nursery(|nursery| async move {
            let listeners = nursery
                .start(|status| serve(port, Some("127.0.0.1"), status))
                .await?;
            // Scripts (and the tests) read this line to find the port.
            println!("listening on http://{}/", listeners[0].local_addr()?);
            Ok(())
        });
        until_stopped("hyper server", run_for, body).await?;
        println!("server stopped");
        Ok(())
    })
}
