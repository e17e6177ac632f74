//! `Instrument`: hooks into the run loop for tracing and metrics (Trio's `abc.Instrument`).
//!
//! Every hook has a no-op default. The run keeps its instruments in a list and skips the
//! whole dispatch when the list is empty, so an uninstrumented run pays one branch.

use std::cell::RefCell;
use std::time::Duration;

use crate::task::Task;

/// Hooks called by the run loop. Implement the ones you need.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use trio_core::lowlevel::{Instrument, Task};
/// struct Spawns(Rc<Cell<u32>>);
/// impl Instrument for Spawns {
///     fn task_spawned(&self, _task: &Task) { self.0.set(self.0.get() + 1); }
/// }
/// let n = Rc::new(Cell::new(0));
/// trio_core::Runner::new()
///     .instrument(Spawns(n.clone()))
///     .run(|| async { Ok(()) })
///     .unwrap();
/// assert!(n.get() >= 1); // the main task
/// ```
#[allow(unused_variables)]
pub trait Instrument {
    /// The run is starting.
    fn before_run(&self) {}
    /// The run has finished.
    fn after_run(&self) {}
    /// A task was created.
    fn task_spawned(&self, task: &Task) {}
    /// A task became runnable: spawned, rescheduled, or yielding at a checkpoint. Reported
    /// once before each of its steps; a checkpoint's yield and a wake-up through a plain
    /// `Waker` (a foreign future) are reported just before the step they cause.
    fn task_scheduled(&self, task: &Task) {}
    /// A task is about to be polled.
    fn before_task_step(&self, task: &Task) {}
    /// A task was polled.
    fn after_task_step(&self, task: &Task) {}
    /// A task finished.
    fn task_exited(&self, task: &Task) {}
    /// The loop is about to wait for I/O for at most `timeout` (`None`: indefinitely).
    fn before_io_wait(&self, timeout: Option<Duration>) {}
    /// The loop finished waiting for I/O.
    fn after_io_wait(&self, timeout: Option<Duration>) {}
}

/// The run's instruments.
#[derive(Default)]
pub(crate) struct Instruments {
    list: RefCell<Vec<Box<dyn Instrument>>>,
}

macro_rules! dispatch {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[inline]
            pub(crate) fn $name(&self, $($arg: $ty),*) {
                let list = self.list.borrow();
                if list.is_empty() {
                    return;
                }
                for i in list.iter() {
                    i.$name($($arg),*);
                }
            }
        )*
    };
}

impl Instruments {
    pub(crate) fn new(list: Vec<Box<dyn Instrument>>) -> Self {
        Instruments {
            list: RefCell::new(list),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.borrow().is_empty()
    }

    dispatch! {
        before_run();
        after_run();
        task_spawned(task: &Task);
        task_scheduled(task: &Task);
        before_task_step(task: &Task);
        after_task_step(task: &Task);
        task_exited(task: &Task);
        before_io_wait(timeout: Option<Duration>);
        after_io_wait(timeout: Option<Duration>);
    }
}
