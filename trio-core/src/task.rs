//! Tasks: the per-task record, spawning through `async-task`, and the public `Task`
//! handle for introspection.
//!
//! # A task's life
//!
//! 1. [`spawn`] makes a `TaskData` (id, name, base cancel node, owner), attaches it to
//!    its base node, allocates the future with `async_task::spawn_local` and schedules it.
//! 2. The run loop runs the `Runnable`; [`TaskFuture`] makes the task current, polls the
//!    user future under `catch_unwind`, and on the first poll keeps the task's waker so
//!    trio primitives can wake it without touching the `Context`.
//! 3. When the future returns (or panics), `finish` detaches the task from its base node
//!    and from its nursery's child list and reports the [`Outcome`] to its [`Owner`]:
//!    the nursery, a pending `start`, the run (main task) or the system nursery.
//!
//! The task record knows nothing about nursery policy; owners decide what an outcome
//! means.

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use crate::cancel::ScopeNode;
use crate::context;
use crate::nursery::{Nursery, NurseryState};
use crate::Result;

/// How a task ended.
pub(crate) enum Outcome {
    Ok,
    Err(crate::Error),
    Panic(Box<dyn Any + Send>),
}

/// Who hears about a task's outcome.
#[derive(Default)]
pub(crate) enum Owner {
    /// A nursery's child.
    Nursery(Rc<NurseryState>),
    /// A task inside `Nursery::start` that has not called `started()` yet.
    Starting(Rc<dyn StartingOwner>),
    /// The main task or a system task: the run itself.
    Run { system: bool },
    /// Already reported.
    #[default]
    Gone,
}

/// The pending `start()` call a starting task reports to.
pub(crate) trait StartingOwner {
    fn child_finished(&self, task: &Rc<TaskData>, outcome: Outcome);
}

/// Where a task is with respect to `wait_task_rescheduled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParkState {
    /// Not blocked in a trio primitive.
    Running,
    /// Blocked; the abort function has not run.
    Parked,
    /// Blocked; the abort function ran and said the operation can no longer be undone.
    AbortFailed,
    /// A value was handed over by `reschedule`; the park will return it.
    Rescheduled,
    /// The park future was dropped after its abort failed; the owed `reschedule` is
    /// swallowed when it comes.
    Abandoned,
}

/// The record of one task.
///
/// Kept small (a compile-time assertion holds it to 152 bytes, so with `Rc`'s counts it
/// takes a 176-byte malloc chunk): it is one of the two heap blocks every task costs.
/// Hence `Cell` rather than `RefCell` wherever a value can be taken and put back, and
/// the rarely used parts (an owned name, the list of open child nurseries) in
/// [`TaskExtras`], allocated only by the tasks that need it.
pub(crate) struct TaskData {
    pub(crate) id: u64,
    /// The name, unless it was given as an owned string (then it is in `extras`).
    static_name: &'static str,
    /// The task's own waker, kept once the task first blocks in `wait_task_rescheduled`
    /// (see [`TaskData::wake`]); tasks that never block never clone it.
    waker: Cell<Option<Waker>>,
    /// # Invariant
    /// While the task is polled: the innermost cancel node being polled. Between polls:
    /// the base node.
    pub(crate) status: StatusCell,
    /// The node the task was spawned under (nursery or hidden start scope).
    pub(crate) base: Rc<ScopeNode>,
    pub(crate) base_index: Cell<usize>,
    /// Index in the owning nursery's `children` (when owned by a nursery).
    pub(crate) nursery_index: Cell<u32>,
    pub(crate) park_state: Cell<ParkState>,
    /// A wake-up came while the task had no stored waker (it was being polled); the
    /// task wakes itself when that poll ends.
    wake_pending: Cell<bool>,
    /// With instruments only: `task_scheduled` was reported for the task's next step.
    scheduled_reported: Cell<bool>,
    pub(crate) system: bool,
    pub(crate) park_value: Cell<Option<Result<()>>>,
    pub(crate) cancel_points: Cell<u64>,
    pub(crate) schedule_points: Cell<u64>,
    /// Taken (left `Gone`) to read; see [`TaskData::parent_nursery`].
    pub(crate) owner: Cell<Owner>,
    extras: OnceCell<Box<TaskExtras>>,
    /// The parking lot and ticket the task waits under, while parked in one.
    pub(crate) lot_slot: Cell<crate::parking_lot::LotSlot>,
}

