//! `Instant`, the `Clock` trait and the default `SystemClock`.
//!
//! All time inside a run is the run's clock time, so a mock clock (trio-testing's
//! `MockClock`) can drive sleeps, deadlines and I/O timeouts alike. Invariant: this is
//! the only module of trio-core that reads `std::time::Instant` (through [`RealTime`]).

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in the current run's clock time, in whole nanoseconds since the clock's
/// origin. Not a `std::time::Instant`: under a mock clock it is virtual.
///
/// Arithmetic is exact; adding a duration saturates at [`Instant::MAX`] instead of
/// overflowing, so `move_on_after(Duration::MAX, ..)` simply never fires.
///
/// ```
/// use std::time::Duration;
/// use trio_core::Instant;
/// let t = Instant::from_nanos(1_000);
/// assert_eq!((t + Duration::from_nanos(500)) - t, Duration::from_nanos(500));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    nanos: u64,
}

impl Instant {
    /// The clock's origin (a mock clock starts here).
    pub const ZERO: Instant = Instant { nanos: 0 };
    /// The latest representable instant; a deadline here never expires in practice.
    pub const MAX: Instant = Instant { nanos: u64::MAX };

    /// The instant `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant { nanos }
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// Time since the origin.
    pub const fn since_origin(self) -> Duration {
        Duration::from_nanos(self.nanos)
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// `self + d`, or `None` past [`Instant::MAX`].
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        self.nanos.checked_add(d).map(Instant::from_nanos)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant::MAX)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturates at [`Instant::ZERO`].
    fn sub(self, d: Duration) -> Instant {
        let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant::from_nanos(self.nanos.saturating_sub(d))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// # Panics
    /// If `earlier` is later than `self` (use `saturating_duration_since`).
    fn sub(self, earlier: Instant) -> Duration {
        let nanos = self
            .nanos
            .checked_sub(earlier.nanos)
            .expect("Instant - Instant: the right side is later than the left");
        Duration::from_nanos(nanos)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Instant({:?})", self.since_origin())
    }
}

/// The source of a run's time. `run` uses [`SystemClock`]; trio-testing's `MockClock`
/// implements this to make time virtual.
///
/// The run loop calls these from its own thread only.
pub trait Clock: 'static {
    /// Called once when the run starts.
    fn start_clock(&self) {}

    /// The current time.
    fn current_time(&self) -> Instant;

    /// How long, in real time, the loop may block waiting for I/O before `deadline`
    /// arrives. `None` means "indefinitely" (a clock that only moves when told to).
    fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration>;

    /// For a clock that can jump ahead: how long the loop must have been idle (in real
    /// time) before the run calls [`Clock::autojump`]. `None` (the default) disables it.
    /// Waiters of `wait_all_tasks_blocked` take priority over autojumps.
    fn autojump_threshold(&self) -> Option<Duration> {
        None
    }

    /// Jump the clock to `deadline`, the next deadline in the run (never backwards).
    fn autojump(&self, _deadline: Instant) {}
}

/// Monotonic system time, measured from the start of the run.
#[derive(Debug)]
pub struct SystemClock {
    origin: RealTime,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: RealTime::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn current_time(&self) -> Instant {
        Instant::ZERO + self.origin.elapsed()
    }

    fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
        Some(deadline.saturating_duration_since(self.current_time()))
    }
}

/// A real (wall, monotonic) time reading, for the few places that measure real time
/// whatever the run's clock is: autojump and `wait_all_tasks_blocked` cushions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RealTime(std::time::Instant);

impl RealTime {
    /// Now.
    pub fn now() -> Self {
        RealTime(std::time::Instant::now())
    }

    /// Real time elapsed since this reading.
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    /// `self + d`.
    pub fn after(self, d: Duration) -> Self {
        RealTime(self.0 + d)
    }

    /// Real time from now until `self` (zero if past).
    pub fn until(&self) -> Duration {
        self.0.saturating_duration_since(std::time::Instant::now())
    }
}
