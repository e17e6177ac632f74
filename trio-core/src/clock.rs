//! `Instant`, the `Clock` trait and the default `SystemClock`.
//!
//! All time inside a run is the run's clock time, so a mock clock (trio-testing's
//! `MockClock`) can drive sleeps, deadlines and I/O timeouts alike. Invariant: this is
//! the only module of trio-core that reads an OS clock: `CLOCK_MONOTONIC` for
//! [`SystemClock`], `std::time::Instant` for [`RealTime`].
//!
//! # The coarse bound
//!
//! A precise clock read costs about 40 ns on a virtual machine (measured: more than the
//! whole budget of entering and leaving a cancel scope), and entering a scope with an
//! absolute deadline must know whether that deadline has already passed (Trio cancels
//! such a scope on entry). `CLOCK_MONOTONIC_COARSE` costs a few ns: it is the same clock
//! as of the kernel's last timer tick, so it is never ahead of the precise clock and lags
//! it by about one tick. [`CoarseBound`] adds a margin of several ticks to it, giving a
//! time the precise clock cannot have reached yet; a deadline later than that (and later
//! than every time the run has handed out, see `surely_ahead`) is provably
//! still ahead, with no precise read. Only the system clock has this bound; any other
//! clock (a `MockClock`) is always read.

use std::cell::Cell;
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
    /// The latest representable instant. As a deadline it is Trio's infinity: the run
    /// never waits for it and an autojumping mock clock never jumps to it.
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

/// Monotonic system time (`CLOCK_MONOTONIC`), measured from the clock's creation.
#[derive(Debug)]
pub struct SystemClock {
    /// `CLOCK_MONOTONIC` at creation, in nanoseconds.
    origin: u64,
}

impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: monotonic_nanos(rustix::time::ClockId::Monotonic),
        }
    }

    /// What a run on this clock installs for its thread ([`install_system_clock`]).
    pub(crate) fn info(&self) -> SystemClockInfo {
        SystemClockInfo {
            origin: self.origin,
            coarse: CoarseBound::new(self.origin),
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
        since(self.origin)
    }

    fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
        Some(deadline.saturating_duration_since(self.current_time()))
    }
}

/// The system clock's time for a clock created at `origin` (`CLOCK_MONOTONIC` ns).
#[inline]
fn since(origin: u64) -> Instant {
    Instant::from_nanos(monotonic_nanos(rustix::time::ClockId::Monotonic).saturating_sub(origin))
}

#[inline]
fn monotonic_nanos(clock: rustix::time::ClockId) -> u64 {
    let t = rustix::time::clock_gettime(clock);
    // Monotonic clocks count from boot: both fields are non-negative.
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// What a run whose clock is a [`SystemClock`] puts in its thread's locals, so that
/// reading the time and entering a scope need neither the run nor a virtual call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SystemClockInfo {
    /// The clock's origin (`CLOCK_MONOTONIC` ns).
    origin: u64,
    /// The coarse bound, where the OS offers one.
    coarse: Option<CoarseBound>,
}

thread_local! {
    /// The origin of the run on this thread, when its clock is the system clock.
    /// Thread-locals of plain `Copy` values (no destructor), so reading the time or
    /// entering a scope reads them without borrowing the run.
    static SYSTEM_ORIGIN: Cell<Option<u64>> = const { Cell::new(None) };
    /// The coarse bound of the run on this thread, when its clock is the system clock.
    static COARSE_BOUND: Cell<Option<CoarseBound>> = const { Cell::new(None) };
    /// The latest time the run on this thread handed out (`RunState::now`).
    static LATEST_HANDED_OUT: Cell<Instant> = const { Cell::new(Instant::ZERO) };
}

