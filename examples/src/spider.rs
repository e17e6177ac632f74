//! The web spider: crawls a site from a start URL, many pages at once.
//!
//! The shape is the classic Trio one:
//!
//! * one **collector** (the nursery body) owns the set of seen URLs; it receives every
//!   page's result through a **memory channel** and starts a fetch task for each new
//!   link, until no task is outstanding;
//! * each **fetch task** borrows a token from a **`CapacityLimiter`** for each attempt
//!   (at most `concurrency` requests in flight), runs the request under **`fail_after`**
//!   (a per-request deadline covering connect, TLS, request and response), and **retries**
//!   failures (time-outs, connection errors, 5xx) with exponential **back-off**, holding no
//!   token while it waits;
//! * a **progress** task redraws one status line while the crawl runs (optional);
//! * the result is a [`CrawlReport`], printed as a summary at the end.
//!
//! HTTP/1.1 goes over trio-net's `open_tcp_stream` (and trio-tls for `https`), parsed by
//! `httparse` ([`crate::http_fetch`]), on **keep-alive** connections from a small pool per
//! origin ([`crate::http_pool`]: what retires a connection, and how a request that hits a
//! connection the server closed is resent once without counting as a retry). The crawl
//! stays on the start URL's host (any port) and scheme family (http/https); fragments are
//! ignored. Cancelling the caller's scope stops everything at once (every fetch is
//! cancelled, every connection closed).
//!
//! # robots.txt
//! Before the first page of an origin (scheme, host, port) is fetched, its `/robots.txt`
//! is, once (same limiter, deadline and retries as a page; up to 5 redirects followed);
//! the origin's pages wait meanwhile. Pages its rules disallow ([`crate::robots`]) are
//! not fetched and are reported as [`PageOutcome::Skipped`]. The outcomes:
//!
//! * 2xx: its rules apply;
//! * 4xx (a missing file, 404) or too many redirects: everything is allowed;
//! * 5xx after the retries: everything is disallowed, as RFC 9309 asks (the server is
//!   there and says it is in trouble);
//! * **unreachable** (no connection, or no answer within the deadline, after the retries):
//!   *our choice* is to crawl that origin **without rules** and say so in the summary.
//!   A server that cannot answer for robots.txt rarely answers for pages, so each page
//!   then gets its own time-out or failure in the report instead of vanishing into
//!   "skipped" (RFC 9309 would disallow everything here).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use trio_core::{
    current_time, fail_after, open_nursery, sleep, CancelScope, Error, ErrorKind, Result,
};
use trio_sync::{open_memory_channel, CapacityLimiter, MemorySendChannel};
use trio_tls::rustls;
use url::Url;

use crate::http_fetch::{self, USER_AGENT};
use crate::http_pool::{Pool, PoolConfig, PoolStats};
use crate::robots::Robots;

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
    /// Idle keep-alive connections kept per origin (0: one connection per request).
    pub max_idle_per_origin: usize,
    /// Idle connections older than this are closed rather than reused.
    pub idle_timeout: Duration,
    /// Fetch and obey each origin's `robots.txt`.
    pub obey_robots: bool,
}

