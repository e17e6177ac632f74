//! `open_process` and `Process`: pipes as streams, wait/poll, signals, drop.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{
    move_on_after, open_nursery, AsyncResource, ErrorKind, ReceiveStream, Result, SendStream,
};
use trio_os::{open_process, Command, SIGKILL, SIGTERM, SIGUSR1};

fn sleeper() -> Command {
    let mut c = Command::new("sleep");
    c.arg("1000");
    c
}

#[test]
fn echo_through_cat_with_both_pipes() -> Result<()> {
    trio_core::run(|| async {
        let mut cat = open_process(
            Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        )
        .await?;
        let stdin = cat.stdin.take().expect("piped stdin");
        let stdout = cat.stdout.take().expect("piped stdout");
        assert!(cat.stderr.is_none());
        // Much more than a pipe buffer each way: writer and reader must interleave.
        let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
        let expected = data.clone();
        let received = open_nursery(|n| async move {
            n.start_soon(async move {
                for chunk in data.chunks(70_000) {
                    stdin.send_all(chunk).await?;
                }
                stdin.aclose().await
            });
            let mut got = Vec::new();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let k = stdout.receive_some(&mut buf).await?;
                if k == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..k]);
            }
            Ok(got)
        })
        .await?
        .expect("not cancelled");
        assert!(received == expected, "cat echoed every byte in order");
        assert!(cat.wait().await?.success());
        Ok(())
    })
}

#[test]
fn kill_gives_a_sigkill_status() -> Result<()> {
    trio_core::run(|| async {
        let p = open_process(&mut sleeper()).await?;
        assert!(p.poll()?.is_none());
        p.kill()?;
        let status = p.wait().await?;
        assert_eq!(status.signal(), Some(SIGKILL));
        assert_eq!(p.poll()?, Some(status));
        assert_eq!(p.returncode(), Some(status));
        Ok(())
    })
}

#[test]
fn terminate_gives_a_sigterm_status() -> Result<()> {
    trio_core::run(|| async {
        let p = open_process(&mut sleeper()).await?;
        p.terminate()?;
        assert_eq!(p.wait().await?.signal(), Some(SIGTERM));
        Ok(())
    })
}

#[test]
fn send_signal_delivers_the_given_signal() -> Result<()> {
    trio_core::run(|| async {
        let p = open_process(&mut sleeper()).await?;
        p.send_signal(SIGUSR1)?;
        assert_eq!(p.wait().await?.signal(), Some(SIGUSR1));
        Ok(())
    })
}

#[test]
fn signals_after_exit_are_ignored() -> Result<()> {
    trio_core::run(|| async {
        let p = open_process(&mut Command::new("true")).await?;
        assert!(p.wait().await?.success());
        p.kill()?; // the pid may belong to someone else by now: must not be signalled
        p.terminate()?;
        assert!(p.wait().await?.success());
        Ok(())
    })
}

#[test]
fn exit_codes_are_reported() -> Result<()> {
    trio_core::run(|| async {
        let p = open_process(Command::new("sh").args(["-c", "exit 42"])).await?;
        assert_eq!(p.wait().await?.code(), Some(42));
        Ok(())
    })
}

#[test]
fn several_tasks_can_wait_at_once() -> Result<()> {
    trio_core::run(|| async {
        let mut p = open_process(
            Command::new("sh")
                .args(["-c", "read line; exit 5"])
                .stdin(Stdio::piped()),
        )
        .await?;
        let stdin = p.stdin.take().expect("piped");
        let p = Rc::new(p);
        let seen = Rc::new(std::cell::Cell::new(0));
        let (p2, seen2) = (p.clone(), seen.clone());
        open_nursery(|n| async move {
            for _ in 0..3 {
                let (p, seen) = (p2.clone(), seen2.clone());
                n.start_soon(async move {
                    assert_eq!(p.wait().await?.code(), Some(5));
                    seen.set(seen.get() + 1);
                    Ok(())
                });
            }
            trio_testing::wait_all_tasks_blocked().await?;
            stdin.send_all(b"go\n").await?;
            Ok(())
        })
        .await?;
        assert_eq!(seen.get(), 3);
        assert_eq!(p.poll()?.and_then(|s| s.code()), Some(5));
        Ok(())
    })
}

