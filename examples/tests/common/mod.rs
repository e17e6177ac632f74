//! Shared test helpers: foreign peers (Python servers and clients) as child processes,
//! temporary directories, and leak checks (open file descriptors, living tasks).

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

/// Tests in one binary run on parallel threads; fd counts are per process, so the tests
/// that count them take this lock.
static SERIAL: Mutex<()> = Mutex::new(());

/// Serializes the tests of one binary.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The Python interpreter for foreign peers: `$TRIO_RS_PYTHON` (the venv `.ci/run`
/// prepares), else the workspace's `.venv`, else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIO_RS_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// Whether `python()` can import `module`.
pub fn python_has(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How many file descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable on Linux")
        .count()
}

/// Every process's `(pid, parent pid, state letter)`, read from `/proc/<pid>/stat`.
pub fn processes() -> Vec<(u32, u32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc is readable on Linux")
        .flatten()
    {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let mut fields = stat
            .rfind(')')
            .map(|i| stat[i + 1..].split_whitespace())
            .into_iter()
            .flatten();
        let state = fields.next().and_then(|s| s.chars().next());
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if let (Some(state), Some(ppid)) = (state, ppid) {
            out.push((pid, ppid, state));
        }
    }
    out
}

/// The pids of this process's children (zombies included: an unreaped child is left
/// behind too).
pub fn child_processes() -> Vec<u32> {
    let me = std::process::id();
    let mut out: Vec<u32> = processes()
        .into_iter()
        .filter(|&(_, ppid, _)| ppid == me)
        .map(|(pid, _, _)| pid)
        .collect();
    out.sort_unstable();
    out
}

/// `target/<profile>/examples/<name>`, built by `cargo test` alongside the tests.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "example binary {} not found: build it with `cargo build --examples` (cargo test does)",
        path.display()
    );
    path
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "trio-examples-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed and reaped on drop (so no child is left behind even when an
/// assertion fails).
pub struct ChildGuard {
    pub child: Child,
    pub stdout: Option<BufReader<ChildStdout>>,
}

impl ChildGuard {
    /// Kills the child and waits for it; returns its stderr if it was piped.
    pub fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }

    /// Reads one line of the child's stdout.
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .as_mut()
            .expect("stdout piped")
            .read_line(&mut line)
            .expect("read child stdout");
        line
    }

    /// Whether the child has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Python's `http.server` on a free loopback port serving `dir`, its request log
/// going to `log`. Returns the guard and the port.
pub fn python_http_server(dir: &Path, log: &Path) -> (ChildGuard, u16) {
    python_server(dir, log, &PyServer::default())
}

/// As [`python_http_server`], serving HTTPS with the given certificate chain and key
/// (PEM files).
pub fn python_https_server(dir: &Path, log: &Path, cert: &Path, key: &Path) -> (ChildGuard, u16) {
    let opts = PyServer {
        tls: Some((cert.to_path_buf(), key.to_path_buf())),
        ..PyServer::default()
    };
    python_server(dir, log, &opts)
}

/// How [`python_server`] runs `http.server`.
#[derive(Default)]
pub struct PyServer {
    /// Speak HTTP/1.1 (persistent connections) instead of http.server's default HTTP/1.0.
    pub http11: bool,
    /// Answer one request per connection, then close it, without saying so (no
    /// `Connection: close`): every reused connection turns out to be dead.
    pub one_request_per_connection: bool,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Starts Python's `http.server` as `opts` says. Its log (`log`) has http.server's usual
/// request lines plus one `accepted connection` line per TCP connection accepted.
pub fn python_server(dir: &Path, log: &Path, opts: &PyServer) -> (ChildGuard, u16) {
    let log = std::fs::File::create(log).expect("create log");
    // `python -m http.server` itself, except for a listen backlog above socketserver's
    // default of 5, which drops connections (a 1 s SYN retransmit) under a burst, and the
    // options above.
    let script = "import functools, http.server, sys\n\
                  class S(http.server.ThreadingHTTPServer):\n\
                  \x20   request_queue_size = 128\n\
                  \x20   def get_request(self):\n\
                  \x20       r = super().get_request()\n\
                  \x20       sys.stderr.write('accepted connection from %s:%d\\n' % r[1][:2])\n\
                  \x20       return r\n\
                  class H(http.server.SimpleHTTPRequestHandler):\n\
                  \x20   protocol_version = sys.argv[2]\n\
                  \x20   def handle(self):\n\
                  \x20       if sys.argv[3] == 'once':\n\
                  \x20           self.handle_one_request()\n\
                  \x20       else:\n\
                  \x20           super().handle()\n\
                  h = functools.partial(H, directory=sys.argv[1])\n\
                  s = S(('127.0.0.1', 0), h)\n\
                  if len(sys.argv) > 4:\n\
                  \x20   import ssl\n\
                  \x20   c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
                  \x20   c.load_cert_chain(sys.argv[4], sys.argv[5])\n\
                  \x20   s.socket = c.wrap_socket(s.socket, server_side=True)\n\
                  print('Serving HTTP on 127.0.0.1 port', s.server_address[1], flush=True)\n\
                  s.serve_forever()\n";
    let mut cmd = Command::new(python());
    cmd.args(["-u", "-c", script]).arg(dir);
    cmd.arg(if opts.http11 { "HTTP/1.1" } else { "HTTP/1.0" });
    cmd.arg(if opts.one_request_per_connection {
        "once"
    } else {
        "many"
    });
    if let Some((cert, key)) = &opts.tls {
        cmd.arg(cert).arg(key);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start python3 -m http.server (is python3 installed?)");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut guard = ChildGuard {
        child,
        stdout: Some(stdout),
    };
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let line = guard.read_line();
    let port = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("could not read the port from http.server's banner {line:?}"));
    (guard, port)
}

/// How many connections a [`python_server`] accepted, from its log.
pub fn accepted_connections(log: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with("accepted connection"))
        .count()
}

/// Runs `main` on a trio loop and checks it leaves nothing behind: no task still alive
/// when it returns, the same number of open file descriptors afterwards, and no child
/// process it started still running or unreaped.
pub fn run_checked<F, Fut, T>(main: F) -> T
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = trio_core::Result<T>> + 'static,
    T: 'static,
{
    let fds_before = open_fds();
    let children_before = child_processes();
    let out = trio_core::run(|| {
        let fut = main();
        async move {
            let before = trio_core::lowlevel::current_statistics().tasks_living;
            let out = fut.await?;
            let mut after = trio_core::lowlevel::current_statistics().tasks_living;
            if trio_examples::hyper_rt::timer_driver_running() {
                after -= 1; // hyper's timer driver: one system task per run, by design
            }
            assert!(
                after <= before,
                "tasks left behind: {before} living before, {after} after"
            );
            Ok(out)
        }
    })
    .expect("trio run failed");
    // The run's poller is closed when `run` returns, but a worker thread (an abandoned
    // `to_thread` call, say) may still be letting go of a descriptor: give it time,
    // without sleeping. The bound is a generous last resort for a real leak (which then
    // costs this long once), not a timing assumption: on a loaded machine a thread can
    // wait hundreds of milliseconds for a core.
    let settle = std::time::Instant::now();
    let mut fds_after = open_fds();
    while fds_after != fds_before && settle.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::yield_now();
        fds_after = open_fds();
    }
    assert_eq!(
        fds_before, fds_after,
        "file descriptors leaked: {fds_before} open before the run, {fds_after} after"
    );
    let children_after = child_processes();
    assert_eq!(
        children_before, children_after,
        "child processes left behind by the run"
    );
    out
}