impl SpiderConfig {
    /// Defaults: 10 requests at once, 5 s per attempt, 2 retries from 200 ms, 10 000
    /// pages, up to 10 idle connections per origin for 4 s, `robots.txt` obeyed.
    pub fn new(start: Url) -> Self {
        let pool = PoolConfig::default();
        SpiderConfig {
            start,
            concurrency: 10,
            request_timeout: Duration::from_secs(5),
            retries: 2,
            backoff: Duration::from_millis(200),
            max_pages: 10_000,
            progress: false,
            tls: None,
            max_idle_per_origin: pool.max_idle_per_origin,
            idle_timeout: pool.idle_timeout,
            obey_robots: true,
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
    /// Not fetched: its origin's `robots.txt` disallows it.
    Skipped,
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
    /// How many attempts were made (1 = no retry; 0 = skipped).
    pub attempts: u32,
}

/// What an origin's `robots.txt` fetch gave (see the module doc for what each means).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RobotsOutcome {
    /// Found (2xx); this many rules apply to us.
    Found {
        /// Rules of the groups that apply to the spider.
        rules: usize,
    },
    /// Missing (4xx, or too many redirects; the status): everything allowed.
    Missing(u16),
    /// The server answered 5xx (the status): everything disallowed.
    ServerError(u16),
    /// No answer (the error): crawled without rules.
    Unreachable(String),
}

/// One origin's `robots.txt`.
#[derive(Clone, Debug)]
pub struct RobotsReport {
    /// The origin, e.g. `http://127.0.0.1:8000`.
    pub origin: String,
    /// What the fetch gave.
    pub outcome: RobotsOutcome,
}

/// The result of a crawl: every page, in the order results arrived.
#[derive(Clone, Debug, Default)]
pub struct CrawlReport {
    /// Every page visited, each exactly once.
    pub pages: Vec<PageReport>,
    /// Every origin's `robots.txt` (empty if robots.txt was not obeyed).
    pub robots: Vec<RobotsReport>,
    /// What the connection pool did.
    pub connections: PoolStats,
    /// Run-clock time the crawl took.
    pub elapsed: Duration,
}

impl CrawlReport {
    /// Pages that got a response.
    pub fn fetched(&self) -> usize {
        self.count(|o| matches!(o, PageOutcome::Fetched { .. }))
    }

    /// Pages `robots.txt` kept us from fetching.
    pub fn skipped(&self) -> usize {
        self.count(|o| *o == PageOutcome::Skipped)
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
            "crawled {} pages in {:.2?}: {} fetched, {} skipped by robots.txt, {} timed out, \
             {} failed, {} retries",
            self.pages.len(),
            self.elapsed,
            self.fetched(),
            self.skipped(),
            self.timed_out(),
            self.failed(),
            retries
        )?;
        writeln!(f, "{}", self.connections)?;
        for r in &self.robots {
            let what = match &r.outcome {
                RobotsOutcome::Found { rules: 1 } => "1 rule applies".to_string(),
                RobotsOutcome::Found { rules } => format!("{rules} rules apply"),
                RobotsOutcome::Missing(status) => format!("HTTP {status}: everything allowed"),
                RobotsOutcome::ServerError(status) => {
                    format!("HTTP {status}: everything disallowed")
                }
                RobotsOutcome::Unreachable(e) => {
                    format!("unreachable ({e}): crawled without rules")
                }
            };
            writeln!(f, "  robots.txt of {}: {what}", r.origin)?;
        }
        for p in &self.pages {
            match &p.outcome {
                PageOutcome::Fetched { status, .. } if *status < 400 => {}
                PageOutcome::Fetched { status, .. } => writeln!(f, "  HTTP {status}: {}", p.url)?,
                PageOutcome::Skipped => writeln!(f, "  skipped (robots.txt): {}", p.url)?,
                PageOutcome::TimedOut => {
                    writeln!(f, "  timed out after {} attempts: {}", p.attempts, p.url)?
                }
                PageOutcome::Failed(e) => writeln!(f, "  failed ({e}): {}", p.url)?,
            }
        }
        Ok(())
    }
}

/// What the tasks send the collector.
enum Msg {
    /// A finished page and its links.
    Page { report: PageReport, links: Vec<Url> },
    /// An origin's robots.txt rules.
    Robots(Rc<Robots>, RobotsReport),
}

/// An origin's robots.txt, as the collector sees it.
enum RobotsState {
    /// Being fetched; these pages wait for it.
    Pending(Vec<Url>),
    Ready(Rc<Robots>),
}

/// Live counters for the progress line.
#[derive(Default)]
struct Progress {
    done: Cell<usize>,
    queued: Cell<usize>,
    failed: Cell<usize>,
    skipped: Cell<usize>,
    /// robots.txt fetches under way (their origins' pages wait).
    robots: Cell<usize>,
}

