//! contended lock: `tasks` tasks each acquiring one async lock `per_task` times and
//! yielding while they hold it, so every acquisition finds the lock taken and waits its
//! turn (ns per acquisition).
//!
//! trio-rs: `trio_sync::Lock` (its `acquire` is a checkpoint) and `checkpoint()`. tokio:
//! `tokio::sync::Mutex` and `yield_now()`. smol: `async_lock::Mutex` and `yield_now()`.
//! The protected counter is checked at the end.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use crate::harness::Rt;
use crate::rt::{self, check, ns_per};

/// One run on `rt`: ns per acquisition.
pub fn run(rt: Rt, tasks: usize, per_task: usize) -> Option<f64> {
    Some(match rt {
        Rt::Trio => trio(tasks, per_task),
        Rt::Tokio => tokio(tasks, per_task),
        Rt::Smol => smol(tasks, per_task),
    })
}

fn trio(tasks: usize, per_task: usize) -> f64 {
    rt::trio(move || async move {
        let lock = Rc::new(trio_sync::Lock::new());
        let count = Rc::new(Cell::new(0usize));
        let t0 = Instant::now();
        let c = count.clone();
        trio_core::open_nursery(|nursery| async move {
            for _ in 0..tasks {
                let (lock, c) = (lock.clone(), c.clone());
                nursery.start_soon(async move {
                    for _ in 0..per_task {
                        let guard = lock.acquire().await?;
                        trio_core::checkpoint().await?;
                        c.set(c.get() + 1);
                        drop(guard);
                    }
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let elapsed = t0.elapsed();
        check("trio-rs lock", count.get(), tasks * per_task);
        Ok(ns_per(elapsed, tasks * per_task))
    })
}

fn tokio(tasks: usize, per_task: usize) -> f64 {
    rt::tokio(async move {
        let lock = Rc::new(tokio::sync::Mutex::new(0usize));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let lock = lock.clone();
                tokio::task::spawn_local(async move {
                    for _ in 0..per_task {
                        let mut guard = lock.lock().await;
                        tokio::task::yield_now().await;
                        *guard += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("tokio task");
        }
        let elapsed = t0.elapsed();
        check("tokio lock", *lock.lock().await, tasks * per_task);
        ns_per(elapsed, tasks * per_task)
    })
}

fn smol(tasks: usize, per_task: usize) -> f64 {
    rt::smol(|ex| async move {
        let lock = Rc::new(async_lock::Mutex::new(0usize));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let lock = lock.clone();
                ex.spawn(async move {
                    for _ in 0..per_task {
                        let mut guard = lock.lock().await;
                        futures_lite::future::yield_now().await;
                        *guard += 1;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
        let elapsed = t0.elapsed();
        check("smol lock", *lock.lock().await, tasks * per_task);
        ns_per(elapsed, tasks * per_task)
    })
}
