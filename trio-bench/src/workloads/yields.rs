//! checkpoints: `tasks` tasks each yielding `per_task` times (ns per yield).
//!
//! trio-rs: `checkpoint()` (a schedule point and a cancel point). tokio:
//! `tokio::task::yield_now()`. smol: `futures_lite::future::yield_now()`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use crate::harness::Rt;
use crate::rt::{self, check, ns_per};

/// One run on `rt`: ns per checkpoint/yield.
pub fn run(rt: Rt, tasks: usize, per_task: usize) -> Option<f64> {
    Some(match rt {
        Rt::Trio => trio(tasks, per_task),
        Rt::Tokio => tokio(tasks, per_task),
        Rt::Smol => smol(tasks, per_task),
    })
}

fn trio(tasks: usize, per_task: usize) -> f64 {
    rt::trio(move || async move {
        let count = Rc::new(Cell::new(0usize));
        let t0 = Instant::now();
        let c = count.clone();
        trio_core::open_nursery(|nursery| async move {
            for _ in 0..tasks {
                let c = c.clone();
                nursery.start_soon(async move {
                    for _ in 0..per_task {
                        trio_core::checkpoint().await?;
                        c.set(c.get() + 1);
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let elapsed = t0.elapsed();
        check("trio-rs checkpoints", count.get(), tasks * per_task);
        Ok(ns_per(elapsed, tasks * per_task))
    })
}

fn tokio(tasks: usize, per_task: usize) -> f64 {
    rt::tokio(async move {
        let count = Rc::new(Cell::new(0usize));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let c = count.clone();
                tokio::task::spawn_local(async move {
                    for _ in 0..per_task {
                        tokio::task::yield_now().await;
                        c.set(c.get() + 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("tokio task");
        }
        let elapsed = t0.elapsed();
        check("tokio yields", count.get(), tasks * per_task);
        ns_per(elapsed, tasks * per_task)
    })
}

fn smol(tasks: usize, per_task: usize) -> f64 {
    rt::smol(|ex| async move {
        let count = Rc::new(Cell::new(0usize));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let c = count.clone();
                ex.spawn(async move {
                    for _ in 0..per_task {
                        futures_lite::future::yield_now().await;
                        c.set(c.get() + 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        let elapsed = t0.elapsed();
        check("smol yields", count.get(), tasks * per_task);
        ns_per(elapsed, tasks * per_task)
    })
}
