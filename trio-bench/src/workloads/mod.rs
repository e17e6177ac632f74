//! The workloads, one per file, and the list the binary runs, with full and `--quick`
//! sizes. Each workload does the same work on every runtime and checks its result.

pub mod channels;
pub mod lock;
pub mod memory;
pub mod scopes;
pub mod spawn;
pub mod tcp;
pub mod timers;
pub mod yields;

use crate::harness::{Reps, Target, Unit, Workload};

/// Problem sizes: the issue's, or tiny ones for `--quick` (CI).
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    quick: bool,
}

impl Sizes {
    /// Full sizes unless `quick`.
    pub fn new(quick: bool) -> Self {
        Sizes { quick }
    }

    fn pick(self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    fn reps(self, timed: usize) -> Reps {
        if self.quick {
            Reps {
                warmup: 1,
                timed: 1,
            }
        } else {
            Reps { warmup: 1, timed }
        }
    }
}

/// Every workload, in table order.
pub fn all(sizes: Sizes) -> Vec<Workload> {
    let mut v = Vec::new();

    let n = sizes.pick(100_000, 1_000);
    v.push(Workload {
        name: "spawn+join".into(),
        unit: Unit::NsPerOp,
        target: Target::RatioAtMost(0.9),
        run: Box::new(move |rt| spawn::run(rt, n)),
        reps: sizes.reps(7),
        note: Some(Box::new(|| (crate::rt::allocs_note(), true))),
    });

    let (tasks, per) = (sizes.pick(1_000, 50), sizes.pick(1_000, 20));
    v.push(Workload {
        name: "checkpoint vs yield".into(),
        unit: Unit::NsPerOp,
        target: Target::RatioAtMost(1.0),
        run: Box::new(move |rt| yields::run(rt, tasks, per)),
        reps: sizes.reps(5),
        note: None,
    });

    let n = sizes.pick(1_000_000, 1_000);
    v.push(Workload {
        name: "ping-pong (capacity 1)".into(),
        unit: Unit::NsPerOp,
        target: Target::RatioAtMost(0.8),
        run: Box::new(move |rt| channels::ping_pong(rt, 1, n)),
        reps: sizes.reps(5),
        note: None,
    });
    v.push(Workload {
        name: "ping-pong (capacity 0, trio-rs only)".into(),
        unit: Unit::NsPerOp,
        target: Target::None,
        run: Box::new(move |rt| channels::ping_pong(rt, 0, n)),
        reps: sizes.reps(5),
        note: None,
    });

    let n = sizes.pick(10_000_000, 10_000);
    v.push(Workload {
        name: "channel throughput (buffer 1024)".into(),
        unit: Unit::NsPerOp,
        target: Target::RatioAtMost(0.7),
        run: Box::new(move |rt| channels::throughput(rt, 1024, n, false)),
        reps: sizes.reps(5),
        note: None,
    });
    v.push(Workload {
        name: "channel, peers yield per op".into(),
        unit: Unit::NsPerOp,
        target: Target::None,
        run: Box::new(move |rt| channels::throughput(rt, 1024, n, true)),
        reps: sizes.reps(5),
        note: None,
    });

    let n = sizes.pick(100_000, 1_000);
    v.push(Workload {
        name: "timers (sleep 0–10 ms)".into(),
        unit: Unit::CpuNsPerTask,
        target: Target::RatioAtMost(0.9),
        run: Box::new(move |rt| timers::run(rt, n)),
        reps: sizes.reps(5),
        note: Some(Box::new(|| (crate::rt::allocs_note(), true))),
    });

    let (conns, rounds) = (sizes.pick(64, 4), sizes.pick(10_000, 20));
    v.push(Workload {
        name: "TCP echo (64 B round trips)".into(),
        unit: Unit::NsPerOp,
        target: Target::RatioAtMost(0.95),
        run: Box::new(move |rt| tcp::echo(rt, conns, rounds)),
        reps: sizes.reps(3),
        note: None,
    });

    let total = sizes.pick(1 << 30, 4 << 20) as u64;
    v.push(Workload {
        name: "TCP bulk (64 KiB writes)".into(),
        unit: Unit::MbPerSec,
        target: Target::RatioAtLeast(1.0),
        run: Box::new(move |rt| tcp::bulk(rt, total)),
        reps: sizes.reps(3),
        note: None,
    });

    let (tasks, per) = (sizes.pick(100, 10), sizes.pick(10_000, 50));
    v.push(Workload {
        name: "contended lock".into(),
        unit: Unit::NsPerOp,
        target: Target::RatioAtMost(0.9),
        run: Box::new(move |rt| lock::run(rt, tasks, per)),
        reps: sizes.reps(5),
        note: None,
    });

    let n = sizes.pick(1_000_000, 1_000);
    v.push(Workload {
        name: "cancel scope enter/exit".into(),
        unit: Unit::NsPerOp,
        target: Target::NsAtMost(20.0),
        run: Box::new(move |rt| scopes::run(rt, n)),
        reps: sizes.reps(7),
        note: Some(Box::new(|| {
            let a = scopes::trio_allocs_per_op();
            (format!("trio-rs alloc/op (steady state): {a}"), a == 0.0)
        })),
    });

    let n = sizes.pick(100_000, 1_000);
    v.push(Workload {
        name: "idle task memory".into(),
        unit: Unit::BytesPerTask,
        target: Target::AtMostTokio,
        run: Box::new(move |rt| memory::run(rt, n)),
        reps: if sizes.quick {
            Reps {
                warmup: 0,
                timed: 1,
            }
        } else {
            Reps {
                warmup: 0,
                timed: 3,
            }
        },
        note: None,
    });

    v
}
