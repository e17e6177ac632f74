//! The spider against a foreign server: Python's `http.server` serving a generated site
//! of 200 linked pages, plus a host that accepts connections and never answers; its
//! keep-alive connections (reused, retired, resent when stale) and its robots.txt
//! obedience, counted on the server's side.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use common::{accepted_connections, python_server, run_checked, serial, PyServer, TempDir};
use trio_examples::spider::{crawl, PageOutcome, RobotsOutcome, SpiderConfig};
use url::Url;

const PAGES: usize = 200;

/// Writes `index.html` and `p0.html` .. `p199.html`. Every page is reachable through the
/// chain p(i) -> p(i+1); the other links (absolute, relative, with fragments, repeated)
/// make pages found many times over. p100 links to a host that never answers.
fn generate_site(dir: &Path, stall_port: u16) {
    let page = |links: &[String]| {
        let mut s = String::from("<!doctype html>\n<html><body>\n");
        for l in links {
            let _ = writeln!(s, "<a href=\"{l}\">{l}</a>");
        }
        s.push_str("</body></html>\n");
        s
    };
    std::fs::write(
        dir.join("index.html"),
        page(&["p0.html".into(), "/p1.html#top".into(), "index.html".into()]),
    )
    .unwrap();
    for i in 0..PAGES {
        let mut links = vec![
            format!("p{}.html", (i + 1) % PAGES),
            format!("/p{}.html#s{i}", (2 * i + 1) % PAGES),
            format!("./p{}.html", (7 * i + 3) % PAGES),
            format!("p{}.html", (i + 1) % PAGES),
            "/".to_string(),
            "mailto:nobody@example.invalid".to_string(),
        ];
        if i == 100 {
            links.push(format!("http://127.0.0.1:{stall_port}/never.html"));
        }
        std::fs::write(dir.join(format!("p{i}.html")), page(&links)).unwrap();
    }
}

/// Counts the `GET /path` lines of http.server's request log.
fn requests_in_log(log: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in log.lines() {
        if let Some(rest) = line.split("\"GET ").nth(1) {
            if let Some(path) = rest.split_whitespace().next() {
                *counts.entry(path.to_string()).or_insert(0) += 1;
            }
        }
    }
    counts
}

