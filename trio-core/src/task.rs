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
use std::cell::{Cell, RefCell};
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
pub(crate) enum Owner {
    /// A nursery's child.
    Nursery(Rc<NurseryState>),
    /// A task inside `Nursery::start` that has not called `started()` yet.
    Starting(Rc<dyn StartingOwner>),
    /// The main task or a system task: the run itself.
    Run { system: bool },
    /// Already reported.
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
pub(crate) struct TaskData {
    pub(crate) id: u64,
    pub(crate) name: Cow<'static, str>,
    /// Set on first poll; used to wake the task from trio primitives.
    pub(crate) waker: RefCell<Option<Waker>>,
    /// # Invariant
    /// While the task is polled: the innermost cancel node being polled. Between polls:
    /// the base node.
    pub(crate) status: RefCell<Rc<ScopeNode>>,
    /// The node the task was spawned under (nursery or hidden start scope).
    pub(crate) base: Rc<ScopeNode>,
    pub(crate) base_index: Cell<usize>,
    pub(crate) park_state: Cell<ParkState>,
    pub(crate) park_value: RefCell<Option<Result<()>>>,
    pub(crate) cancel_points: Cell<u64>,
    pub(crate) schedule_points: Cell<u64>,
    pub(crate) owner: RefCell<Owner>,
    /// Index in the owning nursery's `children` (when owned by a nursery).
    pub(crate) nursery_index: Cell<usize>,
    pub(crate) child_nurseries: RefCell<Vec<Weak<NurseryState>>>,
    /// The parking lot and ticket the task waits under, while parked in one.
    pub(crate) lot_slot: RefCell<crate::parking_lot::LotSlot>,
    pub(crate) system: bool,
}

static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(1);

impl TaskData {
    /// Wakes the task if it is parked and cancellation may concern it.
    pub(crate) fn wake_for_cancel(&self) {
        if self.park_state.get() == ParkState::Parked {
            self.wake();
        }
    }

    /// Schedules the task to be polled.
    pub(crate) fn wake(&self) {
        if let Some(w) = self.waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    /// Whether a checkpoint now would raise `Cancelled`.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.status.borrow().effectively_cancelled.get()
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
    let data = Rc::new(TaskData {
        id: NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed),
        name,
        waker: RefCell::new(None),
        status: RefCell::new(base.clone()),
        base: base.clone(),
        base_index: Cell::new(0),
        park_state: Cell::new(ParkState::Running),
        park_value: RefCell::new(None),
        cancel_points: Cell::new(0),
        schedule_points: Cell::new(0),
        owner: RefCell::new(owner),
        nursery_index: Cell::new(0),
        child_nurseries: RefCell::new(Vec::new()),
        lot_slot: RefCell::new(None),
        system,
    });
    base.attach_base_task(&data);
    let shared = context::with_run(|run| {
        run.tasks_living.set(run.tasks_living.get() + 1);
        run.instruments.task_spawned(&Task(data.clone()));
        run.shared.clone()
    });
    let wrapper = TaskFuture {
        task: Some(data.clone()),
        fut,
    };
    let (runnable, handle) = async_task::Builder::new()
        .metadata(shared)
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
        {
            let mut w = task.waker.borrow_mut();
            if w.is_none() {
                *w = Some(cx.waker().clone());
            }
        }
        let previous = context::set_current_task(Some(task.clone()));
        let instrumented = context::instrumented();
        if instrumented {
            context::with_run(|run| run.instruments.before_task_step(&Task(task.clone())));
        }
        let polled = catch_unwind(AssertUnwindSafe(|| this.fut.poll(cx)));
        if instrumented {
            context::with_run(|run| run.instruments.after_task_step(&Task(task.clone())));
        }
        context::set_current_task(previous);
        let outcome = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => Outcome::Ok,
            Ok(Poll::Ready(Err(e))) => Outcome::Err(e),
            Err(payload) => Outcome::Panic(payload),
        };
        let task = this.task.take().expect("task present until finished");
        finish(task, outcome);
        Poll::Ready(())
    }
}

/// A task's future ended: detach it everywhere and tell its owner.
fn finish(task: Rc<TaskData>, outcome: Outcome) {
    task.base.detach_base_task(&task);
    *task.status.borrow_mut() = task.base.clone();
    task.waker.borrow_mut().take();
    context::with_run(|run| {
        run.tasks_living.set(run.tasks_living.get() - 1);
        run.instruments.task_exited(&Task(task.clone()));
    });
    let owner = std::mem::replace(&mut *task.owner.borrow_mut(), Owner::Gone);
    match owner {
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
        &self.0.name
    }

    /// Whether this is a system task (`lowlevel::spawn_system_task`).
    pub fn is_system(&self) -> bool {
        self.0.system
    }

    /// The nursery this task belongs to (`None` for the main and system tasks, and for a
    /// task inside `start` that has not called `started()` yet).
    pub fn parent_nursery(&self) -> Option<Nursery> {
        match &*self.0.owner.borrow() {
            Owner::Nursery(n) => Some(Nursery { state: n.clone() }),
            _ => None,
        }
    }

    /// Nurseries opened by this task that are still open.
    pub fn child_nurseries(&self) -> Vec<Nursery> {
        self.0
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
            .field("name", &self.0.name)
            .finish()
    }
}