/// What every fetching task shares.
struct Shared {
    config: SpiderConfig,
    limiter: CapacityLimiter,
    pool: Pool,
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
    let shared = Rc::new(Shared {
        limiter: CapacityLimiter::new(config.concurrency),
        pool: Pool::new(PoolConfig {
            max_idle_per_origin: config.max_idle_per_origin,
            idle_timeout: config.idle_timeout,
            tls: config.tls.clone(),
        }),
        config,
    });
    let config = &shared.config;
    let progress = Rc::new(Progress::default());
    // Results flow from the tasks to the collector; a small buffer is enough since the
    // collector never blocks on anything else.
    let (tx, rx) = open_memory_channel::<Msg>(config.concurrency);
    let mut report = CrawlReport::default();
    let reporter = CancelScope::new();
    let stop_reporter = reporter.handle();

    open_nursery(|nursery| {
        let report = &mut report;
        let shared = &shared;
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
            let mut robots: HashMap<String, RobotsState> = HashMap::new();
            let mut outstanding = 0usize;
            // Pages admitted (new, in scope) and not yet started, skipped or parked.
            let mut admitted: Vec<Url> = vec![start.clone()];
            seen.insert(start.clone());
            loop {
                for url in admitted.drain(..) {
                    let origin = url.origin().ascii_serialization();
                    if config.obey_robots && !robots.contains_key(&origin) {
                        // The origin's first page: fetch its robots.txt; the page waits.
                        outstanding += 1;
                        progress.robots.set(progress.robots.get() + 1);
                        nursery.start_soon(robots_task(origin.clone(), shared.clone(), tx.clone()));
                        robots.insert(origin, RobotsState::Pending(vec![url]));
                        continue;
                    }
                    match robots.get_mut(&origin) {
                        Some(RobotsState::Pending(waiting)) => waiting.push(url),
                        Some(RobotsState::Ready(rules)) if !rules.is_allowed(&target_of(&url)) => {
                            progress.skipped.set(progress.skipped.get() + 1);
                            report.pages.push(PageReport {
                                url,
                                outcome: PageOutcome::Skipped,
                                attempts: 0,
                            });
                        }
                        _ => {
                            outstanding += 1;
                            progress.queued.set(progress.queued.get() + 1);
                            nursery.start_soon(fetch_task(url, shared.clone(), tx.clone()));
                        }
                    }
                }
                if outstanding == 0 {
                    break;
                }
                let msg = rx.receive().await?;
                outstanding -= 1;
                match msg {
                    Msg::Robots(rules, robots_report) => {
                        progress.robots.set(progress.robots.get() - 1);
                        let ready = RobotsState::Ready(rules);
                        if let Some(RobotsState::Pending(waiting)) =
                            robots.insert(robots_report.origin.clone(), ready)
                        {
                            admitted.extend(waiting);
                        }
                        report.robots.push(robots_report);
                    }
                    Msg::Page {
                        report: page,
                        links,
                    } => {
                        progress.done.set(progress.done.get() + 1);
                        if !matches!(page.outcome, PageOutcome::Fetched { .. }) {
                            progress.failed.set(progress.failed.get() + 1);
                        }
                        for link in links {
                            let link = normalize(link);
                            if seen.len() < config.max_pages
                                && in_scope(&start, &link)
                                && seen.insert(link.clone())
                            {
                                admitted.push(link);
                            }
                        }
                        report.pages.push(page);
                    }
                }
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
    shared.pool.close_idle().await;
    report.connections = shared.pool.stats();
    report.elapsed = current_time() - started;
    Ok(report)
}

fn draw_progress(p: &Progress) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[spider] {} done / {} queued, {} pending, {} failed, {} skipped, {} robots.txt \
         pending   ",
        p.done.get(),
        p.queued.get(),
        p.queued.get() - p.done.get(),
        p.failed.get(),
        p.skipped.get(),
        p.robots.get()
    );
    let _ = err.flush();
}

fn normalize(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// The path and query, as robots.txt rules see them.
fn target_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Same host (any port), http or https.
fn in_scope(start: &Url, link: &Url) -> bool {
    matches!(link.scheme(), "http" | "https") && link.host_str() == start.host_str()
}

/// GETs `url` with the retry policy: each attempt holds a limiter token and runs under
/// the request deadline; time-outs, errors and 5xx are retried after a back-off (holding
/// no token). Returns the last attempt's outcome and the number of attempts; `Err` only
/// for cancellation.
async fn fetch_with_retries(
    url: &Url,
    shared: &Shared,
) -> Result<(Result<http_fetch::Response>, u32)> {
    let config = &shared.config;
    let mut attempts = 0;
    loop {
        attempts += 1;
        shared.limiter.acquire().await?;
        let r = fail_after(config.request_timeout, shared.pool.get(url)).await;
        shared.limiter.release()?;
        let retryable = match &r {
            Ok(resp) => resp.status >= 500,
            Err(e) if e.is_cancelled() => return Err(Error::cancelled()),
            Err(_) => true,
        };
        if !retryable || attempts > config.retries {
            return Ok((r, attempts));
        }
        let wait = config.backoff * 2u32.saturating_pow(attempts - 1);
        sleep(wait).await?;
    }
}

async fn fetch_task(url: Url, shared: Rc<Shared>, results: MemorySendChannel<Msg>) -> Result<()> {
    let (outcome, attempts) = fetch_with_retries(&url, &shared).await?;
    let (outcome, links) = match outcome {
        Ok(resp) => {
            let mut links = if is_html(&resp) {
                extract_links(&url, &resp.body)
            } else {
                Vec::new()
            };
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
    let report = PageReport {
        url,
        outcome,
        attempts,
    };
    results
        .send(Msg::Page { report, links })
        .await
        .map_err(Error::from)
}

/// Fetches `origin`'s robots.txt (following up to 5 redirects) and sends its rules.
async fn robots_task(
    origin: String,
    shared: Rc<Shared>,
    results: MemorySendChannel<Msg>,
) -> Result<()> {
    const MAX_REDIRECTS: usize = 5;
    let mut url = Url::parse(&origin)
        .and_then(|o| o.join("/robots.txt"))
        .map_err(|e| Error::with_source(ErrorKind::Other, format!("bad origin {origin}"), e))?;
    let mut redirects = 0;
    let (rules, outcome) = loop {
        let (r, _attempts) = fetch_with_retries(&url, &shared).await?;
        match r {
            Ok(resp) if (200..300).contains(&resp.status) => {
                let rules = Robots::parse(&String::from_utf8_lossy(&resp.body), USER_AGENT);
                let n = rules.rules();
                break (rules, RobotsOutcome::Found { rules: n });
            }
            Ok(resp) if (300..400).contains(&resp.status) && redirects < MAX_REDIRECTS => {
                match resp.header("location").and_then(|l| url.join(l).ok()) {
                    Some(to) => {
                        redirects += 1;
                        url = to;
                    }
                    None => break (Robots::allow_all(), RobotsOutcome::Missing(resp.status)),
                }
            }
            Ok(resp) if resp.status >= 500 => {
                break (
                    Robots::disallow_all(),
                    RobotsOutcome::ServerError(resp.status),
                )
            }
            Ok(resp) => break (Robots::allow_all(), RobotsOutcome::Missing(resp.status)),
            Err(e) => {
                break (
                    Robots::allow_all(),
                    RobotsOutcome::Unreachable(e.to_string()),
                )
            }
        }
    };
    let report = RobotsReport { origin, outcome };
    results
        .send(Msg::Robots(Rc::new(rules), report))
        .await
        .map_err(Error::from)
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
