//! Workloads, runtimes, and the alternating measurement: warm-up, then repetitions in
//! which trio-rs, tokio and smol take turns (the order rotates every repetition so none
//! always runs first on a cold cache), and the median of each.

use std::fmt;

/// The three runtimes compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rt {
    /// trio-rs.
    Trio,
    /// tokio, current-thread runtime.
    Tokio,
    /// smol: `LocalExecutor` + async-io.
    Smol,
}

impl Rt {
    /// All runtimes, in table order.
    pub const ALL: [Rt; 3] = [Rt::Trio, Rt::Tokio, Rt::Smol];

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Rt::Trio => "trio-rs",
            Rt::Tokio => "tokio",
            Rt::Smol => "smol",
        }
    }

    /// Parses a name as printed by [`Rt::name`].
    pub fn parse(s: &str) -> Option<Rt> {
        Rt::ALL.into_iter().find(|rt| rt.name() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a figure measures, and which direction is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Wall-clock nanoseconds per operation (lower is better).
    NsPerOp,
    /// Process CPU nanoseconds per task (lower is better).
    CpuNsPerTask,
    /// Resident bytes per task (lower is better).
    BytesPerTask,
    /// Megabytes per second (higher is better).
    MbPerSec,
}

impl Unit {
    /// Whether a larger figure is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Unit::MbPerSec)
    }

    /// The unit as printed.
    pub fn label(self) -> &'static str {
        match self {
            Unit::NsPerOp => "ns/op",
            Unit::CpuNsPerTask => "CPU ns/task",
            Unit::BytesPerTask => "bytes/task",
            Unit::MbPerSec => "MB/s",
        }
    }
}

/// The goal a workload's trio-rs figure is held to (issue 6).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// trio-rs / best peer must be at most this (lower-is-better units).
    RatioAtMost(f64),
    /// trio-rs / best peer must be at least this (MB/s).
    RatioAtLeast(f64),
    /// trio-rs's own figure must be at most this many ns/op.
    NsAtMost(f64),
    /// trio-rs's figure must be at most tokio's.
    AtMostTokio,
    /// Informational row (e.g. a trio-rs-only variant).
    None,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::RatioAtMost(r) => write!(f, "≤ {r:.2}"),
            Target::RatioAtLeast(r) => write!(f, "≥ {r:.2}"),
            Target::NsAtMost(ns) => write!(f, "≤ {ns:.0} ns, 0 alloc"),
            Target::AtMostTokio => write!(f, "≤ tokio"),
            Target::None => write!(f, "–"),
        }
    }
}

/// One measurement function: runs the workload once on a runtime and returns the figure,
/// or `None` if the runtime has no equivalent.
pub type RunFn = Box<dyn Fn(Rt) -> Option<f64>>;

/// A workload as the harness sees it.
pub struct Workload {
    /// Short name (also what `--only` matches).
    pub name: String,
    /// What the figure measures.
    pub unit: Unit,
    /// The goal for trio-rs.
    pub target: Target,
    /// Runs it once.
    pub run: RunFn,
    /// How many runs.
    pub reps: Reps,
    /// A side figure read after the runs (e.g. allocations per op): its text for the notes
    /// column, and whether it satisfies the part of the target it concerns.
    pub note: Option<Box<dyn Fn() -> (String, bool)>>,
}

/// The medians of one workload.
pub struct Row {
    /// Workload name.
    pub name: String,
    /// Unit of the figures.
    pub unit: Unit,
    /// Goal.
    pub target: Target,
    /// Median per runtime (table order), `None` where not applicable.
    pub medians: [Option<f64>; 3],
    /// Notes column.
    pub note: String,
    /// Whether the side figure meets its part of the target (true when there is none).
    pub note_ok: bool,
}

impl Row {
    /// The best peer's median (fastest / smallest, or highest MB/s).
    pub fn best_peer(&self) -> Option<f64> {
        let peers = [self.medians[1], self.medians[2]];
        let it = peers.into_iter().flatten();
        if self.unit.higher_is_better() {
            it.reduce(f64::max)
        } else {
            it.reduce(f64::min)
        }
    }

    /// trio-rs's median divided by the best peer's.
    pub fn ratio(&self) -> Option<f64> {
        Some(self.medians[0]? / self.best_peer()?)
    }

    /// Whether the target holds (`None` when there is nothing to judge).
    pub fn met(&self) -> Option<bool> {
        let trio = self.medians[0]?;
        match self.target {
            Target::RatioAtMost(r) => Some(self.ratio()? <= r),
            Target::RatioAtLeast(r) => Some(self.ratio()? >= r),
            Target::NsAtMost(ns) => Some(trio <= ns && self.note_ok),
            Target::AtMostTokio => Some(trio <= self.medians[1]?),
            Target::None => None,
        }
    }
}

/// How many times to run each workload.
#[derive(Debug, Clone, Copy)]
pub struct Reps {
    /// Untimed runs per runtime first.
    pub warmup: usize,
    /// Timed runs per runtime.
    pub timed: usize,
}

/// Runs `w` alternately on every runtime and returns its medians.
pub fn measure(w: &Workload) -> Row {
    let reps = w.reps;
    let mut samples: [Vec<f64>; 3] = Default::default();
    for rep in 0..reps.warmup + reps.timed {
        for k in 0..3 {
            let rt = Rt::ALL[(rep + k) % 3];
            let figure = (w.run)(rt);
            if rep >= reps.warmup {
                if let Some(v) = figure {
                    samples[rt.index()].push(v);
                }
            }
        }
    }
    let medians = samples.map(|mut s| median(&mut s));
    let (note, note_ok) = w
        .note
        .as_ref()
        .map(|f| f())
        .unwrap_or((String::new(), true));
    Row {
        name: w.name.clone(),
        unit: w.unit,
        target: w.target,
        medians,
        note,
        note_ok,
    }
}

fn median(s: &mut [f64]) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}