// The memory budget of a task (see `BENCHMARKS.md`, "Idle task memory").
const _: () = assert!(std::mem::size_of::<TaskData>() <= 152);

/// The parts of a task record few tasks use.
#[derive(Default)]
pub(crate) struct TaskExtras {
    name: Option<Box<str>>,
    /// Nurseries this task opened that are still open.
    pub(crate) child_nurseries: RefCell<Vec<Weak<NurseryState>>>,
}

/// A task's current cancel node: an `Rc` in a `Cell` (never empty but for the instant
/// of a read), 8 bytes where a `RefCell` takes 16.
pub(crate) struct StatusCell(Cell<Option<Rc<ScopeNode>>>);

impl StatusCell {
    fn new(node: Rc<ScopeNode>) -> Self {
        StatusCell(Cell::new(Some(node)))
    }

    /// Runs `f` with the current node (which `f` must not replace).
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Rc<ScopeNode>) -> R) -> R {
        let node = self.0.take().expect("a task always has a status");
        let r = f(&node);
        self.0.set(Some(node));
        r
    }

    /// The current node.
    #[inline]
    pub(crate) fn get(&self) -> Rc<ScopeNode> {
        self.with(Rc::clone)
    }

    /// Makes `node` current; returns the previous one.
    #[inline]
    pub(crate) fn replace(&self, node: Rc<ScopeNode>) -> Rc<ScopeNode> {
        self.0
            .replace(Some(node))
            .expect("a task always has a status")
    }
}

static NEXT_TASK_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

/// How many task ids a thread takes from the global counter at a time: ids stay unique
/// in the process without an atomic read-modify-write per spawn.
const TASK_ID_BLOCK: u64 = 1024;

thread_local! {
    /// The next id this thread hands out, and the end of its block.
    static TASK_IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn next_task_id() -> u64 {
    TASK_IDS.with(|ids| {
        let (mut next, mut end) = ids.get();
        if next == end {
            next = NEXT_TASK_ID_BLOCK.fetch_add(TASK_ID_BLOCK, Ordering::Relaxed);
            end = next + TASK_ID_BLOCK;
        }
        ids.set((next + 1, end));
        next
    })
}

impl TaskData {
    /// Wakes the task if it is parked and cancellation may concern it.
    pub(crate) fn wake_for_cancel(&self) {
        if self.park_state.get() == ParkState::Parked {
            self.wake();
        }
    }

    /// Schedules the task to be polled. Only called for a parked task: one that kept its
    /// waker at the end of the poll that parked it, or that is still in that poll (then
    /// `TaskFuture` wakes it when the poll ends).
    pub(crate) fn wake(&self) {
        match self.waker.take() {
            Some(w) => {
                w.wake_by_ref();
                self.waker.set(Some(w));
            }
            None => self.wake_pending.set(true),
        }
    }

    /// Whether a checkpoint now would raise `Cancelled`.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.status.with(|s| s.effectively_cancelled.get())
    }

    /// The task's name.
    pub(crate) fn name(&self) -> &str {
        match self.extras.get().and_then(|e| e.name.as_deref()) {
            Some(name) => name,
            None => self.static_name,
        }
    }

    /// The nursery the task reports to, if any.
    pub(crate) fn parent_nursery(&self) -> Option<Rc<NurseryState>> {
        let owner = self.owner.take();
        let parent = match &owner {
            Owner::Nursery(n) => Some(n.clone()),
            _ => None,
        };
        self.owner.set(owner);
        parent
    }

    /// The rarely used parts of the record, allocated on first use.
    pub(crate) fn extras(&self) -> &TaskExtras {
        self.extras.get_or_init(Box::default)
    }

    /// Called by `TaskFuture` after a poll that left the task pending: keeps the waker
    /// of a task that blocked, and delivers a wake-up that came during the poll.
    #[cold]
    fn after_pending_poll(&self, cx: &Context<'_>) {
        if self.park_state.get() != ParkState::Running {
            let w = self.waker.take();
            self.waker
                .set(Some(w.unwrap_or_else(|| cx.waker().clone())));
        }
        if self.wake_pending.replace(false) {
            cx.waker().wake_by_ref();
        }
    }

    fn needs_after_pending_poll(&self) -> bool {
        self.park_state.get() != ParkState::Running || self.wake_pending.get()
    }
}

