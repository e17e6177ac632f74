//! `run_process`: output capture, `check`, stdin feeding, bad input, and kill-on-cancel.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use trio_core::{current_time, open_nursery, CancelScope, ErrorKind, ReceiveStream, Result};
use trio_os::{run_process, CalledProcessError, Command, PipeReceiveStream};

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

#[test]
fn captures_stdout_and_stderr_separately() -> Result<()> {
    trio_core::run(|| async {
        let done = run_process(
            sh("echo out; echo err >&2")
                .capture_stdout(true)
                .capture_stderr(true),
        )
        .await?;
        assert!(done.status.success());
        assert_eq!(done.stdout, b"out\n");
        assert_eq!(done.stderr, b"err\n");
        Ok(())
    })
}

#[test]
fn output_is_not_captured_unless_asked() -> Result<()> {
    trio_core::run(|| async {
        let done = run_process(&mut Command::new("true")).await?;
        assert!(done.status.success());
        assert!(done.stdout.is_empty() && done.stderr.is_empty());
        Ok(())
    })
}

#[test]
fn nonzero_exit_is_an_error_carrying_status_and_output() -> Result<()> {
    trio_core::run(|| async {
        let err = run_process(
            sh("echo partial; echo oops >&2; exit 3")
                .capture_stdout(true)
                .capture_stderr(true),
        )
        .await
        .unwrap_err();
        let failed = err
            .downcast_ref::<CalledProcessError>()
            .expect("the source is a CalledProcessError");
        assert_eq!(failed.status.code(), Some(3));
        assert_eq!(failed.stdout, b"partial\n");
        assert_eq!(failed.stderr, b"oops\n");
        let text = err.to_string();
        assert!(text.contains("exit 3") && text.contains("oops"), "{text}");
        Ok(())
    })
}

#[test]
fn check_off_returns_the_failed_status() -> Result<()> {
    trio_core::run(|| async {
        let done = run_process(sh("exit 7").check(false)).await?;
        assert_eq!(done.status.code(), Some(7));
        Ok(())
    })
}

#[test]
fn stdin_bytes_are_fed_then_closed() -> Result<()> {
    trio_core::run(|| async {
        // Larger than a pipe buffer, so feeding and reading must run concurrently.
        let input: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let done = run_process(
            Command::new("cat")
                .stdin_bytes(input.clone())
                .capture_stdout(true),
        )
        .await?;
        assert_eq!(done.stdout.len(), input.len());
        assert!(done.stdout == input);
        Ok(())
    })
}

#[test]
fn stdin_is_empty_by_default() -> Result<()> {
    trio_core::run(|| async {
        // cat would hang forever on an inherited terminal; it gets end of file at once.
        let done = run_process(Command::new("cat").capture_stdout(true)).await?;
        assert!(done.stdout.is_empty());
        Ok(())
    })
}

#[test]
fn child_that_ignores_its_input_is_not_an_error() -> Result<()> {
    trio_core::run(|| async {
        let done = run_process(sh("exit 0").stdin_bytes(vec![b'x'; 1 << 20])).await?;
        assert!(done.status.success());
        Ok(())
    })
}

