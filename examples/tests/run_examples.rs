//! The README's example programs, run as a user would run them (`cargo run --example X`
//! builds the same binaries `cargo test` builds beside this test).

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, built by `cargo test` alongside this test.
fn example_binary(name: &str) -> PathBuf {
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
    // Both workers produced output, were restarted after crashing, and were stopped.
    for w in 1..=2 {
        assert!(
            all.contains(&format!("[worker {w}]")),
            "no output from worker {w}:\n{all}"
        );
        assert!(
            all.contains(&format!("worker {w} stopped")),
            "worker {w} was not stopped:\n{all}"
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
