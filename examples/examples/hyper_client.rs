//! hyper 1.x as an HTTP/1.1 client on trio-rs:
//! `cargo run -p trio-examples --example hyper_client -- http://127.0.0.1:8080/`.
//!
//! Prints the status line and headers to stderr and the body to stdout. The request runs
//! under a 10 s deadline (`fail_after`).

use std::io::Write;
use std::time::Duration;

use trio_examples::http_client::fetch;

fn main() -> trio_core::Result<()> {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: hyper_client URL");
        std::process::exit(2);
    };
    let url = url::Url::parse(&url).map_err(trio_core::Error::other)?;
    trio_core::run(move || async move {
        let resp = trio_core::fail_after(Duration::from_secs(10), fetch(&url)).await?;
        eprintln!("HTTP {}", resp.status);
        for (k, v) in &resp.headers {
            eprintln!("{k}: {v}");
        }
        std::io::stdout().write_all(&resp.body)?;
        Ok(())
    })
}