#[test]
fn cancelled_wait_leaves_the_child_running() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let p = open_process(&mut sleeper()).await?;
        let r = move_on_after(Duration::from_secs(1), p.wait()).await?;
        assert!(r.is_none());
        assert!(p.poll()?.is_none(), "cancelling wait does not kill");
        p.kill()?;
        assert_eq!(p.wait().await?.signal(), Some(SIGKILL));
        Ok(())
    })
}

#[test]
fn a_waiter_cancelled_hands_over_to_the_others() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let p = Rc::new(open_process(&mut sleeper()).await?);
        let p2 = p.clone();
        open_nursery(|n| async move {
            let first = p2.clone();
            n.start_soon(async move {
                // The first waiter gives up after a second...
                assert!(move_on_after(Duration::from_secs(1), first.wait())
                    .await?
                    .is_none());
                Ok(())
            });
            let second = p2.clone();
            n.start_soon(async move {
                // ...the second must still see the exit.
                assert_eq!(second.wait().await?.signal(), Some(SIGKILL));
                Ok(())
            });
            trio_core::sleep(Duration::from_secs(2)).await?;
            p2.kill()?;
            Ok(())
        })
        .await?;
        assert!(p.poll()?.is_some());
        Ok(())
    })
}

#[test]
fn terminate_then_kill_escalates_for_a_child_ignoring_sigterm() -> Result<()> {
    trio_testing::run_autojump(|| async {
        let mut p = open_process(
            Command::new("sh")
                .args(["-c", "trap '' TERM; echo ready; exec sleep 1000"])
                .stdout(Stdio::piped()),
        )
        .await?;
        let out = p.stdout.take().expect("piped");
        let mut buf = [0u8; 16];
        out.receive_some(&mut buf).await?; // the trap is set
        let start = trio_core::current_time();
        let status = p.terminate_then_kill(Duration::from_secs(5)).await?;
        assert_eq!(status.signal(), Some(SIGKILL));
        assert_eq!(trio_core::current_time() - start, Duration::from_secs(5));
        Ok(())
    })
}

#[test]
fn terminate_then_kill_is_shielded_from_cancellation() -> Result<()> {
    trio_core::run(|| async {
        let p = open_process(&mut sleeper()).await?;
        let scope = trio_core::CancelScope::new();
        scope.handle().cancel();
        let r = scope
            .run(async {
                let status = p.terminate_then_kill(Duration::from_secs(3600)).await?;
                assert_eq!(status.signal(), Some(SIGTERM));
                trio_core::checkpoint().await
            })
            .await?;
        assert!(r.is_none());
        assert!(p.poll()?.is_some());
        Ok(())
    })
}

#[test]
fn open_process_checkpoints_and_respects_cancellation() -> Result<()> {
    trio_core::run(|| async {
        let scope = trio_core::CancelScope::new();
        scope.handle().cancel();
        let r = scope.run(open_process(&mut sleeper())).await?;
        assert!(r.is_none(), "a cancelled open_process starts nothing");
        let p = trio_testing::assert_checkpoints(open_process(&mut Command::new("true"))).await?;
        p.wait().await?;
        // Waiting for a child already reaped still checkpoints.
        trio_testing::assert_checkpoints(p.wait()).await?;
        Ok(())
    })
}

#[test]
fn missing_executable_is_a_clear_error() -> Result<()> {
    trio_core::run(|| async {
        let err = open_process(&mut Command::new("trio-os-no-such-program"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(err.to_string().contains("trio-os-no-such-program"), "{err}");
        Ok(())
    })
}

#[test]
fn dropping_a_running_process_kills_and_reaps_it() -> Result<()> {
    trio_core::run(|| async {
        let p = open_process(&mut sleeper()).await?;
        let proc_dir = format!("/proc/{}", p.pid());
        assert!(std::path::Path::new(&proc_dir).exists());
        drop(p);
        // Reaped on a background thread: the /proc entry vanishes once it is.
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        while std::path::Path::new(&proc_dir).exists() {
            assert!(std::time::Instant::now() < give_up, "child still there");
            std::thread::yield_now();
        }
        Ok(())
    })
}

#[test]
fn stderr_is_a_stream_too() -> Result<()> {
    trio_core::run(|| async {
        let mut p = open_process(
            Command::new("sh")
                .args(["-c", "echo problem >&2"])
                .stderr(Stdio::piped()),
        )
        .await?;
        let err = p.stderr.take().expect("piped");
        let mut buf = [0u8; 32];
        let k = err.receive_some(&mut buf).await?;
        assert_eq!(&buf[..k], b"problem\n");
        assert!(p.wait().await?.success());
        Ok(())
    })
}
