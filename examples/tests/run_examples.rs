//! The README's example programs, run as a user would run them (`cargo run --example X`
//! builds the same binaries `cargo test` builds beside this test).

mod common;

use std::process::Command;

use common::example_binary;

#[test]
fn supervisor_demo_restarts_workers_and_shuts_down_cleanly_on_sigint() {
    let out = Command::new("timeout")
        .args(["60"])
        .arg(example_binary("supervisor"))
        .args(["2", "--demo"])
        .output()
        .expect("run the supervisor example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "supervisor --demo failed: {:?}\n{all}",
        out.status
    );
    // Both workers produced output, and at shutdown each was either running (so it was
    // stopped) or between a crash and its restart (so there was nothing to stop and no
    // later run). Which of the two depends on where the SIGINT lands in the workers'
    // real-time schedule, so the test accepts both.
    assert!(
        stdout.contains("SIGINT: stopping all workers"),
        "the SIGINT was not handled:\n{all}"
    );
    for w in 1..=2 {
        let output = format!("[worker {w}] ");
        assert!(all.contains(&output), "no output from worker {w}:\n{all}");
        let about_w = format!("[supervisor] worker {w} ");
        let lines: Vec<&str> = stdout.lines().collect();
        let last = lines
            .iter()
            .rposition(|l| l.starts_with(&about_w))
            .unwrap_or_else(|| panic!("the supervisor never reported on worker {w}:\n{all}"));
        let stopped = lines[last].contains("stopped");
        let left_in_backoff = lines[last].contains("crashed")
            && !lines[last..].iter().any(|l| l.starts_with(&output));
        assert!(
            stopped || left_in_backoff,
            "worker {w} was neither stopped nor left waiting to restart:\n{all}"
        );
    }
    assert!(all.contains("run 2"), "no worker was restarted:\n{all}");
    assert!(
        all.contains("all workers stopped"),
        "no clean shutdown:\n{all}"
    );
}

#[test]
fn tour_runs_to_a_clean_shutdown() {
    let out = Command::new("timeout")
        .args(["60"])
        .arg(example_binary("tour"))
        .output()
        .expect("run the tour example");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "tour failed: {:?}\n{all}", out.status);
    assert!(all.lines().count() >= 5, "tour printed too little:\n{all}");
}
