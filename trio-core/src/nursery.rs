//! Nurseries: `open_nursery`, `Nursery::{start_soon, start}`, `TaskStatus`, and the
//! join-and-collect that makes a nursery wait for every child and lose no error.
//!
//! # Rules
//! 1. The body and the children form one unit: `open_nursery` returns only after the body
//!    and every child have finished.
//! 2. The first failure (an `Err` from the body or a child, or a panic) cancels the
//!    nursery's scope; every failure is kept, in the order it happened. One comes back
//!    as it is, several as a group; `Cancelled` leaves are stripped by whichever scope
//!    absorbs the cancellation (possibly this nursery's own).
//! 3. A panic in a child or in the body is resumed from `open_nursery` after every other
//!    task of the nursery was cancelled and joined.
//! 4. Children run under the nursery's scope, which hangs under the scope that was
//!    current where `open_nursery` was called.
//! 5. A nursery is closed (spawning panics) once its body and all children finished.
//! 6. If the nursery future is dropped early, its children are cancelled; the run still
//!    waits for them, and a non-cancellation error among them fails the run (a panic
//!    among them comes out of `run` with its payload).
//! 7. `start`: the child runs under a hidden scope below the caller's scope until it calls
//!    `started(value)`; that moves the hidden scope (and everything under it) below the
//!    nursery's scope, unless the caller is already cancelled, in which case nothing moves.
//!    If the `start` future is dropped before `started`, the child is cancelled through the
//!    hidden scope (which catches that `Cancelled`) and the target nursery still joins it;
//!    any other failure of the child fails the target nursery.

use std::any::Any;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use crate::cancel::{CancelHandle, ScopeNode};
use crate::context;
use crate::error::misuse;
use crate::scope_future::{absorb, StatusGuard};
use crate::task::{self, Outcome, Owner, StartingOwner, Task, TaskData};
use crate::{Error, ErrorKind, Result};

/// The shared state of one nursery.
pub(crate) struct NurseryState {
    pub(crate) scope: Rc<ScopeNode>,
    parent_task: Rc<TaskData>,
    /// How many children spawned by `start_soon` are running. They are the base tasks of
    /// `scope` (which lists them), so the nursery keeps only the count.
    soon_children: Cell<usize>,
    /// Children that arrived through `start` (their base is their hidden scope).
    /// # Invariant
    /// Each one's `nursery_index` is its position here.
    started_children: RefCell<Vec<Rc<TaskData>>>,
    pending_starts: Cell<usize>,
    errors: RefCell<Vec<Error>>,
    panic: RefCell<Option<Box<dyn Any + Send>>>,
    closed: Cell<bool>,
    /// The parent's waker while it waits for children in the join phase.
    joiner: RefCell<Option<Waker>>,
    /// The nursery future was dropped before it finished (rule 6).
    abandoned: Cell<bool>,
}

