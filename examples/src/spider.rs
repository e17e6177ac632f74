//! The web spider: crawls a site from a start URL, many pages at once.
//!
//! The shape is the classic Trio one:
//!
//! * one **collector** (the nursery body) owns the set of seen URLs; it receives every
//!   page's result through a **memory channel** and starts a fetch task for each new
//!   link, until no fetch is outstanding;
//! * each **fetch task** borrows a token from a **`CapacityLimiter`** for each attempt
//!   (at most `concurrency` requests in flight), runs the request under **`fail_after`**
//!   (a per-request deadline covering connect, TLS, request and response), and **retries**
//!   failures (time-outs, connection errors, 5xx) with exponential **back-off**, holding no
//!   token while it waits;
//! * a **progress** task redraws one status line while the crawl runs (optional);
//! * the result is a [`CrawlReport`], printed as a summary at the end.
//!
//! HTTP/1.1 goes over trio-net's `open_tcp_stream` (and trio-tls for `https`), parsed by
//! `httparse` ([`crate::http_fetch`]). The crawl stays on the start URL's host (any port)
//! and scheme family (http/https); fragments are ignored. Cancelling the caller's scope
//! stops everything at once (every fetch is cancelled, every connection closed).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use trio_core::{
    current_time, fail_after, open_nursery, sleep, CancelScope, Error, ErrorKind, Result, Stream,
};
use trio_sync::{open_memory_channel, CapacityLimiter};
use trio_tls::rustls;
use url::Url;

use crate::http_fetch;

/// How a crawl behaves.
#[derive(Clone, Debug)]
pub struct SpiderConfig {
    /// Where to start.
    pub start: Url,
    /// At most this many requests in flight (the `CapacityLimiter`'s tokens).
    pub concurrency: usize,
    /// Deadline for one attempt: connect, request and the whole response.
    pub request_timeout: Duration,
    /// How many times a failed attempt is retried.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// Stop discovering new pages after this many.
    pub max_pages: usize,
    /// Redraw a progress line on stderr while crawling.
    pub progress: bool,
    /// TLS client configuration for `https` (default: Mozilla's root certificates).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl SpiderConfig {
    /// Defaults: 10 requests at once, 5 s per attempt, 2 retries from 200 ms, 10 000 pages.
    pub fn new(start: Url) -> Self {
        SpiderConfig {
            start,
            concurrency: 10,
            request_timeout: Duration::from_secs(5),
            retries: 2,
            backoff: Duration::from_millis(200),
            max_pages: 10_000,
            progress: false,
            tls: None,
        }
    }
}

/// What happened to one page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageOutcome {
    /// A response arrived (any status).
    Fetched {
        /// The HTTP status.
        status: u16,
        /// Body size in bytes.
        bytes: usize,
        /// Links found on the page (before filtering).
        links: usize,
    },
    /// Every attempt ran out of time.
    TimedOut,
    /// The last attempt failed with this error.
    Failed(String),
}

/// One page of the crawl.
#[derive(Clone, Debug)]
pub struct PageReport {
    /// The page's URL (without fragment).
    pub url: Url,
    /// How it ended.
    pub outcome: PageOutcome,
    /// How many attempts were made (1 = no retry).
    pub attempts: u32,
}

/// The result of a crawl: every page, in the order results arrived.
#[derive(Clone, Debug, Default)]
pub struct CrawlReport {
    /// Every page visited, each exactly once.
    pub pages: Vec<PageReport>,
    /// Run-clock time the crawl took.
    pub elapsed: Duration,
}

impl CrawlReport {
    /// Pages that got a response.
    pub fn fetched(&self) -> usize {
        self.count(|o| matches!(o, PageOutcome::Fetched { .. }))
    }

    /// Pages whose every attempt timed out.
    pub fn timed_out(&self) -> usize {
        self.count(|o| *o == PageOutcome::TimedOut)
    }

    /// Pages that failed otherwise.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, PageOutcome::Failed(_)))
    }

    fn count(&self, f: impl Fn(&PageOutcome) -> bool) -> usize {
        self.pages.iter().filter(|p| f(&p.outcome)).count()
    }
}