/// Installs (at a run's start, `Some` when the run's clock is the system clock) or
/// removes (`None`, at its end) what the run on this thread knows about its clock.
pub(crate) fn install_system_clock(info: Option<SystemClockInfo>) {
    SYSTEM_ORIGIN.with(|o| o.set(info.map(|i| i.origin)));
    COARSE_BOUND.with(|b| b.set(info.and_then(|i| i.coarse)));
    LATEST_HANDED_OUT.with(|t| t.set(Instant::ZERO));
}

/// The time, read straight from the OS, when the run on this thread uses the system
/// clock (recorded as handed out); `None` otherwise (no run, or another clock: ask the
/// run). Exactly what `SystemClock::current_time` answers, without the run's `dyn Clock`.
#[inline]
pub(crate) fn system_now() -> Option<Instant> {
    let now = since(SYSTEM_ORIGIN.with(Cell::get)?);
    note_time_handed_out(now);
    Some(now)
}

/// Records a time the run handed out (see [`surely_ahead`]).
#[inline]
pub(crate) fn note_time_handed_out(now: Instant) {
    LATEST_HANDED_OUT.with(|t| t.set(t.get().max(now)));
}

/// True only if the run's clock has certainly not reached `deadline`, decided without a
/// precise clock read: the run's clock is the system clock, `deadline` is past its coarse
/// bound, and past every time the run has handed out, so no caller can have seen the
/// clock reach it (even if the coarse clock ever lagged by more than its margin).
/// `false` means "unknown": read the clock.
#[inline]
pub(crate) fn surely_ahead(deadline: Instant) -> bool {
    match COARSE_BOUND.with(Cell::get) {
        Some(bound) => deadline > LATEST_HANDED_OUT.with(Cell::get) && deadline > bound.not_yet(),
        None => false,
    }
}

/// A cheap upper bound on a [`SystemClock`]'s current time (see the module doc).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoarseBound {
    /// The system clock's origin (`CLOCK_MONOTONIC` ns).
    origin: u64,
    /// Added to a coarse reading: more than the precise clock can be ahead of it.
    margin: u64,
}

impl CoarseBound {
    /// At least this many ns of margin, whatever the tick.
    const MIN_MARGIN: u64 = 20_000_000;
    /// Ticks of margin: the coarse clock lags the precise one by one tick, more only
    /// when the timekeeping tick itself is late.
    const TICKS: u64 = 4;

    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    fn new(origin: u64) -> Option<Self> {
        use rustix::time::{clock_getres, ClockId};
        let res = clock_getres(ClockId::MonotonicCoarse);
        let tick = (res.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(res.tv_nsec as u64);
        // A coarse clock with a resolution over 10 ms is not worth the shortcut.
        (tick > 0 && tick <= 10_000_000).then_some(CoarseBound {
            origin,
            margin: (Self::TICKS * tick).max(Self::MIN_MARGIN),
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    fn new(_origin: u64) -> Option<Self> {
        None
    }

    /// A time the system clock cannot have reached yet.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    #[inline]
    pub(crate) fn not_yet(&self) -> Instant {
        let coarse = monotonic_nanos(rustix::time::ClockId::MonotonicCoarse);
        Instant::from_nanos(
            coarse
                .saturating_sub(self.origin)
                .saturating_add(self.margin),
        )
    }

    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    pub(crate) fn not_yet(&self) -> Instant {
        Instant::ZERO
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_bound_is_never_behind_a_precise_reading_taken_before_it() {
        let clock = SystemClock::new();
        let Some(bound) = clock.info().coarse else {
            return; // no coarse clock on this OS: the shortcut is off
        };
        for _ in 0..10_000 {
            let precise = clock.current_time();
            assert!(bound.not_yet() > precise);
        }
    }

    #[test]
    fn the_system_clock_starts_near_zero_and_never_goes_back() {
        let clock = SystemClock::new();
        let mut last = clock.current_time();
        assert!(last < Instant::ZERO + Duration::from_secs(1));
        for _ in 0..10_000 {
            let t = clock.current_time();
            assert!(t >= last);
            last = t;
        }
    }
}