impl NurseryState {
    fn record_failure(&self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => return,
            Outcome::Err(e) => self.errors.borrow_mut().push(e),
            Outcome::Panic(p) => {
                let mut slot = self.panic.borrow_mut();
                if slot.is_none() {
                    *slot = Some(p);
                }
            }
        }
        self.scope.cancel();
    }

    fn add_started_child(&self, task: &Rc<TaskData>) {
        let mut children = self.started_children.borrow_mut();
        // u32: a nursery with 2^32 live children would need terabytes.
        task.nursery_index.set(children.len() as u32);
        children.push(task.clone());
    }

    fn remove_started_child(&self, task: &TaskData) {
        let mut children = self.started_children.borrow_mut();
        let i = task.nursery_index.get() as usize;
        if i < children.len() && std::ptr::eq(&*children[i], task) {
            children.swap_remove(i);
            if let Some(moved) = children.get(i) {
                moved.nursery_index.set(i as u32);
            }
        }
    }

    fn busy(&self) -> bool {
        self.soon_children.get() > 0
            || !self.started_children.borrow().is_empty()
            || self.pending_starts.get() > 0
    }

    pub(crate) fn child_finished(self: &Rc<Self>, task: &Rc<TaskData>, outcome: Outcome) {
        if Rc::ptr_eq(&task.base, &self.scope) {
            self.soon_children.set(self.soon_children.get() - 1);
        } else {
            // A task that arrived through `start`: its hidden scope ends with it.
            self.remove_started_child(task);
            task.base.exit();
        }
        if !matches!(outcome, Outcome::Ok) {
            self.record_failure(outcome);
        }
        self.maybe_wake_joiner();
    }

    fn maybe_wake_joiner(self: &Rc<Self>) {
        if self.busy() {
            return;
        }
        if let Some(w) = self.joiner.borrow_mut().take() {
            w.wake();
        }
        if self.abandoned.get() {
            self.finish_abandoned();
        }
    }

    /// Rule 6: the last child of a dropped nursery is gone.
    fn finish_abandoned(&self) {
        self.closed.set(true);
        self.scope.exit();
        let errors = std::mem::take(&mut *self.errors.borrow_mut());
        let panic = self.panic.borrow_mut().take();
        let lost: Vec<Error> = errors
            .into_iter()
            .filter_map(Error::strip_cancelled)
            .collect();
        // Nobody is left to hear these: a panic keeps its payload and comes out of `run`
        // (rule 3, one level up); other errors fail the run, naming the lost nursery.
        if let Some(p) = panic {
            context::with_run(|run| run.internal_panic(p));
        }
        if !lost.is_empty() {
            let inner = Error::with_source(
                ErrorKind::Internal,
                "a nursery was dropped before it finished (e.g. by select!), and its children failed after it",
                crate::error::StdErrorAdapter(Error::from_errors(lost)),
            );
            context::with_run(|run| run.internal_error(inner));
        }
    }
}

/// A handle to an open nursery: spawn tasks into it with [`start_soon`](Nursery::start_soon)
/// or [`start`](Nursery::start). Cheap to clone; pass it to other tasks to let them spawn
/// work that outlives them (but never the nursery).
#[derive(Clone)]
pub struct Nursery {
    pub(crate) state: Rc<NurseryState>,
}

