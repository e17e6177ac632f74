//! `Sequencer`: forces tasks through numbered points in order.
//!
//! Each position `n` has a one-shot gate, opened when the holder of position `n - 1`
//! releases it (position 0 needs no gate). Invariant: once a waiter is cancelled the
//! sequence is *broken*: every gate opens and every later or pending step fails, so a
//! test cannot silently go on out of order (Trio's behaviour).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use trio_core::lowlevel::ParkingLot;
use trio_core::{Error, ErrorKind, Result};

/// Makes tasks take turns at numbered points: `step(n)` waits until the guard of step
/// `n - 1` has been dropped (step 0 goes at once). Each position may be used once.
///
/// Clones share the same sequence.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use trio_core::open_nursery;
/// use trio_testing::Sequencer;
///
/// # fn main() -> trio_core::Result<()> {
/// trio_testing::run_autojump(|| async {
///     let seq = Sequencer::new();
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let (s, l) = (seq.clone(), log.clone());
///     open_nursery(|n| async move {
///         for (task, steps) in [("b", [1, 3]), ("a", [0, 2])] {
///             let (seq, log) = (s.clone(), l.clone());
///             n.start_soon(async move {
///                 for step in steps {
///                     let _turn = seq.step(step).await?;
///                     log.borrow_mut().push((step, task));
///                 }
///                 Ok(())
///             });
///         }
///         Ok(())
///     })
///     .await?;
///     assert_eq!(*log.borrow(), [(0, "a"), (1, "b"), (2, "a"), (3, "b")]);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Sequencer {
    inner: Rc<RefCell<Inner>>,
}

#[derive(Default)]
struct Inner {
    gates: HashMap<usize, Gate>,
    claimed: HashSet<usize>,
    broken: bool,
}

#[derive(Default)]
struct Gate {
    open: bool,
    lot: Rc<ParkingLot>,
}

const BROKEN: &str = "Sequencer: the sequence is broken (a step's wait was cancelled)";

impl Sequencer {
    /// A new sequence; position 0 is free to go.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits for position `position`'s turn and returns a guard; dropping the guard lets
    /// `position + 1` go. A checkpoint for every position but 0.
    ///
    /// Fails (with an error that is *not* `Cancelled`, as in Trio) if the sequence is
    /// broken, or if this wait is cancelled, which breaks the sequence for everyone.
    ///
    /// # Panics
    /// If `position` was already used on this sequencer.
    pub async fn step(&self, position: usize) -> Result<SequencerGuard> {
        {
            let mut inner = self.inner.borrow_mut();
            if !inner.claimed.insert(position) {
                panic!("Sequencer: position {position} was used twice; each step is taken once");
            }
            if inner.broken {
                return Err(Error::new(ErrorKind::Other, BROKEN));
            }
        }
        if position != 0 {
            let lot = {
                let mut inner = self.inner.borrow_mut();
                let gate = inner.gates.entry(position).or_default();
                (!gate.open).then(|| gate.lot.clone())
            };
            // A parked step is only woken when its gate opens (or the sequence breaks);
            // an open gate still costs a checkpoint, as Trio's `Event.wait` does.
            let waited = match &lot {
                Some(lot) => lot.park().await,
                None => trio_core::checkpoint().await,
            };
            if let Err(e) = waited {
                if e.is_cancelled() {
                    self.break_sequence();
                    return Err(Error::new(
                        ErrorKind::Other,
                        "Sequencer: a step's wait was cancelled; the sequence is broken",
                    ));
                }
                return Err(e);
            }
            if self.inner.borrow().broken {
                return Err(Error::new(ErrorKind::Other, BROKEN));
            }
        }
        Ok(SequencerGuard {
            sequencer: self.clone(),
            position,
        })
    }

    fn break_sequence(&self) {
        let lots: Vec<Rc<ParkingLot>> = {
            let mut inner = self.inner.borrow_mut();
            inner.broken = true;
            inner
                .gates
                .values_mut()
                .map(|g| {
                    g.open = true;
                    g.lot.clone()
                })
                .collect()
        };
        for lot in lots {
            lot.unpark_all();
        }
    }

    fn open(&self, position: usize) {
        let lot = {
            let mut inner = self.inner.borrow_mut();
            let gate = inner.gates.entry(position).or_default();
            gate.open = true;
            gate.lot.clone()
        };
        lot.unpark_all();
    }
}

impl fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.borrow();
        f.debug_struct("Sequencer")
            .field("claimed", &inner.claimed.len())
            .field("broken", &inner.broken)
            .finish()
    }
}

/// Holding this means it is your step's turn; dropping it lets the next step go.
#[must_use = "the next step goes as soon as the guard is dropped"]
#[derive(Debug)]
pub struct SequencerGuard {
    sequencer: Sequencer,
    position: usize,
}

impl SequencerGuard {
    /// The position this guard holds.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl Drop for SequencerGuard {
    fn drop(&mut self) {
        self.sequencer.open(self.position + 1);
    }
}
