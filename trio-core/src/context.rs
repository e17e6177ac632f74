//! Thread-local access to the current run and the current task.
//!
//! A run lives on one thread; everything that needs "the loop" or "the task" finds it
//! here. Invariant: outside a run, every accessor either returns `None` (`try_*`) or
//! panics with a message naming the mistake, never hangs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::error::misuse;
use crate::run::RunState;
use crate::task::TaskData;

thread_local! {
    static RUN: RefCell<Option<Rc<RunState>>> = const { RefCell::new(None) };
    static TASK: RefCell<Option<Rc<TaskData>>> = const { RefCell::new(None) };
    /// The id of the run on this thread (0: none); compared by task schedule functions
    /// to tell a local wakeup from a foreign-thread one.
    static LOOP_ID: Cell<usize> = const { Cell::new(0) };
    /// Whether the run on this thread has instruments (fixed for a run), so every task
    /// step can skip the instrument hooks with one cheap thread-local read.
    static INSTRUMENTED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the current run. Panics outside a run.
#[inline]
pub(crate) fn with_run<R>(f: impl FnOnce(&Rc<RunState>) -> R) -> R {
    RUN.with(|r| match r.borrow().as_ref() {
        Some(run) => f(run),
        None => no_run(),
    })
}

/// The misuse panic of asking for the run outside one. Out of line (as the other
/// misuse panics here): the accessors are on every hot path, and an inlined panic
/// would keep them from being inlined.
#[cold]
#[inline(never)]
fn no_run() -> ! {
    panic!("{}", misuse::OUTSIDE_RUN)
}

/// Runs `f` with the current run, or returns `None` outside one.
pub(crate) fn try_with_run<R>(f: impl FnOnce(&Rc<RunState>) -> R) -> Option<R> {
    RUN.try_with(|r| r.borrow().as_ref().map(f)).ok().flatten()
}

/// True while a run is active on this thread.
pub(crate) fn in_run() -> bool {
    LOOP_ID.with(|id| id.get() != 0)
}

/// The id of the run active on this thread (0 if none).
pub(crate) fn loop_id() -> usize {
    LOOP_ID.try_with(|id| id.get()).unwrap_or(0)
}

/// Installs `run` as this thread's run. Panics if one is already active.
pub(crate) fn enter_run(run: Rc<RunState>) {
    if in_run() {
        panic!("{}", misuse::NESTED_RUN);
    }
    LOOP_ID.with(|id| id.set(run.shared.id));
    INSTRUMENTED.with(|i| i.set(!run.instruments.is_empty()));
    RUN.with(|r| *r.borrow_mut() = Some(run));
}

/// Removes this thread's run.
pub(crate) fn exit_run() {
    LOOP_ID.with(|id| id.set(0));
    INSTRUMENTED.with(|i| i.set(false));
    let old = RUN.with(|r| r.borrow_mut().take());
    drop(old);
}

/// Whether the current run has instruments.
pub(crate) fn instrumented() -> bool {
    INSTRUMENTED.with(Cell::get)
}

/// The task being polled. Panics outside a task.
#[inline]
pub(crate) fn current_task() -> Rc<TaskData> {
    match TASK.with(|t| t.borrow().clone()) {
        Some(task) => task,
        None => no_current_task(),
    }
}

/// The misuse panic of asking for the current task outside one.
#[cold]
#[inline(never)]
fn no_current_task() -> ! {
    if in_run() {
        panic!("{}", misuse::OUTSIDE_TASK)
    }
    panic!("{}", misuse::OUTSIDE_RUN)
}

/// Runs `f` with the task being polled. Panics outside a task.
#[inline]
pub(crate) fn with_current_task<R>(f: impl FnOnce(&Rc<TaskData>) -> R) -> R {
    TASK.with(|t| match t.borrow().as_ref() {
        Some(task) => f(task),
        None => no_current_task(),
    })
}

/// The task being polled, if any.
pub(crate) fn try_current_task() -> Option<Rc<TaskData>> {
    TASK.try_with(|t| t.borrow().clone()).ok().flatten()
}

/// Makes `task` the current one; returns the previous.
pub(crate) fn set_current_task(task: Option<Rc<TaskData>>) -> Option<Rc<TaskData>> {
    TASK.with(|t| std::mem::replace(&mut *t.borrow_mut(), task))
}