impl Nursery {
    /// Schedules `fut` as a child task; runs none of its code before returning.
    ///
    /// # Panics
    /// If the nursery is closed (its block and all its children have finished).
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     trio_core::open_nursery(|nursery| async move {
    ///         nursery.start_soon(async { trio_core::checkpoint().await });
    ///         Ok(())
    ///     })
    ///     .await?;
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn start_soon<F>(&self, fut: F)
    where
        F: Future<Output = Result<()>> + 'static,
    {
        self.start_soon_named(Cow::Borrowed(std::any::type_name::<F>()), fut);
    }

    /// [`start_soon`](Nursery::start_soon) with a task name for introspection.
    pub fn start_soon_named<F>(&self, name: impl Into<Cow<'static, str>>, fut: F)
    where
        F: Future<Output = Result<()>> + 'static,
    {
        let state = &self.state;
        if state.closed.get() {
            panic!("{}", misuse::NURSERY_CLOSED);
        }
        task::spawn(
            fut,
            name.into(),
            state.scope.clone(),
            Owner::Nursery(state.clone()),
        );
        state.soon_children.set(state.soon_children.get() + 1);
    }

    /// Starts a child and waits until it calls [`TaskStatus::started`], then returns the
    /// value it passed. Until then the child runs under the caller's cancel scopes (a
    /// cancelled caller cancels it) and its failure is returned here; afterwards it belongs
    /// to this nursery.
    ///
    /// A schedule point; once `started` took effect the value is returned even if the
    /// caller was cancelled meanwhile.
    ///
    /// ```
    /// # fn main() -> trio_core::Result<()> {
    /// trio_core::run(|| async {
    ///     trio_core::open_nursery(|nursery| async move {
    ///         let port = nursery
    ///             .start(|status| async move {
    ///                 status.started(8080u16); // e.g. once a listener is bound
    ///                 trio_core::checkpoint().await
    ///             })
    ///             .await?;
    ///         assert_eq!(port, 8080);
    ///         Ok(())
    ///     })
    ///     .await?;
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub async fn start<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: 'static,
        F: FnOnce(TaskStatus<T>) -> Fut,
        Fut: Future<Output = Result<()>> + 'static,
    {
        let target = self.state.clone();
        if target.closed.get() {
            panic!("{}", misuse::NURSERY_CLOSED);
        }
        let caller = context::current_task();
        let hidden = ScopeNode::fresh();
        hidden.enter(&caller.status.get(), None);
        let start = Rc::new(StartState {
            target: target.clone(),
            hidden,
            value: RefCell::new(None),
            failure: RefCell::new(None),
            done: Cell::new(false),
            abandoned: Cell::new(false),
            caller: RefCell::new(None),
            task: RefCell::new(None),
        });
        target.pending_starts.set(target.pending_starts.get() + 1);
        let fut = f(TaskStatus {
            start: Some(start.clone()),
        });
        let name = Cow::Borrowed(std::any::type_name::<Fut>());
        let task = task::spawn(
            fut,
            name,
            start.hidden.clone(),
            Owner::Starting(start.clone()),
        );
        *start.task.borrow_mut() = Some(Rc::downgrade(&task));
        StartWait {
            start,
            yielded: false,
        }
        .await
    }

    /// A handle to the nursery's cancel scope: `nursery.cancel_scope().cancel()` cancels
    /// the body and every child.
    pub fn cancel_scope(&self) -> CancelHandle {
        CancelHandle {
            node: self.state.scope.clone(),
        }
    }

    /// The task that opened this nursery.
    pub fn parent_task(&self) -> Task {
        Task(self.state.parent_task.clone())
    }

    /// The children running now (not counting tasks inside a pending `start`).
    pub fn child_tasks(&self) -> Vec<Task> {
        let state = &self.state;
        let mut tasks = state.scope.base_tasks();
        tasks.extend(state.started_children.borrow().iter().cloned());
        tasks.into_iter().map(Task).collect()
    }

    /// Whether the nursery is closed to new tasks.
    pub fn is_closed(&self) -> bool {
        self.state.closed.get()
    }
}

impl std::fmt::Debug for Nursery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nursery")
            .field(
                "children",
                &(self.state.soon_children.get() + self.state.started_children.borrow().len()),
            )
            .field("closed", &self.state.closed.get())
            .finish()
    }
}

/// The state shared by a `start()` call, its child, and the child's `TaskStatus`.
struct StartState<T> {
    target: Rc<NurseryState>,
    hidden: Rc<ScopeNode>,
    value: RefCell<Option<T>>,
    failure: RefCell<Option<Outcome>>,
    done: Cell<bool>,
    /// The `start()` future was dropped before `started()`: nobody will read the outcome.
    abandoned: Cell<bool>,
    caller: RefCell<Option<Waker>>,
    task: RefCell<Option<Weak<TaskData>>>,
}

impl<T> StartState<T> {
    fn wake_caller(&self) {
        self.done.set(true);
        if let Some(w) = self.caller.borrow_mut().take() {
            w.wake();
        }
    }
}

impl<T> StartingOwner for StartState<T> {
    fn child_finished(&self, _task: &Rc<TaskData>, outcome: Outcome) {
        // Finished without a successful `started()`: report to the caller.
        self.hidden.exit();
        self.target
            .pending_starts
            .set(self.target.pending_starts.get() - 1);
        if self.abandoned.get() {
            // The caller is gone. The hidden scope it cancelled catches the `Cancelled`;
            // anything else is not lost: it fails the target nursery.
            let outcome = match outcome {
                Outcome::Err(e) => e.strip_cancelled().map_or(Outcome::Ok, Outcome::Err),
                other => other,
            };
            self.target.record_failure(outcome);
        } else {
            *self.failure.borrow_mut() = Some(outcome);
            self.wake_caller();
        }
        // The target may have been waiting only for this start.
        let target = self.target.clone();
        target.maybe_wake_joiner();
    }
}

/// Passed to a task run by [`Nursery::start`]; call [`started`](TaskStatus::started) once
/// the task is ready.
pub struct TaskStatus<T: 'static> {
    start: Option<Rc<StartState<T>>>,
}

