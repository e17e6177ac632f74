//! `Command`: what to run and how, shaped like `std::process::Command` (which it wraps, so
//! `CommandExt` settings such as `process_group` or `uid` keep working through
//! [`Command::as_std_mut`]), plus what [`run_process`](crate::run_process) needs: bytes to
//! feed on stdin, which outputs to capture, whether a non-zero exit is an error, and how
//! long a cancelled child gets between SIGTERM and SIGKILL.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// The grace period between SIGTERM and SIGKILL when a child is cancelled (Trio's 5 s).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

/// A command to run, with its stdio and `run_process` options.
///
/// ```
/// use trio_os::{run_process, Command};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let done = run_process(Command::new("sh").arg("-c").arg("tr a-z A-Z")
///         .stdin_bytes("shout")
///         .capture_stdout(true))
///     .await?;
///     assert_eq!(done.stdout, b"SHOUT");
///     Ok(())
/// })
/// # }
/// ```
pub struct Command {
    pub(crate) inner: std::process::Command,
    pub(crate) stdin_bytes: Option<Vec<u8>>,
    pub(crate) capture_stdout: bool,
    pub(crate) capture_stderr: bool,
    pub(crate) check: bool,
    pub(crate) kill_grace: Duration,
    /// Whether the caller redirected each of stdin/stdout/stderr explicitly.
    pub(crate) redirected: [bool; 3],
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no slash), with no
    /// arguments, the parent's environment and working directory, `check` on and a 5 s
    /// kill grace.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Self {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.inner.current_dir(dir);
        self
    }

    /// Redirects the child's stdin. With `Stdio::piped()`, [`open_process`](crate::open_process)
    /// gives a [`PipeSendStream`](crate::PipeSendStream) in `Process::stdin`. Default:
    /// inherited for `open_process`, empty for `run_process`.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stdin(cfg);
        self.redirected[0] = true;
        self
    }

    /// Redirects the child's stdout (default: inherited). With `Stdio::piped()`,
    /// `Process::stdout` is a [`PipeReceiveStream`](crate::PipeReceiveStream).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stdout(cfg);
        self.redirected[1] = true;
        self
    }

    /// Redirects the child's stderr (default: inherited), as [`Command::stdout`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.inner.stderr(cfg);
        self.redirected[2] = true;
        self
    }

    /// For `run_process`: bytes written to the child's stdin, which is then closed. A
    /// child that exits without reading them all is not an error.
    pub fn stdin_bytes(&mut self, data: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin_bytes = Some(data.into());
        self
    }

    /// For `run_process`: collect the child's stdout into `CompletedProcess::stdout`.
    pub fn capture_stdout(&mut self, capture: bool) -> &mut Self {
        self.capture_stdout = capture;
        self
    }

    /// For `run_process`: collect the child's stderr into `CompletedProcess::stderr`.
    pub fn capture_stderr(&mut self, capture: bool) -> &mut Self {
        self.capture_stderr = capture;
        self
    }

    /// For `run_process`: whether an unsuccessful exit is an error (default `true`).
    pub fn check(&mut self, check: bool) -> &mut Self {
        self.check = check;
        self
    }

    /// How long a cancelled `run_process` waits after SIGTERM before sending SIGKILL
    /// (default [`DEFAULT_KILL_GRACE`], 5 s).
    pub fn kill_grace(&mut self, grace: Duration) -> &mut Self {
        self.kill_grace = grace;
        self
    }

    /// The wrapped `std::process::Command`, for settings this builder does not mirror
    /// (`std::os::unix::process::CommandExt`: `process_group`, `uid`, `arg0`, ...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }

    /// The wrapped `std::process::Command`.
    pub fn as_std(&self) -> &std::process::Command {
        &self.inner
    }

    /// The program and arguments, shell-like, for error messages.
    pub(crate) fn describe(&self) -> String {
        let mut s = self.inner.get_program().to_string_lossy().into_owned();
        for a in self.inner.get_args() {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std command, keeping everything set on it. Its stdio settings count as
    /// defaults: `run_process` still gives the child an empty stdin unless `stdin_bytes`
    /// is set or [`Command::stdin`] is called on the wrapper.
    fn from(inner: std::process::Command) -> Self {
        Command {
            inner,
            stdin_bytes: None,
            capture_stdout: false,
            capture_stderr: false,
            check: true,
            kill_grace: DEFAULT_KILL_GRACE,
            redirected: [false; 3],
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("command", &self.inner)
            .field("stdin_bytes", &self.stdin_bytes.as_ref().map(Vec::len))
            .field("capture_stdout", &self.capture_stdout)
            .field("capture_stderr", &self.capture_stderr)
            .field("check", &self.check)
            .field("kill_grace", &self.kill_grace)
            .finish()
    }
}
