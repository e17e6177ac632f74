//! After every way a child can end (exit, failed check, cancellation with escalation,
//! kill, drop, a failed start), this process has no children left: none running, none a
//! zombie. One test in its own binary, so no other test's children are counted.

use std::process::Stdio;
use std::time::Duration;

use trio_core::{move_on_after, open_nursery, ReceiveStream, Result};
use trio_os::{open_process, run_process, Command};

/// Our children, from `/proc/*/stat` (field 4 is the parent pid; the name in field 2 is
/// parenthesised and may contain spaces, so parse after the last `)`).
fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc is mounted")
        .flatten()
    {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields.next().and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(me) {
            found.push((pid, state));
        }
    }
    found
}

#[test]
fn no_child_is_left_running_or_as_a_zombie() -> Result<()> {
    assert_eq!(children(), vec![], "no children before the test");
    // Plain runs, a failed check, stdin feeding, many at once.
    trio_core::run(|| async {
        run_process(Command::new("true").capture_stdout(true)).await?;
        assert!(run_process(&mut Command::new("false")).await.is_err());
        run_process(Command::new("cat").stdin_bytes("x").capture_stdout(true)).await?;
        assert!(run_process(&mut Command::new("/no/such/program"))
            .await
            .is_err());
        open_nursery(|n| async move {
            for _ in 0..20 {
                n.start_soon(async { run_process(&mut Command::new("true")).await.map(drop) });
            }
            Ok(())
        })
        .await?;
        // Waited, killed.
        let p = open_process(Command::new("sleep").arg("1000")).await?;
        p.kill()?;
        p.wait().await?;
        Ok(())
    })?;
    // Cancellation with escalation to SIGKILL (virtual grace period).
    trio_testing::run_autojump(|| async {
        let mut p = open_process(
            Command::new("sh")
                .args(["-c", "trap '' TERM; echo ready; exec sleep 1000"])
                .stdout(Stdio::piped()),
        )
        .await?;
        let out = p.stdout.take().expect("piped");
        out.receive_some(&mut [0u8; 8]).await?;
        p.terminate_then_kill(Duration::from_secs(5)).await?;
        let mut cmd = Command::new("sleep");
        cmd.arg("1000");
        assert!(move_on_after(Duration::from_secs(1), run_process(&mut cmd))
            .await?
            .is_none());
        Ok(())
    })?;
    // Dropped while running: killed and reaped in the background.
    trio_core::run(|| async {
        drop(open_process(Command::new("sleep").arg("1000")).await?);
        Ok(())
    })?;
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while !children().is_empty() && std::time::Instant::now() < give_up {
        std::thread::yield_now();
    }
    assert_eq!(children(), vec![], "children left behind (pid, state)");
    Ok(())
}
