//! Signal receivers. Dispositions are process-wide, so every test here holds `SERIAL`, and
//! this file is its own test binary (no other test's signals interfere).

use std::sync::Mutex;
use std::time::Duration;

use trio_core::{move_on_after, open_nursery, ErrorKind, Result};
use trio_os::{
    open_signal_receiver, raise_signal, run_process, Command, SIGINT, SIGKILL, SIGUSR1, SIGUSR2,
};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn a_signal_sent_to_our_pid_by_another_process_is_received() -> Result<()> {
    let _g = serial();
    trio_core::run(|| async {
        let signals = open_signal_receiver(&[SIGUSR1])?;
        let script = format!("kill -USR1 {}", std::process::id());
        run_process(Command::new("sh").args(["-c", &script])).await?;
        assert_eq!(signals.receive().await?, SIGUSR1);
        Ok(())
    })
}

#[test]
fn sigint_can_be_caught_for_graceful_shutdown() -> Result<()> {
    let _g = serial();
    trio_core::run(|| async {
        let signals = open_signal_receiver(&[SIGINT, SIGUSR2])?;
        raise_signal(SIGINT)?;
        assert_eq!(signals.receive().await?, SIGINT);
        Ok(())
    })
}

#[test]
fn repeated_signals_coalesce() -> Result<()> {
    let _g = serial();
    trio_core::run(|| async {
        let signals = open_signal_receiver(&[SIGUSR1, SIGUSR2])?;
        for _ in 0..5 {
            raise_signal(SIGUSR1)?;
        }
        // raise_signal returns after the handler ran, and the dispatcher handles lower
        // numbers first, so once SIGUSR2 is received every SIGUSR1 is accounted for.
        raise_signal(SIGUSR2)?;
        let mut usr1 = 0;
        loop {
            match signals.receive().await? {
                SIGUSR1 => usr1 += 1,
                SIGUSR2 => break,
                other => panic!("unexpected signal {other}"),
            }
        }
        // At most one was queued and one more flagged when we started receiving; five
        // sends never make five receipts.
        assert!((1..=2).contains(&usr1), "received SIGUSR1 {usr1} times");
        assert_eq!(signals.try_receive(), None);
        Ok(())
    })
}

#[test]
fn receive_is_cancel_safe() -> Result<()> {
    let _g = serial();
    trio_testing::run_autojump(|| async {
        let signals = open_signal_receiver(&[SIGUSR2])?;
        let r = move_on_after(Duration::from_secs(1), signals.receive()).await?;
        assert!(r.is_none(), "nothing arrived: the receive was cancelled");
        raise_signal(SIGUSR2)?;
        assert_eq!(signals.receive().await?, SIGUSR2);
        // Cancelled before blocking: takes nothing even if a signal is waiting.
        raise_signal(SIGUSR2)?;
        let scope = trio_core::CancelScope::new();
        scope.handle().cancel();
        assert!(scope.run(signals.receive()).await?.is_none());
        assert_eq!(signals.receive().await?, SIGUSR2);
        Ok(())
    })
}

#[test]
fn two_tasks_receiving_at_once_is_busy() -> Result<()> {
    let _g = serial();
    trio_core::run(|| async {
        let signals = std::rc::Rc::new(open_signal_receiver(&[SIGUSR1])?);
        let s2 = signals.clone();
        open_nursery(|n| async move {
            let s = s2.clone();
            n.start_soon(async move {
                assert_eq!(s.receive().await?, SIGUSR1);
                Ok(())
            });
            trio_testing::wait_all_tasks_blocked().await?;
            let err = s2.receive().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BusyResource);
            raise_signal(SIGUSR1)
        })
        .await?;
        Ok(())
    })
}

#[test]
fn receivers_in_runs_on_other_threads_get_the_signal_too() -> Result<()> {
    let _g = serial();
    let here = open_signal_receiver(&[SIGUSR2])?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let other = std::thread::spawn(move || {
        trio_core::run(|| async move {
            let there = open_signal_receiver(&[SIGUSR2])?;
            ready_tx.send(()).expect("main thread waits");
            there.receive().await
        })
    });
    ready_rx.recv().expect("thread started");
    raise_signal(SIGUSR2)?;
    assert_eq!(other.join().expect("no panic")?, SIGUSR2);
    trio_core::run(|| async move { here.receive().await })?;
    Ok(())
}

#[test]
fn bad_signal_lists_are_clear_errors() -> Result<()> {
    let _g = serial();
    let e = open_signal_receiver(&[]).unwrap_err();
    assert!(e.to_string().contains("at least one"), "{e}");
    let e = open_signal_receiver(&[SIGKILL]).unwrap_err();
    assert!(e.to_string().contains("cannot be caught"), "{e}");
    for bad in [0, -3, 1000] {
        let e = open_signal_receiver(&[bad]).unwrap_err();
        assert!(e.to_string().contains("not a valid signal"), "{e}");
    }
    Ok(())
}

/// Runs this test binary again as a child, running only `helper` with `mode` set; `prefix`
/// is a shell snippet run first (it may change dispositions, which `exec` keeps).
fn run_helper(helper: &str, mode: &str, prefix: &str) -> std::process::ExitStatus {
    let exe = std::env::current_exe().expect("test binary path");
    let script = format!("{prefix} exec \"$0\" --exact {helper} --test-threads=1 --quiet");
    std::process::Command::new("sh")
        .args(["-c", &script])
        .arg(exe)
        .env("TRIO_OS_SIGNAL_HELPER", mode)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("could start the helper")
}

/// Child half of the disposition tests: catch `SIGUSR1`, drop the receiver, send it again
/// to ourselves.
#[test]
fn disposition_helper() -> Result<()> {
    let Ok(mode) = std::env::var("TRIO_OS_SIGNAL_HELPER") else {
        return Ok(()); // not running as the helper
    };
    assert_eq!(mode, "catch-then-release");
    trio_core::run(|| async {
        let signals = open_signal_receiver(&[SIGUSR1])?;
        raise_signal(SIGUSR1)?;
        assert_eq!(signals.receive().await?, SIGUSR1);
        Ok(())
    })?;
    // Delivered to this thread before raise returns: if the old disposition was
    // "terminate" we die here; if "ignore" we go on.
    raise_signal(SIGUSR1)?;
    Ok(())
}

#[test]
fn the_default_disposition_is_restored_on_drop() {
    let _g = serial();
    use std::os::unix::process::ExitStatusExt;
    let status = run_helper("disposition_helper", "catch-then-release", "");
    assert_eq!(
        status.signal(),
        Some(SIGUSR1),
        "SIGUSR1 kills again once released"
    );
}

#[test]
fn an_ignored_disposition_is_restored_on_drop() {
    let _g = serial();
    let status = run_helper("disposition_helper", "catch-then-release", "trap '' USR1;");
    assert!(
        status.success(),
        "SIGUSR1 is ignored again once released: {status:?}"
    );
}
