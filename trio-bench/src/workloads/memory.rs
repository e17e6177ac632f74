//! idle memory: resident bytes per task for `n` tasks parked forever.
//!
//! Each runtime is measured in a fresh child process (this binary, re-run with
//! `--memory-child RUNTIME N`), so no allocator state from an earlier workload hides or
//! inflates the growth. The child reads its resident size, spawns `n` tasks that each
//! note their first poll and then wait forever, yields until every one has been polled,
//! reads the resident size again and prints the difference per task.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;

use crate::harness::Rt;
use crate::rt::{self, resident_bytes};

/// One measurement on `rt`, in a child process: resident bytes per idle task.
pub fn run(rt: Rt, n: usize) -> Option<f64> {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let out = Command::new(exe)
        .args(["--memory-child", rt.name(), &n.to_string()])
        .output()
        .expect("starting the memory child process");
    assert!(
        out.status.success(),
        "memory child for {} failed: {}",
        rt.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("memory child printed {text:?}")),
    )
}

/// The child's side: prints resident bytes per idle task on `rt`.
pub fn child(rt: Rt, n: usize) {
    let per_task = match rt {
        Rt::Trio => trio(n),
        Rt::Tokio => tokio(n),
        Rt::Smol => smol(n),
    };
    println!("{per_task}");
}

fn per_task(before: u64, after: u64, n: usize) -> f64 {
    after.saturating_sub(before) as f64 / n as f64
}

fn trio(n: usize) -> f64 {
    rt::trio(move || async move {
        let polled = Rc::new(Cell::new(0usize));
        let mut figure = 0.0;
        let before = resident_bytes();
        let p = polled.clone();
        let fig = &mut figure;
        trio_core::open_nursery(|nursery| async move {
            for _ in 0..n {
                let p = p.clone();
                nursery.start_soon(async move {
                    p.set(p.get() + 1);
                    trio_core::sleep_forever().await?;
                    Ok(())
                });
            }
            while p.get() < n {
                trio_core::checkpoint().await?;
            }
            *fig = per_task(before, resident_bytes(), n);
            nursery.cancel_scope().cancel();
            Ok(())
        })
        .await?;
        Ok(figure)
    })
}

fn tokio(n: usize) -> f64 {
    rt::tokio(async move {
        let polled = Rc::new(Cell::new(0usize));
        let before = resident_bytes();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let p = polled.clone();
                tokio::task::spawn_local(async move {
                    p.set(p.get() + 1);
                    std::future::pending::<()>().await;
                })
            })
            .collect();
        while polled.get() < n {
            tokio::task::yield_now().await;
        }
        let figure = per_task(before, resident_bytes(), n);
        for h in handles {
            h.abort();
        }
        figure
    })
}

fn smol(n: usize) -> f64 {
    rt::smol(|ex| async move {
        let polled = Rc::new(Cell::new(0usize));
        let before = resident_bytes();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let p = polled.clone();
                ex.spawn(async move {
                    p.set(p.get() + 1);
                    std::future::pending::<()>().await;
                })
            })
            .collect();
        while polled.get() < n {
            futures_lite::future::yield_now().await;
        }
        let figure = per_task(before, resident_bytes(), n);
        drop(tasks); // cancels them
        figure
    })
}
