//! A web spider: `cargo run -p trio-examples --example spider -- URL [options]`.
//!
//! Crawls every page reachable from URL on the same host, `--concurrency` requests at a
//! time (a `CapacityLimiter`), each attempt under a `--timeout` deadline, failures retried
//! `--retries` times with exponential back-off from `--backoff-ms`. A progress line runs on
//! stderr; a summary is printed at the end. Connections are kept alive and reused
//! (`--max-idle N` per origin; 0 turns it off), and each origin's `robots.txt` is obeyed
//! (`--ignore-robots` to not). `--deadline SECS` bounds the whole crawl, and Ctrl-C or
//! SIGTERM stops it early: either way the crawl's scope is cancelled, every connection is
//! closed, and the program exits 0.

use std::time::Duration;

use trio_examples::shutdown::{until_stopped, Stopped};
use trio_examples::spider::{crawl, SpiderConfig};

fn usage() -> ! {
    eprintln!(
        "usage: spider URL [--concurrency N] [--timeout SECS] [--retries N] \
         [--backoff-ms MS] [--max-pages N] [--max-idle N] [--deadline SECS] \
         [--ignore-robots] [--quiet]"
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
            "--max-idle" => config.max_idle_per_origin = num(value()) as usize,
            "--ignore-robots" => config.obey_robots = false,
            "--deadline" => deadline = Some(Duration::from_secs_f64(num(value()))),
            "--quiet" => config.progress = false,
            _ => usage(),
        }
    }
    trio_core::run(move || async move {
        // Scripts (and the tests) wait for this line: signals are caught from here on.
        let start = config.start.clone();
        let crawl = async move {
            println!("crawling {start} (pid {})", std::process::id());
            crawl(config).await
        };
        match until_stopped("spider", deadline, crawl).await? {
            Stopped::Finished(report) => print!("{report}"),
            Stopped::Deadline => println!("crawl cancelled: the --deadline passed"),
            Stopped::Signal(_) => println!("crawl cancelled"),
        }
        Ok(())
    })
}
