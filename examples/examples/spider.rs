//! A web spider: `cargo run -p trio-examples --example spider -- URL [options]`.
//!
//! Crawls every page reachable from URL on the same host, `--concurrency` requests at a
//! time (a `CapacityLimiter`), each attempt under a `--timeout` deadline, failures retried
//! `--retries` times with exponential back-off from `--backoff-ms`. A progress line runs on
//! stderr; a summary is printed at the end. `--deadline SECS` bounds the whole crawl: when
//! it passes, the crawl's scope is cancelled and every connection is closed.

use std::time::Duration;

use trio_examples::spider::{crawl, SpiderConfig};

fn usage() -> ! {
    eprintln!(
        "usage: spider URL [--concurrency N] [--timeout SECS] [--retries N] \
         [--backoff-ms MS] [--max-pages N] [--deadline SECS] [--quiet]"
    );
    std::process::exit(2)
}

fn main() -> trio_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(start) = args.next() else { usage() };
    let start = url::Url::parse(&start).unwrap_or_else(|e| {
        eprintln!("spider: bad URL {start:?}: {e}");
        usage()
    });
    let mut config = SpiderConfig::new(start);
    config.progress = true;
    let mut deadline = None;
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        let num = |v: String| v.parse::<f64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--concurrency" => config.concurrency = num(value()) as usize,
            "--timeout" => config.request_timeout = Duration::from_secs_f64(num(value())),
            "--retries" => config.retries = num(value()) as u32,
            "--backoff-ms" => config.backoff = Duration::from_secs_f64(num(value()) / 1000.0),
            "--max-pages" => config.max_pages = num(value()) as usize,
            "--deadline" => deadline = Some(Duration::from_secs_f64(num(value()))),
            "--quiet" => config.progress = false,
            _ => usage(),
        }
    }
    trio_core::run(move || async move {
        let report = match deadline {
            Some(d) => trio_core::move_on_after(d, crawl(config)).await?,
            None => Some(crawl(config).await?),
        };
        match report {
            Some(report) => print!("{report}"),
            None => println!("crawl cancelled: the --deadline passed"),
        }
        Ok(())
    })
}
