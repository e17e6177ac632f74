//! timers: `n` tasks each sleeping a seeded random 0–10 ms (process CPU ns per task).
//!
//! Wall time is bounded below by the longest sleep, so the figure is CPU time: what
//! arming, expiring and waking `n` timers costs. The same seed gives every runtime the
//! same durations.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::alloc_count::allocations;
use crate::harness::Rt;
use crate::rt::{self, check, process_cpu_time, record_allocs, Rng};

/// The sleep durations, in microseconds, the same for every runtime.
fn durations(n: usize) -> Vec<Duration> {
    let mut rng = Rng::new(0x5eed);
    (0..n)
        .map(|_| Duration::from_micros(rng.next_u64() % 10_001))
        .collect()
}

/// One run on `rt`: process CPU ns per sleeping task.
pub fn run(rt: Rt, n: usize) -> Option<f64> {
    let ds = durations(n);
    Some(match rt {
        Rt::Trio => trio(ds),
        Rt::Tokio => tokio(ds),
        Rt::Smol => smol(ds),
    })
}

fn per_task(cpu: Duration, n: usize) -> f64 {
    cpu.as_nanos() as f64 / n as f64
}

fn trio(ds: Vec<Duration>) -> f64 {
    rt::trio(move || async move {
        let n = ds.len();
        let woke = Rc::new(Cell::new(0usize));
        let a0 = allocations();
        let c0 = process_cpu_time();
        let w = woke.clone();
        trio_core::open_nursery(|nursery| async move {
            for d in ds {
                let w = w.clone();
                nursery.start_soon(async move {
                    trio_core::sleep(d).await?;
                    w.set(w.get() + 1);
                    Ok(())
                });
            }
            Ok(())
        })
        .await?;
        let cpu = process_cpu_time() - c0;
        record_allocs(Rt::Trio, allocations() - a0, n);
        check("trio-rs timers", woke.get(), n);
        Ok(per_task(cpu, n))
    })
}

fn tokio(ds: Vec<Duration>) -> f64 {
    rt::tokio(async move {
        let n = ds.len();
        let woke = Rc::new(Cell::new(0usize));
        let a0 = allocations();
        let c0 = process_cpu_time();
        let handles: Vec<_> = ds
            .into_iter()
            .map(|d| {
                let w = woke.clone();
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(d).await;
                    w.set(w.get() + 1);
                })
            })
            .collect();
        for h in handles {
            h.await.expect("tokio task");
        }
        let cpu = process_cpu_time() - c0;
        record_allocs(Rt::Tokio, allocations() - a0, n);
        check("tokio timers", woke.get(), n);
        per_task(cpu, n)
    })
}

fn smol(ds: Vec<Duration>) -> f64 {
    rt::smol(|ex| async move {
        let n = ds.len();
        let woke = Rc::new(Cell::new(0usize));
        let a0 = allocations();
        let c0 = process_cpu_time();
        let tasks: Vec<_> = ds
            .into_iter()
            .map(|d| {
                let w = woke.clone();
                ex.spawn(async move {
                    async_io::Timer::after(d).await;
                    w.set(w.get() + 1);
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        let cpu = process_cpu_time() - c0;
        record_allocs(Rt::Smol, allocations() - a0, n);
        check("smol timers", woke.get(), n);
        per_task(cpu, n)
    })
}
