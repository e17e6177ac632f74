//! The helper-thread way of waiting for a child (used where pidfds are unavailable),
//! forced on for this whole binary.

use std::os::unix::process::ExitStatusExt;
use std::rc::Rc;
use std::time::Duration;

use trio_core::{move_on_after, open_nursery, Result};
use trio_os::{open_process, run_process, Command, SIGKILL};

#[test]
fn the_thread_fallback_waits_like_pidfds_do() -> Result<()> {
    trio_os::force_thread_wait_fallback(true);
    trio_testing::run_autojump(|| async {
        let done = run_process(
            Command::new("sh")
                .args(["-c", "echo hi"])
                .capture_stdout(true),
        )
        .await?;
        assert_eq!(done.stdout, b"hi\n");

        let p = Rc::new(open_process(Command::new("sleep").arg("1000")).await?);
        assert!(move_on_after(Duration::from_secs(1), p.wait())
            .await?
            .is_none());
        let p2 = p.clone();
        open_nursery(|n| async move {
            for _ in 0..3 {
                let p = p2.clone();
                n.start_soon(async move {
                    assert_eq!(p.wait().await?.signal(), Some(SIGKILL));
                    Ok(())
                });
            }
            trio_testing::wait_all_tasks_blocked().await?;
            p2.kill()
        })
        .await?;
        Ok(())
    })
}