#[test]
fn spider_finds_every_page_once_on_reused_connections_and_reports_a_silent_host_as_timed_out() {
    let _serial = serial();
    let site = TempDir::new("spider-site");
    // The silent host: a listener nobody accepts on. The kernel completes the TCP
    // handshake (the backlog), and no byte ever comes back.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stall_port = silent.local_addr().unwrap().port();
    let www = site.path().join("www");
    std::fs::create_dir(&www).unwrap();
    generate_site(&www, stall_port);
    let log_path = site.path().join("requests.log");
    let http11 = PyServer {
        http11: true,
        ..PyServer::default()
    };
    let (mut server, port) = python_server(&www, &log_path, &http11);

    let start = Url::parse(&format!("http://127.0.0.1:{port}/index.html")).unwrap();
    let mut config = SpiderConfig::new(start);
    config.concurrency = 8;
    config.request_timeout = Duration::from_millis(1000);
    config.retries = 1;
    config.backoff = Duration::from_millis(50);
    config.progress = true;
    // Counting connections below: no idle connection may expire, however slow the machine.
    config.idle_timeout = Duration::from_secs(600);
    let report = run_checked(move || crawl(config));
    server.stop();
    drop(silent);
    println!("{report}");

    // Every page exactly once in the report.
    let mut by_path: HashMap<String, Vec<&PageOutcome>> = HashMap::new();
    for p in &report.pages {
        let key = format!("{}:{}", p.url.port().unwrap_or(80), p.url.path());
        by_path.entry(key).or_default().push(&p.outcome);
    }
    for (k, v) in &by_path {
        assert_eq!(v.len(), 1, "{k} reported {} times", v.len());
    }
    let expected_pages = PAGES + 2; // p0..p199, index.html, "/"
    assert_eq!(report.fetched(), expected_pages, "fetched pages:\n{report}");
    for i in 0..PAGES {
        let key = format!("{port}:/p{i}.html");
        assert!(
            matches!(
                by_path.get(&key).map(|v| v[0]),
                Some(PageOutcome::Fetched { status: 200, .. })
            ),
            "page p{i}.html missing or failed:\n{report}"
        );
    }
    // The silent host: timed out, after the one retry; the rest completed meanwhile.
    let never = report
        .pages
        .iter()
        .find(|p| p.url.path() == "/never.html")
        .expect("the link to the silent host was followed");
    assert_eq!(never.outcome, PageOutcome::TimedOut);
    assert_eq!(never.attempts, 2);
    assert_eq!(report.timed_out(), 1);
    assert_eq!(report.failed(), 0);
    assert_eq!(report.skipped(), 0);
    // No robots.txt on the site (404): everything allowed; the silent host's never
    // answered: crawled without rules (which is how never.html got its time-out).
    let robots: HashMap<&str, &RobotsOutcome> = report
        .robots
        .iter()
        .map(|r| (r.origin.as_str(), &r.outcome))
        .collect();
    assert_eq!(robots.len(), 2, "{report}");
    assert_eq!(
        robots[format!("http://127.0.0.1:{port}").as_str()],
        &RobotsOutcome::Missing(404)
    );
    assert!(matches!(
        robots[format!("http://127.0.0.1:{stall_port}").as_str()],
        RobotsOutcome::Unreachable(_)
    ));

    // The foreign side agrees: each page was requested exactly once, robots.txt too.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let counts = requests_in_log(&log);
    for i in 0..PAGES {
        assert_eq!(
            counts.get(&format!("/p{i}.html")).copied(),
            Some(1),
            "http.server saw /p{i}.html {:?} times",
            counts.get(&format!("/p{i}.html"))
        );
    }
    assert_eq!(counts.get("/robots.txt").copied(), Some(1));
    assert_eq!(counts.values().sum::<usize>(), expected_pages + 1);

    // Keep-alive: 203 requests over a handful of connections (at most one per request in
    // flight, plus the one the 404's `Connection: close` retired), counted by the server.
    let accepted = accepted_connections(&log);
    assert!(
        accepted <= 8 + 1,
        "{accepted} connections for {} requests: keep-alive is not reusing them",
        expected_pages + 1
    );
    // The spider's own count agrees; the silent host took one connection per attempt
    // (two for its robots.txt, two for never.html: a timed-out request retires its
    // connection).
    assert_eq!(report.connections.opened, accepted + 4, "{report}");
    assert_eq!(report.connections.stale_retries, 0, "{report}");
}

/// A site of `n` chained pages behind an index, in `dir`.
fn chain_site(dir: &Path, n: usize) {
    for i in 0..n {
        let next = format!(
            "<a href=\"p{}.html\">next</a> <a href=\"/\">home</a>",
            (i + 1) % n
        );
        std::fs::write(dir.join(format!("p{i}.html")), next).unwrap();
    }
    std::fs::write(dir.join("index.html"), "<a href='p0.html'>start</a>").unwrap();
}

