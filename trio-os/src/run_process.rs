//! `run_process`: run a command to completion, feeding stdin and capturing output
//! concurrently, with Trio's kill-on-cancel: SIGTERM, a grace period, SIGKILL, and always
//! a reaped child before the cancellation propagates.

use std::cell::RefCell;
use std::fmt;
use std::process::{ExitStatus, Stdio};
use std::rc::Rc;

use trio_core::{open_nursery, AsyncResource, Error, ErrorKind, ReceiveStream, Result, SendStream};

use crate::command::Command;
use crate::pipe::PipeReceiveStream;
use crate::process::open_process;

/// What a finished [`run_process`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedProcess {
    /// How the child exited.
    pub status: ExitStatus,
    /// Its stdout, if `capture_stdout` was set (else empty).
    pub stdout: Vec<u8>,
    /// Its stderr, if `capture_stderr` was set (else empty).
    pub stderr: Vec<u8>,
}

/// The source of the error [`run_process`] returns when `check` is on and the child did
/// not exit successfully. Reach it with `error.downcast_ref::<CalledProcessError>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalledProcessError {
    /// The command line.
    pub command: String,
    /// How the child exited.
    pub status: ExitStatus,
    /// Its captured stdout (empty unless captured).
    pub stdout: Vec<u8>,
    /// Its captured stderr (empty unless captured).
    pub stderr: Vec<u8>,
}

impl fmt::Display for CalledProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "command `{}` failed: {}", self.command, self.status)?;
        if !self.stderr.is_empty() {
            let text = String::from_utf8_lossy(&self.stderr);
            write!(f, "; stderr: {}", text.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for CalledProcessError {}

/// Runs `cmd` to completion and returns its status and captured output. A checkpoint.
///
/// * stdin: the [`Command::stdin_bytes`], then end of file; empty if none were given
///   (unless [`Command::stdin`] redirected it).
/// * stdout/stderr: captured with [`Command::capture_stdout`]/[`Command::capture_stderr`],
///   otherwise as configured (inherited by default). Capturing a stream that was also
///   redirected is an error.
/// * `check` (on by default): an unsuccessful exit is an error of kind `Other` whose
///   source is a [`CalledProcessError`] holding the status and the captured output.
/// * Cancelled (or a pipe failed): the child gets SIGTERM, then SIGKILL after
///   [`Command::kill_grace`] (5 s by default), and is reaped before the error propagates,
///   so no child outlives the call and none is left a zombie.
///
/// ```
/// use trio_os::{run_process, Command, CalledProcessError};
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let out = run_process(Command::new("sh").args(["-c", "echo hi"]).capture_stdout(true)).await?;
///     assert_eq!(out.stdout, b"hi\n");
///
///     let err = run_process(&mut Command::new("false")).await.unwrap_err();
///     let failed = err.downcast_ref::<CalledProcessError>().unwrap();
///     assert_eq!(failed.status.code(), Some(1));
///     Ok(())
/// })
/// # }
/// ```
pub async fn run_process(cmd: &mut Command) -> Result<CompletedProcess> {
    for (i, (capture, name)) in [
        (cmd.capture_stdout, "stdout"),
        (cmd.capture_stderr, "stderr"),
    ]
    .into_iter()
    .enumerate()
    {
        if capture && cmd.redirected[i + 1] {
            return Err(Error::msg(format!(
                "run_process: capture_{name} conflicts with an explicit {name} redirection"
            )));
        }
    }
    if cmd.stdin_bytes.is_some() && cmd.redirected[0] {
        return Err(Error::msg(
            "run_process: stdin_bytes conflicts with an explicit stdin redirection",
        ));
    }
    let input = cmd.stdin_bytes.clone().filter(|b| !b.is_empty());
    if input.is_some() {
        cmd.inner.stdin(Stdio::piped());
    } else if !cmd.redirected[0] {
        cmd.inner.stdin(Stdio::null());
    }
    if cmd.capture_stdout {
        cmd.inner.stdout(Stdio::piped());
    }
    if cmd.capture_stderr {
        cmd.inner.stderr(Stdio::piped());
    }
    let grace = cmd.kill_grace;
    let mut process = open_process(cmd).await?;
    let stdin = process.stdin.take();
    let stdout = process.stdout.take();
    let stderr = process.stderr.take();
    let process = Rc::new(process);
    let out = Rc::new(RefCell::new(Vec::new()));
    let err = Rc::new(RefCell::new(Vec::new()));

    let status = open_nursery(|nursery| {
        let (process, out, err) = (process.clone(), out.clone(), err.clone());
        async move {
            if let (Some(stdin), Some(input)) = (stdin, input) {
                nursery.start_soon(async move {
                    match stdin.send_all(&input).await {
                        // The child exited (or closed stdin) without reading it all: fine.
                        Err(e) if e.kind() == ErrorKind::BrokenResource => {}
                        other => other?,
                    }
                    stdin.aclose().await
                });
            }
            if let Some(stdout) = stdout {
                nursery.start_soon(collect(stdout, out));
            }
            if let Some(stderr) = stderr {
                nursery.start_soon(collect(stderr, err));
            }
            match process.wait().await {
                Ok(status) => Ok(status),
                Err(e) => {
                    // Cancelled (from outside, or because a pipe task failed): end the
                    // child and reap it before letting the error go.
                    process.terminate_then_kill(grace).await?;
                    Err(e)
                }
            }
        }
    })
    .await?
    .ok_or_else(|| {
        Error::new(
            ErrorKind::Internal,
            "run_process: nursery absorbed its body",
        )
    })?;

    let stdout = std::mem::take(&mut *out.borrow_mut());
    let stderr = std::mem::take(&mut *err.borrow_mut());
    if cmd.check && !status.success() {
        return Err(Error::from(CalledProcessError {
            command: process.command().to_owned(),
            status,
            stdout,
            stderr,
        }));
    }
    Ok(CompletedProcess {
        status,
        stdout,
        stderr,
    })
}

async fn collect(stream: PipeReceiveStream, sink: Rc<RefCell<Vec<u8>>>) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.receive_some(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        sink.borrow_mut().extend_from_slice(&buf[..n]);
    }
}
