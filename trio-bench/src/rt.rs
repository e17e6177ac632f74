//! Starting each runtime the same way for every workload, and the small measuring
//! helpers (wall time per op, process CPU time, resident memory, a seeded PRNG).
//!
//! Every workload times itself *inside* the runtime, so building and tearing down a
//! runtime is never part of a figure.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use async_executor::LocalExecutor;

/// Runs a trio-rs main task; panics if the run fails (a broken workload, not a slow one).
pub fn trio<T, Fut>(main: impl FnOnce() -> Fut) -> T
where
    T: 'static,
    Fut: Future<Output = trio_core::Result<T>> + 'static,
{
    trio_core::run(main).expect("the trio-rs workload failed")
}

/// Runs `fut` on a tokio current-thread runtime inside a `LocalSet` (for `!Send` tasks).
pub fn tokio<Fut: Future>(fut: Fut) -> Fut::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime");
    tokio::task::LocalSet::new().block_on(&rt, fut)
}

/// The smol executor handed to a workload, to spawn on.
pub type SmolEx = Rc<LocalExecutor<'static>>;

/// Runs the future `main` builds on a smol `LocalExecutor` driven by async-io.
pub fn smol<Fut: Future>(main: impl FnOnce(SmolEx) -> Fut) -> Fut::Output {
    let ex: SmolEx = Rc::new(LocalExecutor::new());
    let fut = main(ex.clone());
    async_io::block_on(ex.run(fut))
}

thread_local! {
    /// Heap allocations per operation in the last run of each runtime (table order).
    static ALLOCS_PER_OP: std::cell::Cell<[f64; 3]> = const { std::cell::Cell::new([f64::NAN; 3]) };
}

/// Records `allocs` allocations over `ops` operations for `rt`'s last run.
pub fn record_allocs(rt: crate::harness::Rt, allocs: u64, ops: usize) {
    ALLOCS_PER_OP.with(|c| {
        let mut a = c.get();
        a[rt as usize] = allocs as f64 / ops as f64;
        c.set(a);
    });
}

/// "alloc/op trio-rs a, tokio b, smol c" for the notes column.
pub fn allocs_note() -> String {
    let a = ALLOCS_PER_OP.with(std::cell::Cell::get);
    format!(
        "alloc/op: trio-rs {:.2}, tokio {:.2}, smol {:.2}",
        a[0], a[1], a[2]
    )
}

/// Nanoseconds per operation.
pub fn ns_per(elapsed: Duration, ops: usize) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

/// Megabytes (10^6 bytes) per second.
pub fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

/// CPU time used by the whole process so far (all threads, user and system).
pub fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Resident set size of this process, in bytes (`/proc/self/statm`, second field).
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("reading /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("/proc/self/statm has a resident field");
    pages * rustix::param::page_size() as u64
}

/// A tiny deterministic PRNG (xorshift64*), so every runtime gets the same "random" input.
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Panics with a clear message when a workload did not do the work it claims.
pub fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) {
    assert_eq!(got, want, "workload check failed: {what}");
}
