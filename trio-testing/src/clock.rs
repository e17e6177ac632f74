//! `MockClock`: virtual time for tests, driven by jumps, a rate, or autojump.
//!
//! # Model (Trio's `trio.testing.MockClock`)
//!
//! Virtual time is `base + rate * (real time since the last rebase)`, starting at
//! [`Instant::ZERO`]. Changing the rate rebases (the current virtual time becomes the new
//! base), so time never goes backwards. `jump(d)` adds `d` to the base. With an autojump
//! threshold, the run calls [`Clock::autojump`] with the next deadline once it has had
//! nothing to run for that long in real time; `wait_all_tasks_blocked` waiters with a
//! cushion no longer than the threshold wake first.
//!
//! The state sits behind an `Arc<Mutex<..>>` so the handle is cheap to clone, can be kept
//! by the test while the run owns another clone, and may be touched from other threads.
//! Invariant: virtual time read through any clone never decreases.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use trio_core::lowlevel::{RealTime, TrioToken};
use trio_core::{Clock, Instant};

/// A clock for tests whose time is virtual: it starts at [`Instant::ZERO`] and moves only
/// when told to ([`jump`](MockClock::jump)), at a chosen [`rate`](MockClock::with_rate)
/// of real time, or by *autojumping* to the next deadline when the run is idle.
///
/// The handle is cheap to clone; all clones share one clock. Give one to the run and keep
/// another to steer time from inside (or outside) it.
///
/// ```
/// use std::time::Duration;
/// use trio_core::{current_time, sleep, Instant, Runner};
/// use trio_testing::MockClock;
///
/// # fn main() -> trio_core::Result<()> {
/// // Autojump: an hour-long sleep finishes at once, and lands exactly on the deadline.
/// let clock = MockClock::new().with_autojump_threshold(Duration::ZERO);
/// Runner::new().clock(clock.clone()).run(|| async {
///     sleep(Duration::from_secs(3600)).await?;
///     assert_eq!(current_time(), Instant::ZERO + Duration::from_secs(3600));
///     Ok(())
/// })?;
/// assert_eq!(clock.current_time(), Instant::ZERO + Duration::from_secs(3600));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MockClock {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    /// Virtual time at `real_base`.
    virtual_base: Instant,
    /// Real time of the last rebase.
    real_base: RealTime,
    rate: f64,
    autojump_threshold: Option<Duration>,
    /// The token of the run using this clock, to wake its loop when a setting changes
    /// from another thread (the loop may be sleeping with a timeout computed from the
    /// old setting).
    token: Option<TrioToken>,
}

impl Inner {
    fn now(&self) -> Instant {
        if self.rate == 0.0 {
            return self.virtual_base;
        }
        let real = self.real_base.elapsed().as_nanos() as f64;
        let advanced = (real * self.rate).min(u64::MAX as f64) as u64;
        self.virtual_base + Duration::from_nanos(advanced)
    }

    fn rebase(&mut self) {
        self.virtual_base = self.now();
        self.real_base = RealTime::now();
    }

    fn wake_loop(&self) {
        if let Some(token) = &self.token {
            if !token.is_loop_thread() {
                // The run may be over already; then there is nothing to wake.
                let _ = token.run_sync_soon(|| {});
            }
        }
    }
}

impl MockClock {
    /// A clock at [`Instant::ZERO`] with rate 0 (time moves only by jumps) and no
    /// autojump.
    pub fn new() -> Self {
        MockClock {
            inner: Arc::new(Mutex::new(Inner {
                virtual_base: Instant::ZERO,
                real_base: RealTime::now(),
                rate: 0.0,
                autojump_threshold: None,
                token: None,
            })),
        }
    }

    /// Builder form of [`set_rate`](MockClock::set_rate).
    ///
    /// # Panics
    /// If `rate` is negative or not finite.
    pub fn with_rate(self, rate: f64) -> Self {
        self.set_rate(rate);
        self
    }

    /// Builder form of [`set_autojump_threshold`](MockClock::set_autojump_threshold).
    pub fn with_autojump_threshold(self, threshold: Duration) -> Self {
        self.set_autojump_threshold(Some(threshold));
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the state half-updated (every
        // update is a single assignment), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current virtual time.
    pub fn current_time(&self) -> Instant {
        self.lock().now()
    }

    /// How many virtual seconds pass per real second: 0 (the default) freezes time
    /// between jumps; 1 makes it follow real time; 10 runs it ten times faster.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// Sets the rate; virtual time keeps its current value and moves at the new rate
    /// from now on. Usable during the run.
    ///
    /// # Panics
    /// If `rate` is negative or not finite.
    pub fn set_rate(&self, rate: f64) {
        assert!(
            rate.is_finite() && rate >= 0.0,
            "MockClock rate must be finite and >= 0, got {rate}"
        );
        let mut inner = self.lock();
        inner.rebase();
        inner.rate = rate;
        inner.wake_loop();
    }

    /// The autojump threshold: `None` (the default) never autojumps.
    pub fn autojump_threshold(&self) -> Option<Duration> {
        self.lock().autojump_threshold
    }

    /// Sets the autojump threshold. With `Some(t)`, once the run has had nothing to run
    /// for `t` of *real* time, the clock jumps straight to the next deadline (`t = 0`:
    /// as soon as every task is blocked). `None` turns autojump off. Usable during the
    /// run.
    pub fn set_autojump_threshold(&self, threshold: Option<Duration>) {
        let mut inner = self.lock();
        inner.autojump_threshold = threshold;
        inner.wake_loop();
    }

    /// Moves virtual time forward by `d` at once. Deadlines that passed expire on the
    /// run's next turn.
    ///
    /// ```
    /// use std::time::Duration;
    /// use trio_core::Instant;
    /// let clock = trio_testing::MockClock::new();
    /// clock.jump(Duration::from_secs(5));
    /// assert_eq!(clock.current_time(), Instant::ZERO + Duration::from_secs(5));
    /// ```
    pub fn jump(&self, d: Duration) {
        let mut inner = self.lock();
        inner.virtual_base += d;
        inner.wake_loop();
    }
}

impl Default for MockClock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MockClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MockClock")
            .field("time", &inner.now())
            .field("rate", &inner.rate)
            .field("autojump_threshold", &inner.autojump_threshold)
            .finish()
    }
}

impl Clock for MockClock {
    fn start_clock(&self) {
        self.lock().token = Some(trio_core::lowlevel::current_trio_token());
    }

    fn current_time(&self) -> Instant {
        MockClock::current_time(self)
    }

    fn deadline_to_sleep_time(&self, deadline: Instant) -> Option<Duration> {
        let inner = self.lock();
        let virtual_wait = deadline.saturating_duration_since(inner.now());
        if virtual_wait.is_zero() {
            Some(Duration::ZERO)
        } else if inner.rate > 0.0 {
            Some(Duration::from_secs_f64(
                (virtual_wait.as_secs_f64() / inner.rate).min(u32::MAX as f64),
            ))
        } else {
            // Frozen time: only a jump can bring the deadline closer.
            None
        }
    }

    fn autojump_threshold(&self) -> Option<Duration> {
        MockClock::autojump_threshold(self)
    }

    fn autojump(&self, deadline: Instant) {
        let mut inner = self.lock();
        let now = inner.now();
        if deadline > now {
            inner.virtual_base += deadline - now;
        }
    }
}
