//! The spider against a foreign server: Python's `http.server` serving a generated site
//! of 200 linked pages, plus a host that accepts connections and never answers.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use common::{python_http_server, python_https_server, run_checked, serial, TempDir};
use trio_examples::spider::{crawl, PageOutcome, SpiderConfig};
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
fn spider_finds_every_page_once_and_reports_a_silent_host_as_timed_out() {
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
    let (mut server, port) = python_http_server(&www, &log_path);

    let start = Url::parse(&format!("http://127.0.0.1:{port}/index.html")).unwrap();
    let mut config = SpiderConfig::new(start);
    config.concurrency = 8;
    config.request_timeout = Duration::from_millis(1000);
    config.retries = 1;
    config.backoff = Duration::from_millis(50);
    config.progress = true;
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

    // The foreign side agrees: each page was requested exactly once.
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
    assert_eq!(counts.values().sum::<usize>(), expected_pages);
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

#[test]
fn spider_crawls_https_through_trio_tls() {
    let _serial = serial();
    let dir = TempDir::new("spider-tls");
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    for i in 0..20 {
        let next = format!(
            "<a href=\"p{}.html\">next</a> <a href=\"/\">home</a>",
            (i + 1) % 20
        );
        std::fs::write(www.join(format!("p{i}.html")), next).unwrap();
    }
    std::fs::write(www.join("index.html"), "<a href='p0.html'>start</a>").unwrap();
    let ca = trio_testing::TestCa::new();
    let (cert, key) = ca.issue_leaf(&["127.0.0.1"]);
    std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
    std::fs::write(dir.path().join("key.pem"), key).unwrap();
    let (mut server, port) = python_https_server(
        &www,
        &dir.path().join("log"),
        &dir.path().join("cert.pem"),
        &dir.path().join("key.pem"),
    );
    let mut config = SpiderConfig::new(Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap());
    config.tls = Some(ca.client_config());
    config.retries = 0;
    let report = run_checked(move || crawl(config));
    server.stop();
    assert_eq!(report.fetched(), 21, "{report}"); // "/" (the index) and p0..p19
    assert_eq!(report.failed() + report.timed_out(), 0, "{report}");
}
