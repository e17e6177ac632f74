//! spawn+join: spawn `n` trivial tasks, then wait for all of them (ns per task).
//!
//! trio-rs: `start_soon` into a nursery, joined when the nursery block ends. tokio:
//! `spawn_local` and await every `JoinHandle`. smol: `LocalExecutor::spawn` and await
//! every `Task`. Each task bumps a shared counter, checked at the end.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use crate::alloc_count::allocations;
use crate::harness::Rt;
use crate::rt::{self, check, ns_per, record_allocs};

/// One run on `rt`: ns per spawned-and-joined task.
pub fn run(rt: Rt, n: usize) -> Option<f64> {
    Some(match rt {
        Rt::Trio => trio(n),
        Rt::Tokio => tokio(n),
        Rt::Smol => smol(n),
    })
}

fn trio(n: usize) -> f64 {
    rt::trio(move || async move {
        let done = Rc::new(Cell::new(0usize));
        let a0 = allocations();
        let t0 = Instant::now();
        let d = done.clone();
        trio_core::open_nursery(|nursery| async move {
            for _ in 0..n {
                let d = d.clone();
                nursery.start_soon(async move {
                    d.set(d.get() + 1);
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let elapsed = t0.elapsed();
        record_allocs(Rt::Trio, allocations() - a0, n);
        check("trio-rs spawn+join", done.get(), n);
        Ok(ns_per(elapsed, n))
    })
}

fn tokio(n: usize) -> f64 {
    rt::tokio(async move {
        let done = Rc::new(Cell::new(0usize));
        let a0 = allocations();
        let t0 = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let d = done.clone();
                tokio::task::spawn_local(async move { d.set(d.get() + 1) })
            })
            .collect();
        for h in handles {
            h.await.expect("tokio task");
        }
        let elapsed = t0.elapsed();
        record_allocs(Rt::Tokio, allocations() - a0, n);
        check("tokio spawn+join", done.get(), n);
        ns_per(elapsed, n)
    })
}

fn smol(n: usize) -> f64 {
    rt::smol(|ex| async move {
        let done = Rc::new(Cell::new(0usize));
        let a0 = allocations();
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let d = done.clone();
                ex.spawn(async move { d.set(d.get() + 1) })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        let elapsed = t0.elapsed();
        record_allocs(Rt::Smol, allocations() - a0, n);
        check("smol spawn+join", done.get(), n);
        ns_per(elapsed, n)
    })
}