/// Futures larger than this are boxed before spawning: every move of a future on its
/// way into `async_task`'s allocation is a stack copy in debug builds, and a large one
/// (a big `async` block) would overflow a 2 MiB test-thread stack.
const BOX_FUTURES_ABOVE: usize = 4096;

/// Spawns `fut` as a task attached under `base`, reporting to `owner`.
pub(crate) fn spawn<F>(
    fut: F,
    name: Cow<'static, str>,
    base: Rc<ScopeNode>,
    owner: Owner,
) -> Rc<TaskData>
where
    F: Future<Output = Result<()>> + 'static,
{
    if std::mem::size_of::<F>() > BOX_FUTURES_ABOVE {
        spawn_inner(Box::pin(fut), name, base, owner)
    } else {
        spawn_inner(fut, name, base, owner)
    }
}

fn spawn_inner<F>(
    fut: F,
    name: Cow<'static, str>,
    base: Rc<ScopeNode>,
    owner: Owner,
) -> Rc<TaskData>
where
    F: Future<Output = Result<()>> + 'static,
{
    let system = matches!(owner, Owner::Run { system: true });
    let extras = OnceCell::new();
    let static_name = match name {
        Cow::Borrowed(name) => name,
        Cow::Owned(name) => {
            let _ = extras.set(Box::new(TaskExtras {
                name: Some(name.into_boxed_str()),
                ..TaskExtras::default()
            }));
            ""
        }
    };
    let data = Rc::new(TaskData {
        id: next_task_id(),
        static_name,
        waker: Cell::new(None),
        status: StatusCell::new(base.clone()),
        base,
        base_index: Cell::new(0),
        nursery_index: Cell::new(0),
        park_state: Cell::new(ParkState::Running),
        wake_pending: Cell::new(false),
        scheduled_reported: Cell::new(false),
        system,
        park_value: Cell::new(None),
        cancel_points: Cell::new(0),
        schedule_points: Cell::new(0),
        owner: Cell::new(owner),
        extras,
        lot_slot: Cell::new(None),
    });
    data.base.attach_base_task(&data);
    let run_id = context::with_run(|run| {
        run.tasks_living.set(run.tasks_living.get() + 1);
        if context::instrumented() {
            run.instruments.task_spawned(&Task(data.clone()));
            report_scheduled(&data);
        }
        run.shared.id
    });
    let wrapper = TaskFuture {
        task: Some(data.clone()),
        fut,
    };
    let (runnable, handle) = async_task::Builder::new()
        .metadata(run_id)
        .spawn_local(move |_| wrapper, crate::run::schedule);
    handle.detach();
    runnable.schedule();
    data
}

pin_project_lite::pin_project! {
    /// Wraps a task's future: makes the task current while polling, catches panics, and
    /// reports the outcome exactly once.
    pub(crate) struct TaskFuture<F> {
        task: Option<Rc<TaskData>>,
        #[pin]
        fut: F,
    }
}