impl<T: 'static> TaskStatus<T> {
    /// A status whose `started` does nothing, so one function can be run with
    /// `start_soon` as well as with `start` (Trio's `TASK_STATUS_IGNORED`).
    pub fn ignored() -> Self {
        TaskStatus { start: None }
    }

    /// Reports that the task is ready, handing `value` to the `start()` caller, and moves
    /// the task into the target nursery. If the caller is already cancelled, nothing
    /// happens: the task stays under the caller's cancelled scope.
    pub fn started(self, value: T) {
        let Some(start) = self.start else { return };
        if start.hidden.effectively_cancelled.get() || start.done.get() {
            return;
        }
        let target = start.target.clone();
        let task = start.task.borrow().as_ref().and_then(Weak::upgrade);
        let Some(task) = task else { return };
        start.hidden.reparent(&target.scope);
        task.owner.set(Owner::Nursery(target.clone()));
        target.add_started_child(&task);
        target.pending_starts.set(target.pending_starts.get() - 1);
        *start.value.borrow_mut() = Some(value);
        start.wake_caller();
    }
}

impl<T> std::fmt::Debug for TaskStatus<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskStatus")
            .field("ignored", &self.start.is_none())
            .finish()
    }
}

/// The caller's side of `start()`: waits (not cancellably: cancellation reaches the child
/// through the hidden scope) for `started()` or the child's end.
struct StartWait<T: 'static> {
    start: Rc<StartState<T>>,
    yielded: bool,
}

impl<T: 'static> Future for StartWait<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        if !self.start.done.get() {
            *self.start.caller.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if !self.yielded {
            // A schedule point, never a cancel point: `started` already took effect.
            self.yielded = true;
            context::with_current_task(|t| t.schedule_points.set(t.schedule_points.get() + 1));
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(v) = self.start.value.borrow_mut().take() {
            return Poll::Ready(Ok(v));
        }
        let outcome = self.start.failure.borrow_mut().take();
        match outcome {
            Some(Outcome::Err(e)) => Poll::Ready(Err(e)),
            Some(Outcome::Panic(p)) => resume_unwind(p),
            Some(Outcome::Ok) | None => Poll::Ready(Err(Error::msg(misuse::NEVER_STARTED))),
        }
    }
}

impl<T: 'static> Drop for StartWait<T> {
    fn drop(&mut self) {
        if self.start.done.get() {
            return;
        }
        // Dropped while the child has not started: cancel it through its hidden scope.
        // It stays a pending start of the target nursery, which therefore still joins it
        // (a task never outlives its nursery); `started()` is now a no-op.
        let start = &self.start;
        start.done.set(true);
        start.abandoned.set(true);
        start.hidden.cancel();
    }
}

/// Opens a nursery, runs `body` with it, and waits for the body and every child.
///
/// Returns `Ok(Some(value))` when everything succeeded, `Ok(None)` when the nursery's own
/// scope absorbed the `Cancelled` that ended the body (e.g. a child called
/// `nursery.cancel_scope().cancel()`), and otherwise the failure: one error as it is, or
/// several as an [`ErrorKind::Group`] in the order they happened. A child's panic is
/// resumed here after its siblings were cancelled and joined.
///
/// ```
/// use std::time::Duration;
/// # fn main() -> trio_core::Result<()> {
/// trio_core::run(|| async {
///     let result = trio_core::open_nursery(|nursery| async move {
///         nursery.start_soon(async { trio_core::sleep_forever().await.map(|_| ()) });
///         nursery.start_soon(async { Err(trio_core::Error::msg("boom")) });
///         Ok(())
///     })
///     .await;
///     // The failure cancelled the sleeper; the nursery returns the one real error.
///     assert_eq!(result.unwrap_err().to_string(), "boom");
///     Ok(())
/// })
/// # }
/// ```
pub async fn open_nursery<F, Fut, T>(body: F) -> Result<Option<T>>
where
    F: FnOnce(Nursery) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    NurseryFuture {
        phase: Phase::Init(Some(body)),
        state: None,
        body_value: None,
        yielded: false,
        body: None,
    }
    .await
}

enum Phase<F> {
    Init(Option<F>),
    Body,
    Join,
    Done,
}

