//! cancel scopes: enter and leave a scope with a deadline `n` times (ns per scope), and
//! count trio-rs's heap allocations per scope in the steady state (second half).
//!
//! trio-rs: `move_on_at(deadline, body)` (a `CancelScope` with a deadline). tokio:
//! `tokio::time::timeout_at`. smol: `future::or(body, Timer::at(deadline))`. The body is
//! ready at once, so the figure is the scope's own cost: setting up, registering and
//! retiring the deadline.

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::alloc_count::allocations;
use crate::harness::Rt;
use crate::rt::{self, check, ns_per};

thread_local! {
    /// trio-rs allocations per scope in the last run (read for the notes column).
    static TRIO_ALLOCS_PER_OP: Cell<f64> = const { Cell::new(f64::NAN) };
}

/// trio-rs allocations per scope entered and left, in the last run.
pub fn trio_allocs_per_op() -> f64 {
    TRIO_ALLOCS_PER_OP.with(Cell::get)
}

const FAR: Duration = Duration::from_secs(3600);

/// One run on `rt`: ns per scope entered and left.
pub fn run(rt: Rt, n: usize) -> Option<f64> {
    Some(match rt {
        Rt::Trio => trio(n),
        Rt::Tokio => tokio(n),
        Rt::Smol => smol(n),
    })
}

fn trio(n: usize) -> f64 {
    rt::trio(move || async move {
        let deadline = trio_core::current_time() + FAR;
        let mut done = 0usize;
        let mut a0 = allocations();
        let t0 = Instant::now();
        for i in 0..n {
            if i == n / 2 {
                // Steady state only: the first scopes may grow the run's node pool and
                // deadline heap to their working size.
                a0 = allocations();
            }
            let r = trio_core::move_on_at(deadline, async { Ok(black_box(i)) }).await?;
            done += usize::from(r == Some(i));
        }
        let elapsed = t0.elapsed();
        let allocs = allocations() - a0;
        check("trio-rs scopes", done, n);
        TRIO_ALLOCS_PER_OP.with(|c| c.set(allocs as f64 / (n - n / 2) as f64));
        Ok(ns_per(elapsed, n))
    })
}

fn tokio(n: usize) -> f64 {
    rt::tokio(async move {
        let deadline = tokio::time::Instant::now() + FAR;
        let mut done = 0usize;
        let t0 = Instant::now();
        for i in 0..n {
            let r = tokio::time::timeout_at(deadline, async { black_box(i) }).await;
            done += usize::from(r == Ok(i));
        }
        let elapsed = t0.elapsed();
        check("tokio scopes", done, n);
        ns_per(elapsed, n)
    })
}

fn smol(n: usize) -> f64 {
    rt::smol(|_ex| async move {
        let deadline = Instant::now() + FAR;
        let mut done = 0usize;
        let t0 = Instant::now();
        for i in 0..n {
            let r = futures_lite::future::or(async { Some(black_box(i)) }, async {
                async_io::Timer::at(deadline).await;
                None
            })
            .await;
            done += usize::from(r == Some(i));
        }
        let elapsed = t0.elapsed();
        check("smol scopes", done, n);
        ns_per(elapsed, n)
    })
}