impl fmt::Display for CrawlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retries: u32 = self
            .pages
            .iter()
            .map(|p| p.attempts.saturating_sub(1))
            .sum();
        writeln!(
            f,
            "crawled {} pages in {:.2?}: {} fetched, {} timed out, {} failed, {} retries",
            self.pages.len(),
            self.elapsed,
            self.fetched(),
            self.timed_out(),
            self.failed(),
            retries
        )?;
        for p in &self.pages {
            match &p.outcome {
                PageOutcome::Fetched { status, .. } if *status < 400 => {}
                PageOutcome::Fetched { status, .. } => writeln!(f, "  HTTP {status}: {}", p.url)?,
                PageOutcome::TimedOut => {
                    writeln!(f, "  timed out after {} attempts: {}", p.attempts, p.url)?
                }
                PageOutcome::Failed(e) => writeln!(f, "  failed ({e}): {}", p.url)?,
            }
        }
        Ok(())
    }
}

/// A finished page, sent from a fetch task to the collector.
struct Fetched {
    report: PageReport,
    links: Vec<Url>,
}

/// Live counters for the progress line.
#[derive(Default)]
struct Progress {
    done: Cell<usize>,
    queued: Cell<usize>,
    failed: Cell<usize>,
}

/// Crawls from `config.start` until every reachable page (up to `max_pages`) was
/// visited. Returns the report; errors only for a bad configuration or cancellation.
pub async fn crawl(config: SpiderConfig) -> Result<CrawlReport> {
    if config.concurrency == 0 {
        return Err(Error::new(
            ErrorKind::Other,
            "spider: concurrency must be at least 1",
        ));
    }
    let started = current_time();
    let start = normalize(config.start.clone());
    let config = Rc::new(config);
    let limiter = Rc::new(CapacityLimiter::new(config.concurrency));
    let progress = Rc::new(Progress::default());
    // Results flow from the fetch tasks to the collector; a small buffer is enough since
    // the collector never blocks on anything else.
    let (tx, rx) = open_memory_channel::<Fetched>(config.concurrency);
    let mut report = CrawlReport::default();
    let reporter = CancelScope::new();
    let stop_reporter = reporter.handle();

    open_nursery(|nursery| {
        let report = &mut report;
        async move {
            if config.progress {
                let progress = progress.clone();
                nursery.start_soon(async move {
                    reporter
                        .run(async {
                            loop {
                                draw_progress(&progress);
                                sleep(Duration::from_millis(100)).await?;
                            }
                        })
                        .await
                        .map(|_: Option<()>| ())
                });
            }
            let mut seen: HashSet<Url> = HashSet::new();
            let mut outstanding = 0usize;
            let spawn = |url: Url, outstanding: &mut usize| {
                *outstanding += 1;
                progress.queued.set(progress.queued.get() + 1);
                nursery.start_soon(fetch_task(url, config.clone(), limiter.clone(), tx.clone()));
            };
            seen.insert(start.clone());
            spawn(start.clone(), &mut outstanding);
            while outstanding > 0 {
                let page = rx.receive().await?;
                outstanding -= 1;
                progress.done.set(progress.done.get() + 1);
                if !matches!(page.report.outcome, PageOutcome::Fetched { .. }) {
                    progress.failed.set(progress.failed.get() + 1);
                }
                for link in page.links {
                    let link = normalize(link);
                    if seen.len() < config.max_pages
                        && in_scope(&start, &link)
                        && seen.insert(link.clone())
                    {
                        spawn(link, &mut outstanding);
                    }
                }
                report.pages.push(page.report);
            }
            stop_reporter.cancel();
            if config.progress {
                draw_progress(&progress);
                eprintln!();
            }
            Ok(())
        }
    })
    .await?;
    report.elapsed = current_time() - started;
    Ok(report)
}

fn draw_progress(p: &Progress) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[spider] {} done / {} queued, {} pending, {} failed   ",
        p.done.get(),
        p.queued.get(),
        p.queued.get() - p.done.get(),
        p.failed.get()
    );
    let _ = err.flush();
}