impl<F: Future<Output = Result<()>>> Future for TaskFuture<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let Some(task) = this.task.as_ref() else {
            return Poll::Ready(());
        };
        let previous = context::set_current_task(Some(task.clone()));
        let instrumented = context::instrumented();
        if instrumented {
            // Every step follows one `task_scheduled`, as in Trio. A checkpoint's yield and
            // wake-ups through a plain `Waker` (a foreign future, a `wake_when_*`
            // registration) are reported here, just before the step: the yield's path is
            // every checkpoint's, and a waker knows no task.
            report_scheduled(task);
            task.scheduled_reported.set(false);
            context::with_run(|run| run.instruments.before_task_step(&Task(task.clone())));
        }
        let polled = catch_unwind(AssertUnwindSafe(|| this.fut.poll(cx)));
        if instrumented {
            context::with_run(|run| run.instruments.after_task_step(&Task(task.clone())));
        }
        context::set_current_task(previous);
        let outcome = match polled {
            Ok(Poll::Pending) => {
                if task.needs_after_pending_poll() {
                    task.after_pending_poll(cx);
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(Ok(()))) => Outcome::Ok,
            Ok(Poll::Ready(Err(e))) => Outcome::Err(e),
            Err(payload) => Outcome::Panic(payload),
        };
        let task = this.task.take().expect("task present until finished");
        finish(task, outcome);
        Poll::Ready(())
    }
}

/// Reports `task_scheduled` for `task`'s next step, unless it was already reported. Call
/// only when the run has instruments.
pub(crate) fn report_scheduled(task: &Rc<TaskData>) {
    if !task.scheduled_reported.replace(true) {
        context::with_run(|run| run.instruments.task_scheduled(&Task(task.clone())));
    }
}

/// A task's future ended: detach it everywhere and tell its owner.
fn finish(task: Rc<TaskData>, outcome: Outcome) {
    task.base.detach_base_task(&task);
    // Scope futures restore the status after every poll (even on unwind), so this is
    // normally already the base.
    if !task.status.with(|s| Rc::ptr_eq(s, &task.base)) {
        task.status.replace(task.base.clone());
    }
    task.waker.take();
    task.wake_pending.set(false);
    context::with_run(|run| {
        run.tasks_living.set(run.tasks_living.get() - 1);
        if context::instrumented() {
            run.instruments.task_exited(&Task(task.clone()));
        }
    });
    match task.owner.take() {
        Owner::Nursery(n) => n.child_finished(&task, outcome),
        Owner::Starting(s) => s.child_finished(&task, outcome),
        Owner::Run { system } => context::with_run(|run| run.root_task_finished(system, outcome)),
        Owner::Gone => {}
    }
}

/// A handle to a task, for introspection (`lowlevel::current_task`) and for
/// `lowlevel::reschedule`.
#[derive(Clone)]
pub struct Task(pub(crate) Rc<TaskData>);

impl Task {
    /// A number unique among the tasks of this process.
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The task's name (by default the type name of its future).
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Whether this is a system task (`lowlevel::spawn_system_task`).
    pub fn is_system(&self) -> bool {
        self.0.system
    }

    /// The nursery this task belongs to (`None` for the main and system tasks, and for a
    /// task inside `start` that has not called `started()` yet).
    pub fn parent_nursery(&self) -> Option<Nursery> {
        self.0.parent_nursery().map(|state| Nursery { state })
    }

    /// Nurseries opened by this task that are still open.
    pub fn child_nurseries(&self) -> Vec<Nursery> {
        let Some(extras) = self.0.extras.get() else {
            return Vec::new();
        };
        extras
            .child_nurseries
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .map(|state| Nursery { state })
            .collect()
    }

    /// How many cancel points (places `Cancelled` could be raised) the task has passed.
    pub fn cancel_points(&self) -> u64 {
        self.0.cancel_points.get()
    }

    /// How many schedule points (places the task yielded to the scheduler) it has passed.
    pub fn schedule_points(&self) -> u64 {
        self.0.schedule_points.get()
    }

    /// Whether a checkpoint in this task would raise `Cancelled` right now, when asked by
    /// the task itself. Asked about another task, it answers for the scope that task was
    /// spawned under (its nursery), not for scopes it entered since.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

impl PartialEq for Task {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Task {}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.0.id)
            .field("name", &self.0.name())
            .finish()
    }
}