#[test]
fn a_request_on_a_connection_the_server_closed_is_resent_once_without_counting_as_a_retry() {
    let _serial = serial();
    let dir = TempDir::new("spider-stale");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    chain_site(&www, 30);
    let log_path = dir.path().join("log");
    // HTTP/1.1 without `Connection: close`, yet one request per connection: every
    // connection the spider keeps is dead by the time it reuses it.
    let opts = PyServer {
        http11: true,
        one_request_per_connection: true,
        ..PyServer::default()
    };
    let (mut server, port) = python_server(&www, &log_path, &opts);
    let mut config = SpiderConfig::new(Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap());
    // One request at a time, so every request after the first finds an idle connection;
    // no retries, so a stale connection must not cost the page anything.
    config.concurrency = 1;
    config.retries = 0;
    let report = run_checked(move || crawl(config));
    server.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(report.fetched(), 31, "{report}"); // "/" and p0..p29
    assert_eq!(report.failed() + report.timed_out(), 0, "{report}");
    assert!(report.pages.iter().all(|p| p.attempts == 1), "{report}");
    // robots.txt (404, `Connection: close`) was not kept; each of the 31 pages after the
    // first found its kept connection dead and was resent on a new one.
    assert_eq!(report.connections.stale_retries, 30, "{report}");
    assert_eq!(report.connections.opened, 32, "{report}");
    assert_eq!(accepted_connections(&log), 32);
    let counts = requests_in_log(&log);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

#[test]
fn idle_connections_older_than_the_idle_timeout_are_not_reused() {
    let _serial = serial();
    let dir = TempDir::new("spider-idle");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    chain_site(&www, 10);
    let log_path = dir.path().join("log");
    let opts = PyServer {
        http11: true,
        ..PyServer::default()
    };
    let (mut server, port) = python_server(&www, &log_path, &opts);
    let mut config = SpiderConfig::new(Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap());
    config.concurrency = 1;
    // Every kept connection has expired by the time the next request wants it.
    config.idle_timeout = Duration::ZERO;
    let report = run_checked(move || crawl(config));
    server.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(report.fetched(), 11, "{report}");
    assert_eq!(report.connections.reused, 0, "{report}");
    assert_eq!(report.connections.opened, 12, "{report}"); // and robots.txt
    assert_eq!(accepted_connections(&log), 12);
}

/// `robots.txt` for the robots test: our own group is stricter than nothing and looser
/// than `*`, so obeying the wrong group (or none) fails the test.
const ROBOTS_TXT: &str = "\
# Everybody else: stay out.
User-agent: *
Disallow: /

User-agent: some-other-bot
User-agent: Trio-RS-Spider   # us, whatever the case
Disallow: /private/
Allow: /private/open/   # longer than /private/: wins
Disallow: /*.pdf$
Sitemap: http://example.invalid/sitemap.xml
";

#[test]
fn pages_robots_txt_disallows_are_skipped_and_never_requested() {
    let _serial = serial();
    let dir = TempDir::new("spider-robots");
    let www = dir.path().join("www");
    std::fs::create_dir_all(www.join("private/open")).unwrap();
    std::fs::write(www.join("robots.txt"), ROBOTS_TXT).unwrap();
    let mut index = String::new();
    for href in [
        "p0.html",
        "p1.html",
        "private/a.html",
        "private/b.html",
        "private/open/c.html",
        "doc.pdf",
        "doc.pdf.html",
    ] {
        let _ = writeln!(index, "<a href=\"{href}\">{href}</a>");
    }
    std::fs::write(www.join("index.html"), &index).unwrap();
    // Every page links back and to a page only reachable through a private one.
    let back = "<a href=\"/index.html\">home</a> <a href=\"/private/deeper.html\">x</a>";
    for page in ["p0.html", "p1.html", "private/open/c.html", "doc.pdf.html"] {
        std::fs::write(www.join(page), back).unwrap();
    }
    for page in ["private/a.html", "private/b.html", "private/deeper.html"] {
        std::fs::write(www.join(page), "<a href=\"/secret.html\">s</a>").unwrap();
    }
    std::fs::write(www.join("doc.pdf"), "%PDF-1.4").unwrap();
    std::fs::write(www.join("secret.html"), "secret").unwrap();
    let log_path = dir.path().join("log");
    let (mut server, port) = python_server(&www, &log_path, &PyServer::default());
    let start = Url::parse(&format!("http://127.0.0.1:{port}/index.html")).unwrap();
    let config = SpiderConfig::new(start);
    let report = run_checked(move || crawl(config));
    server.stop();

    let outcome = |path: &str| {
        let found: Vec<&PageOutcome> = report
            .pages
            .iter()
            .filter(|p| p.url.path() == path)
            .map(|p| &p.outcome)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{path} reported {} times:\n{report}",
            found.len()
        );
        found[0].clone()
    };
    for allowed in [
        "/index.html",
        "/p0.html",
        "/p1.html",
        "/private/open/c.html",
        "/doc.pdf.html",
    ] {
        assert!(
            matches!(outcome(allowed), PageOutcome::Fetched { status: 200, .. }),
            "{allowed} was not fetched:\n{report}"
        );
    }
    for disallowed in [
        "/private/a.html",
        "/private/b.html",
        "/private/deeper.html",
        "/doc.pdf",
    ] {
        assert_eq!(outcome(disallowed), PageOutcome::Skipped, "{disallowed}");
    }
    assert_eq!(report.pages.len(), 9, "{report}");
    assert_eq!(report.skipped(), 4, "{report}");
    assert!(report
        .pages
        .iter()
        .all(|p| (p.attempts == 0) == (p.outcome == PageOutcome::Skipped)));
    assert_eq!(report.robots.len(), 1);
    assert_eq!(report.robots[0].outcome, RobotsOutcome::Found { rules: 3 });

    // The server never saw a request for a disallowed page, and robots.txt came first.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let counts = requests_in_log(&log);
    for path in [
        "/private/a.html",
        "/private/b.html",
        "/private/deeper.html",
        "/doc.pdf",
        "/secret.html",
    ] {
        assert_eq!(counts.get(path), None, "{path} was requested");
    }
    assert_eq!(counts.get("/robots.txt").copied(), Some(1));
    assert_eq!(counts.values().sum::<usize>(), 6);
    let first = log.lines().find(|l| l.contains("\"GET ")).unwrap();
    assert!(first.contains("GET /robots.txt"), "first request: {first}");
}

#[test]
fn cancelling_the_crawl_ends_it_promptly_and_closes_every_connection() {
    let _serial = serial();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let start = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let mut config = SpiderConfig::new(start);
    config.request_timeout = Duration::from_secs(30);
    let began = std::time::Instant::now();
    let outcome = run_checked(move || async move {
        trio_core::move_on_after(Duration::from_millis(200), crawl(config)).await
    });
    assert!(outcome.is_none(), "the crawl should have been cancelled");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "cancellation took {:?}",
        began.elapsed()
    );
}

/// Crawls a 20-page site over HTTPS (a certificate from a test CA); returns the report
/// and how many connections the server accepted.
fn crawl_https_site(http11: bool) -> (trio_examples::spider::CrawlReport, usize) {
    let dir = TempDir::new("spider-tls");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    chain_site(&www, 20);
    let ca = trio_testing::TestCa::new();
    let (cert, key) = ca.issue_leaf(&["127.0.0.1"]);
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let opts = PyServer {
        http11,
        tls: Some((dir.path().join("cert.pem"), dir.path().join("key.pem"))),
        ..PyServer::default()
    };
    let log_path = dir.path().join("log");
    let (mut server, port) = python_server(&www, &log_path, &opts);
    let mut config = SpiderConfig::new(Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap());
    config.tls = Some(ca.client_config());
    config.retries = 0;
    config.idle_timeout = Duration::from_secs(600);
    let report = run_checked(move || crawl(config));
    server.stop();
    assert_eq!(report.fetched(), 21, "{report}"); // "/" (the index) and p0..p19
    assert_eq!(report.failed() + report.timed_out(), 0, "{report}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(requests_in_log(&log).values().sum::<usize>(), 22); // and robots.txt
    (report, accepted_connections(&log))
}

#[test]
fn spider_crawls_https_through_trio_tls_reusing_connections() {
    let _serial = serial();
    let (report, accepted) = crawl_https_site(true);
    // 22 requests; at most 10 in flight, plus the one robots.txt's 404 retired.
    assert!(accepted <= 11, "{accepted} TLS connections for 22 requests");
    assert_eq!(report.connections.opened, accepted);
    assert!(report.connections.reused >= 22 - accepted, "{report}");
}

#[test]
fn an_http_1_0_server_gets_a_new_connection_for_every_request() {
    let _serial = serial();
    // http.server's default: HTTP/1.0, which closes after each response.
    let (report, accepted) = crawl_https_site(false);
    assert_eq!(accepted, 22);
    assert_eq!(report.connections.opened, 22);
    assert_eq!(report.connections.reused, 0, "{report}");
}