fn normalize(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// Same host (any port), http or https.
fn in_scope(start: &Url, link: &Url) -> bool {
    matches!(link.scheme(), "http" | "https") && link.host_str() == start.host_str()
}

async fn fetch_task(
    url: Url,
    config: Rc<SpiderConfig>,
    limiter: Rc<CapacityLimiter>,
    results: trio_sync::MemorySendChannel<Fetched>,
) -> Result<()> {
    let mut attempts = 0;
    let outcome = loop {
        attempts += 1;
        limiter.acquire().await?;
        let r = fail_after(config.request_timeout, fetch_once(&url, &config)).await;
        limiter.release()?;
        let retryable = match &r {
            Ok(resp) => resp.status >= 500,
            Err(e) => !e.is_cancelled(),
        };
        if r.as_ref().is_err_and(Error::is_cancelled) {
            return r.map(|_| ());
        }
        if !retryable || attempts > config.retries {
            break r;
        }
        let wait = config.backoff * 2u32.saturating_pow(attempts - 1);
        sleep(wait).await?;
    };
    let (outcome, links) = match outcome {
        Ok(resp) => {
            let links = if is_html(&resp) {
                extract_links(&url, &resp.body)
            } else {
                Vec::new()
            };
            let mut links = links;
            if (300..400).contains(&resp.status) {
                if let Some(to) = resp.header("location").and_then(|l| url.join(l).ok()) {
                    links.push(to);
                }
            }
            (
                PageOutcome::Fetched {
                    status: resp.status,
                    bytes: resp.body.len(),
                    links: links.len(),
                },
                links,
            )
        }
        Err(e) if e.kind() == ErrorKind::TooSlow => (PageOutcome::TimedOut, Vec::new()),
        Err(e) => (PageOutcome::Failed(e.to_string()), Vec::new()),
    };
    let page = Fetched {
        report: PageReport {
            url,
            outcome,
            attempts,
        },
        links,
    };
    results.send(page).await.map_err(Error::from)
}

async fn fetch_once(url: &Url, config: &SpiderConfig) -> Result<http_fetch::Response> {
    let host = url
        .host_str()
        .ok_or_else(|| Error::new(ErrorKind::Other, format!("no host in {url}")))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Error::new(ErrorKind::Other, format!("no port for {url}")))?;
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    // `host_str` keeps IPv6 brackets; the resolver wants them off.
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = trio_net::open_tcp_stream(connect_host, port).await?;
    if url.scheme() == "https" {
        let tls_config = match &config.tls {
            Some(c) => c.clone(),
            None => default_tls_config(),
        };
        let name = trio_tls::ServerName::try_from(connect_host.to_string())
            .map_err(|e| Error::with_source(ErrorKind::Other, format!("bad TLS name {host}"), e))?;
        let tls = trio_tls::TlsStream::client(tcp, tls_config, name)?.https_compatible(true);
        request_and_close(&tls, &host_header, &target).await
    } else {
        request_and_close(&tcp, &host_header, &target).await
    }
}

async fn request_and_close<S: Stream>(
    stream: &S,
    host: &str,
    target: &str,
) -> Result<http_fetch::Response> {
    let r = http_fetch::get(stream, host, target).await;
    // Close gracefully, but do not let a slow close eat the deadline's budget.
    let _ = trio_core::move_on_after(Duration::from_millis(100), stream.aclose()).await;
    r
}

fn default_tls_config() -> Arc<rustls::ClientConfig> {
    thread_local! {
        static CONFIG: Arc<rustls::ClientConfig> = {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            Arc::new(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
            )
        };
    }
    CONFIG.with(Clone::clone)
}

fn is_html(resp: &http_fetch::Response) -> bool {
    resp.header("content-type")
        .is_none_or(|t| t.to_ascii_lowercase().contains("html"))
}

/// The `href` targets of `body`, resolved against `base`. A scanner for `href=` attributes
/// (quoted or not), enough for a spider; not an HTML parser.
pub fn extract_links(base: &Url, body: &[u8]) -> Vec<Url> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut dedup: HashMap<String, ()> = HashMap::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href") {
        let mut j = from + i + 4;
        from = j;
        let bytes = lower.as_bytes();
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b'=' {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        let (start, end) = match bytes.get(j) {
            Some(&q @ (b'"' | b'\'')) => match lower[j + 1..].find(q as char) {
                Some(k) => (j + 1, j + 1 + k),
                None => continue,
            },
            Some(_) => {
                let k = lower[j..]
                    .find(|c: char| c.is_ascii_whitespace() || c == '>')
                    .unwrap_or(lower.len() - j);
                (j, j + k)
            }
            None => continue,
        };
        let href = text[start..end].trim();
        from = end;
        if href.is_empty() || href.starts_with("javascript:") || href.starts_with("mailto:") {
            continue;
        }
        if let Ok(u) = base.join(href) {
            if dedup.insert(u.as_str().to_string(), ()).is_none() {
                out.push(u);
            }
        }
    }
    out
}