pin_project_lite::pin_project! {
    struct NurseryFuture<F, Fut, T> {
        phase: Phase<F>,
        state: Option<Rc<NurseryState>>,
        body_value: Option<T>,
        yielded: bool,
        #[pin]
        body: Option<Fut>,
    }

    impl<F, Fut, T> PinnedDrop for NurseryFuture<F, Fut, T> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let Some(state) = this.state.take() else { return };
            if matches!(this.phase, Phase::Done) {
                return;
            }
            // Rule 6: dropped early. Cancel the children; the last one out cleans up.
            state.abandoned.set(true);
            state.scope.cancel();
            state.joiner.borrow_mut().take();
            if !state.busy() {
                state.finish_abandoned();
            }
        }
    }
}

impl<F, Fut, T> Future for NurseryFuture<F, Fut, T>
where
    F: FnOnce(Nursery) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    type Output = Result<Option<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Phase::Init(f) = this.phase {
            let f = f.take().expect("nursery body taken once");
            let task = context::current_task();
            let scope = ScopeNode::fresh();
            scope.enter(&task.status.get(), Some(&task));
            let state = Rc::new(NurseryState {
                scope,
                parent_task: task.clone(),
                soon_children: Cell::new(0),
                started_children: RefCell::new(Vec::new()),
                pending_starts: Cell::new(0),
                errors: RefCell::new(Vec::new()),
                panic: RefCell::new(None),
                closed: Cell::new(false),
                joiner: RefCell::new(None),
                abandoned: Cell::new(false),
            });
            task.extras()
                .child_nurseries
                .borrow_mut()
                .push(Rc::downgrade(&state));
            let fut = f(Nursery {
                state: state.clone(),
            });
            this.body.set(Some(fut));
            *this.state = Some(state);
            *this.phase = Phase::Body;
        }
        let state = this.state.as_ref().expect("state set at init").clone();
        if let Phase::Body = this.phase {
            let polled = {
                let task = state.parent_task.clone();
                let _guard = StatusGuard::enter(&task, &state.scope);
                let body = this.body.as_mut().as_pin_mut().expect("body present");
                // A panic in the body is a failure like a child's (rule 3): the children
                // are cancelled and joined before it is resumed from here.
                catch_unwind(AssertUnwindSafe(|| body.poll(cx)))
            };
            match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Ok(v))) => *this.body_value = Some(v),
                Ok(Poll::Ready(Err(e))) => state.record_failure(Outcome::Err(e)),
                Err(payload) => state.record_failure(Outcome::Panic(payload)),
            }
            this.body.set(None);
            *this.phase = Phase::Join;
        }
        if let Phase::Join = this.phase {
            if state.busy() {
                *state.joiner.borrow_mut() = Some(cx.waker().clone());
                *this.yielded = true;
                return Poll::Pending;
            }
            if !*this.yielded {
                // No child was left to wait for: still a schedule point (not a cancel point).
                *this.yielded = true;
                state
                    .parent_task
                    .schedule_points
                    .set(state.parent_task.schedule_points.get() + 1);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        *this.phase = Phase::Done;
        state.closed.set(true);
        let parent = &state.parent_task;
        parent
            .extras()
            .child_nurseries
            .borrow_mut()
            .retain(|w| w.upgrade().is_some_and(|s| !Rc::ptr_eq(&s, &state)));
        let errors = std::mem::take(&mut *state.errors.borrow_mut());
        let panic = state.panic.borrow_mut().take();
        let body_value = this.body_value.take();
        let out = if panic.is_some() {
            // Not returned: the panic (of the body or a child) is resumed below.
            Ok(None)
        } else if errors.is_empty() {
            Ok(Some(
                body_value.expect("body finished Ok when no error was recorded"),
            ))
        } else {
            match absorb(&state.scope, Err(Error::from_errors(errors))) {
                // Only the children's `Cancelled` was caught here: a body that finished
                // (e.g. after `nursery.cancel_scope().cancel()`) keeps its value.
                Ok(None) => Ok(body_value),
                other => other,
            }
        };
        state.scope.exit();
        *this.state = None;
        if let Some(p) = panic {
            resume_unwind(p);
        }
        if let Ok(state) = Rc::try_unwrap(state) {
            ScopeNode::recycle(state.scope);
        }
        Poll::Ready(out)
    }
}
