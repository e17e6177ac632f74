//! The long-running example programs stop cleanly on Ctrl-C (SIGINT) and SIGTERM: each
//! is started as a user would, used a little, signalled from outside once it said it is
//! ready, and must exit 0 promptly with one "shutting down" line, having closed its
//! connections gracefully and left no process behind. `--for` / `--deadline` still work.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::example_binary;

/// How long any step may take before the test gives up (generous: a loaded machine).
const PATIENCE: Duration = Duration::from_secs(20);

/// An example program running as a child, its stdout read line by line on a thread.
struct Program {
    child: Option<Child>,
    pid: u32,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Program {
    fn start(name: &str, args: &[&str]) -> Program {
        let mut child = Command::new(example_binary(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Program {
            pid: child.id(),
            child: Some(child),
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line containing `text`; returns it.
    fn wait_for(&mut self, text: &str) -> String {
        let until = Instant::now() + PATIENCE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with {text:?} ({e}); output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid.to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{sig} {} failed", self.pid);
    }

    /// Waits for the exit; returns the status, how long it took, and all the output.
    fn wait_exit(&mut self) -> (ExitStatus, Duration, String) {
        let began = Instant::now();
        let mut child = self.child.take().expect("not waited yet");
        let (tx, rx) = channel();
        let waiter = std::thread::spawn(move || {
            let status = child.wait();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = tx.send(());
            (status, err)
        });
        if rx.recv_timeout(PATIENCE).is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let took = began.elapsed();
        let (status, stderr) = waiter.join().expect("waiter thread");
        // The reader thread ends at EOF, after the exit.
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
        let all = format!("{}\n--- stderr ---\n{stderr}", self.seen.join("\n"));
        (status.expect("wait for the example"), took, all)
    }

    /// Checks a clean signal stop: exit 0 within `deadline`, one "shutting down" line.
    fn expect_clean_stop(&mut self, name: &str, sig: &str, deadline: Duration) -> String {
        let (status, took, all) = self.wait_exit();
        assert!(status.success(), "{name} exited with {status:?}:\n{all}");
        assert!(took < deadline, "{name} took {took:?} to stop:\n{all}");
        let shutting_down: Vec<&str> = all
            .lines()
            .filter(|l| l.contains("shutting down"))
            .collect();
        assert_eq!(
            shutting_down,
            [format!("{name}: shutting down ({sig})")],
            "{all}"
        );
        all
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The port in a line like `... 127.0.0.1:PORT/...`.
fn port_in(line: &str) -> u16 {
    let after = line
        .split("127.0.0.1:")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a port number")
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the example");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Every living (not zombie) descendant of `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let all = common::processes();
    let mut parents = vec![pid];
    let mut found = Vec::new();
    while let Some(parent) = parents.pop() {
        for &(p, ppid, state) in &all {
            if ppid == parent && state != 'Z' {
                found.push(p);
                parents.push(p);
            }
        }
    }
    found
}

#[test]
fn echo_server_stops_on_sigint_and_closes_its_connections() {
    let mut server = Program::start("echo_server", &["0"]);
    let port = port_in(&server.wait_for("echo server listening on"));
    let mut client = connect(port);
    client.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    server.signal("INT");
    let all = server.expect_clean_stop("echo server", "SIGINT", Duration::from_secs(5));
    assert!(all.contains("echo server stopped"), "{all}");
    // The connection was closed, not reset: a clean end of stream.
    assert_eq!(client.read(&mut buf).expect("clean EOF, not an error"), 0);
}

#[test]
fn hyper_server_stops_on_sigterm_and_closes_idle_keep_alive_connections() {
    let mut server = Program::start("hyper_server", &["--port", "0"]);
    let port = port_in(&server.wait_for("listening on http://"));
    let mut client = connect(port);
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("hello from hyper") {
        let n = client.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before the response");
        got.extend_from_slice(&buf[..n]);
    }
    // The connection is now idle and kept alive; the signal must end it too.
    server.signal("TERM");
    let all = server.expect_clean_stop("hyper server", "SIGTERM", Duration::from_secs(5));
    assert!(all.contains("server stopped"), "{all}");
    assert_eq!(client.read(&mut buf).expect("clean EOF, not an error"), 0);
}

#[test]
fn ws_chat_stops_on_sigint_saying_goodbye_to_every_client() {
    let mut server = Program::start("ws_chat", &["--port", "0"]);
    let port = port_in(&server.wait_for("chat on ws://"));
    let (mut ws, _) =
        tungstenite::connect(format!("ws://127.0.0.1:{port}/lobby?nick=ann")).expect("connect");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(PATIENCE)).unwrap();
    }
    let joined = ws.read().expect("the join announcement");
    assert_eq!(joined.into_text().unwrap().as_str(), "* ann joined #lobby");
    server.signal("INT");
    let close = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(frame)) => break frame,
            Ok(_) => continue,
            Err(e) => panic!("no close frame before the connection ended: {e}"),
        }
    };
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1001);
    let all = server.expect_clean_stop("chat server", "SIGINT", Duration::from_secs(5));
    assert!(all.contains("chat server stopped"), "{all}");
}

#[test]
fn spider_stops_on_sigint_in_the_middle_of_a_crawl() {
    // A host that accepts (the kernel's backlog) and never answers: the crawl would wait
    // its 30 s deadline per request.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let mut spider = Program::start("spider", &[&url, "--timeout", "30", "--quiet"]);
    spider.wait_for("crawling http://");
    spider.signal("INT");
    let all = spider.expect_clean_stop("spider", "SIGINT", Duration::from_secs(5));
    assert!(all.contains("crawl cancelled"), "{all}");
}

#[test]
fn supervisor_stops_every_worker_on_an_outside_sigterm() {
    let mut sup = Program::start("supervisor", &["2"]);
    sup.wait_for("[worker 1] ");
    sup.wait_for("[worker 2] ");
    let workers = descendants(sup.pid);
    assert!(workers.len() >= 2, "no worker processes found");
    sup.signal("TERM");
    let (status, took, all) = sup.wait_exit();
    assert!(
        status.success(),
        "supervisor exited with {status:?}:\n{all}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}:\n{all}");
    assert!(
        all.contains("[supervisor] SIGTERM: stopping all workers"),
        "{all}"
    );
    assert!(all.contains("all workers stopped"), "{all}");
    let living: Vec<u32> = common::processes()
        .into_iter()
        .filter(|&(_, _, state)| state != 'Z')
        .map(|(pid, _, _)| pid)
        .collect();
    let left: Vec<u32> = workers.into_iter().filter(|p| living.contains(p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}\n{all}");
}

#[test]
fn for_and_deadline_still_stop_the_programs_without_a_signal() {
    let mut chat = Program::start("ws_chat", &["--port", "0", "--for", "0.3"]);
    let (status, _, all) = chat.wait_exit();
    assert!(status.success(), "{all}");
    assert!(all.contains("chat server stopped"), "{all}");
    assert!(!all.contains("shutting down"), "{all}");

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let mut spider = Program::start("spider", &[&url, "--deadline", "0.3", "--quiet"]);
    let (status, _, all) = spider.wait_exit();
    assert!(status.success(), "{all}");
    assert!(all.contains("the --deadline passed"), "{all}");
}
