//! The leak checks the other tests rely on (`common::run_checked`) do catch leaks: a file
//! descriptor, a child process and a task left behind each fail the run.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::{run_checked, serial};

fn panics(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the leak went unnoticed");
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[test]
fn a_leaked_file_descriptor_fails_the_check() {
    let _serial = serial();
    let mut kept = None;
    let msg = panics(|| {
        run_checked(|| {
            kept = Some(std::fs::File::open("/proc/self/stat").unwrap());
            async { Ok(()) }
        })
    });
    assert!(msg.contains("file descriptors leaked"), "{msg}");
    drop(kept);
}

#[test]
fn a_child_process_left_running_fails_the_check() {
    let _serial = serial();
    let mut child = None;
    let msg = panics(|| {
        run_checked(|| {
            child = Some(
                std::process::Command::new("sleep")
                    .arg("30")
                    .spawn()
                    .unwrap(),
            );
            async { Ok(()) }
        })
    });
    assert!(msg.contains("child processes left behind"), "{msg}");
    let mut child = child.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_system_task_left_alive_fails_the_check() {
    let _serial = serial();
    let msg = panics(|| {
        run_checked(|| async {
            trio_core::lowlevel::spawn_system_task(async {
                trio_core::sleep_forever().await.map(|_| ())
            });
            Ok(())
        })
    });
    assert!(msg.contains("tasks left behind"), "{msg}");
}