#[test]
fn missing_executable_is_a_clear_error() -> Result<()> {
    trio_core::run(|| async {
        let err = run_process(&mut Command::new("/no/such/trio-os-program"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(
            err.io_error().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
        assert!(
            err.to_string().contains("/no/such/trio-os-program"),
            "{err}"
        );
        Ok(())
    })
}

#[test]
fn capture_conflicting_with_a_redirection_is_rejected() -> Result<()> {
    trio_core::run(|| async {
        let err = run_process(
            Command::new("true")
                .stdout(std::process::Stdio::null())
                .capture_stdout(true),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("capture_stdout"), "{err}");
        Ok(())
    })
}

#[test]
fn killed_by_signal_fails_the_check() -> Result<()> {
    trio_core::run(|| async {
        let err = run_process(&mut sh("kill -9 $$")).await.unwrap_err();
        let failed = err
            .downcast_ref::<CalledProcessError>()
            .expect("check error");
        assert_eq!(failed.status.signal(), Some(9));
        Ok(())
    })
}

/// A child that ignores SIGTERM: after `kill_grace` of (virtual) time, SIGKILL ends it,
/// and `run_process` returns the cancellation only once the child is gone.
#[test]
fn cancellation_escalates_to_sigkill_after_the_grace_period() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let (ours, theirs) = UnixStream::pair()?;
        let ours = PipeReceiveStream::new(OwnedFd::from(ours))?;
        let mut cmd = sh("trap '' TERM; echo ready; exec sleep 1000");
        cmd.stdout(OwnedFd::from(theirs))
            .kill_grace(Duration::from_secs(30));
        let scope = CancelScope::new();
        let handle = scope.handle();
        let start = current_time();
        open_nursery(|n| async move {
            n.start_soon(async move {
                let mut buf = [0u8; 16];
                // The child has set its trap once it speaks: only then cancel.
                let k = ours.receive_some(&mut buf).await?;
                assert_eq!(&buf[..k], b"ready\n");
                handle.cancel();
                // Killed: the child's end of the socket closes.
                assert_eq!(ours.receive_some(&mut buf).await?, 0);
                Ok(())
            });
            let r = scope.run(run_process(&mut cmd)).await?;
            assert!(
                r.is_none(),
                "the cancellation propagated out of run_process"
            );
            assert_eq!(current_time() - start, Duration::from_secs(30));
            drop(cmd); // holds our copy of the child's end of the socket
            Ok(())
        })
        .await?;
        Ok(())
    })
}

/// A child that obeys SIGTERM is not waited on for the grace period: the mock clock here
/// never moves, so the call can only return because SIGTERM ended the child.
#[test]
fn cancellation_sends_sigterm_first() -> Result<()> {
    trio_testing::run_with_mock_clock(|_clock| async {
        let (ours, theirs) = UnixStream::pair()?;
        let ours = PipeReceiveStream::new(OwnedFd::from(ours))?;
        let mut cmd = sh("echo ready; exec sleep 1000");
        cmd.stdout(OwnedFd::from(theirs));
        let scope = CancelScope::new();
        let handle = scope.handle();
        let start = current_time();
        open_nursery(|n| async move {
            n.start_soon(async move {
                let mut buf = [0u8; 16];
                ours.receive_some(&mut buf).await?;
                handle.cancel();
                Ok(())
            });
            let r = scope.run(run_process(&mut cmd)).await?;
            assert!(r.is_none());
            assert_eq!(current_time(), start, "no grace period was waited");
            Ok(())
        })
        .await?;
        Ok(())
    })
}

#[test]
fn fifty_processes_run_concurrently_in_a_nursery() -> Result<()> {
    trio_core::run(|| async {
        let outputs = std::rc::Rc::new(std::cell::RefCell::new(vec![Vec::new(); 50]));
        let o = outputs.clone();
        open_nursery(|n| async move {
            for i in 0..50 {
                let o = o.clone();
                n.start_soon(async move {
                    let done = run_process(sh(&format!("echo {i}")).capture_stdout(true)).await?;
                    o.borrow_mut()[i] = done.stdout;
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        for (i, out) in outputs.borrow().iter().enumerate() {
            assert_eq!(out, format!("{i}\n").as_bytes());
        }
        Ok(())
    })
}

#[test]
fn command_converts_from_std() -> Result<()> {
    trio_core::run(|| async {
        let mut std_cmd = std::process::Command::new("sh");
        std_cmd
            .args(["-c", "echo $TRIO_OS_X"])
            .env("TRIO_OS_X", "kept");
        let done = run_process(Command::from(std_cmd).capture_stdout(true)).await?;
        assert_eq!(done.stdout, b"kept\n");
        Ok(())
    })
}

#[test]
fn command_sets_directory_and_environment() -> Result<()> {
    trio_core::run(|| async {
        let done = run_process(
            sh("pwd; echo \"$A-$B\"")
                .current_dir("/")
                .env_clear()
                .envs([("A", "1"), ("B", "2")])
                .env("PATH", "/usr/bin:/bin")
                .capture_stdout(true),
        )
        .await?;
        assert_eq!(done.stdout, b"/\n1-2\n");
        Ok(())
    })
}
