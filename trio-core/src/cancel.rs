//! Cancel scopes: the user-facing `CancelScope` / `CancelHandle`, and the tree of
//! `ScopeNode`s that decides which task is effectively cancelled.
//!
//! # Model
//!
//! Every entered scope (a `CancelScope::run`, a nursery, the hidden scope of a
//! `Nursery::start`, the run's root, main and system scopes) is one [`ScopeNode`]. Nodes
//! form a tree mirroring how scopes nest; a nursery's children hang under the nursery's
//! node, whatever task spawned them.
//!
//! A node is *effectively cancelled* when its own scope was cancelled, or when its parent
//! is effectively cancelled and the node is not shielded. The flag is cached on each node
//! and recomputed for a subtree whenever `cancel`, `set_shield`, a deadline expiry or a
//! re-parenting (`TaskStatus::started`) touches it, so a checkpoint reads one `Cell`.
//!
//! Rules, numbered as the tests name them:
//! 1. When a node becomes effectively cancelled, every task attached to it that is parked
//!    in `wait_task_rescheduled` is woken; its park then runs its abort function, which
//!    decides whether the cancellation can still take effect (the operation may already
//!    have completed, in which case it reports success).
//! 2. A task is attached to the node of every scope it entered (`entered_by`) and to its
//!    *base* node (the nursery or hidden start scope it was spawned under). A scope's
//!    links (to its task, into its parent's children, into the deadline queue) are made
//!    lazily, when its body first returns `Pending` or something could need them sooner
//!    (see `ScopeNode::enter_lazily`).
//! 3. While a task is polled, `TaskData::status` is the innermost node being polled:
//!    each scope future swaps it in around the poll of its body. That is what a
//!    checkpoint consults.
//! 4. A scope absorbs the `Cancelled` coming out of its body only when it is effectively
//!    cancelled and its parent's cancellation is not visible to it (it is shielded, has no
//!    parent, or the parent is not effectively cancelled): `Cancelled` unwinds to the
//!    outermost scope of the contiguous chain of cancelled scopes, stopping at a shield.
//!
//! Steady-state entering and leaving a scope allocates nothing: nodes whose last
//! reference is the scope future itself return to a per-run pool on exit, and every
//! `Vec` in a node keeps its capacity.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::clock::Instant;
use crate::context;
use crate::deadline::{Key, Target};
use crate::task::TaskData;

/// How many retired nodes a run keeps for reuse. Sized for servers with tens of
/// thousands of concurrent sleeps/timeouts: below the peak, every scope would pay a
/// `malloc` and a `free` (the timers benchmark showed it); the pool never outlives the run.
const SCOPE_POOL_MAX: usize = 1 << 16;

thread_local! {
    /// Retired nodes of the run on this thread, for reuse. A thread-local of its own
    /// rather than a field of the run: taking and returning a node is on the path of
    /// every scope, and this is one access instead of the run's `RefCell` plus the
    /// pool's. Filled only while a run is active; emptied when it ends
    /// ([`clear_scope_pool`]), so it never outlives the run.
    static SCOPE_POOL: RefCell<Vec<Rc<ScopeNode>>> = const { RefCell::new(Vec::new()) };
    /// The most recently retired node, in front of the pool: a scope entered and left
    /// in a loop takes and returns this one with a `Cell` swap, not a `RefCell<Vec>`.
    static SPARE_NODE: Cell<Option<Rc<ScopeNode>>> = const { Cell::new(None) };
}

/// Drops this thread's pooled nodes: the run ended.
pub(crate) fn clear_scope_pool() {
    let pool = SCOPE_POOL.try_with(|p| std::mem::take(&mut *p.borrow_mut()));
    drop(pool);
    let spare = SPARE_NODE.try_with(Cell::take);
    drop(spare);
}

/// Where a node is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeState {
    /// Created, body not yet polled.
    Unentered,
    /// Attached to the tree.
    Entered,
    /// Detached; only the user-visible flags remain meaningful.
    Exited,
}

/// One entered cancel scope: its user-visible state and its place in the tree.
pub(crate) struct ScopeNode {
    pub(crate) cancel_called: Cell<bool>,
    pub(crate) cancelled_caught: Cell<bool>,
    pub(crate) deadline: Cell<Option<Instant>>,
    /// A deadline relative to entry (`move_on_after`), turned absolute when entered.
    pub(crate) relative: Cell<Option<std::time::Duration>>,
    pub(crate) shield: Cell<bool>,
    pub(crate) state: Cell<NodeState>,
    /// # Invariant
    /// `Some` exactly while `state == Entered` (and for the run's root: `None`).
    parent: Cell<Option<Rc<ScopeNode>>>,
    /// This node's index in its parent's `children` (while published).
    index_in_parent: Cell<usize>,
    children: RefCell<Vec<Rc<ScopeNode>>>,
    /// # Invariant
    /// `cancel_called || (!shield && parent.effectively_cancelled)`, kept by `recalculate`.
    pub(crate) effectively_cancelled: Cell<bool>,
    /// The task that entered this scope (none for a hidden start scope or the root).
    entered_by: RefCell<Option<Rc<TaskData>>>,
    /// Tasks whose base is this node; each knows its index (`TaskData::base_index`).
    base_tasks: RefCell<Vec<Rc<TaskData>>>,
    /// This node's registration in the run's deadline queue, while it has one.
    deadline_key: Cell<Option<Key>>,
    /// # Invariant
    /// True exactly while entered and linked into the tree: in the parent's `children`,
    /// `entered_by` set, deadline registered (see `enter_lazily`).
    published: Cell<bool>,
}

impl ScopeNode {
    pub(crate) fn new() -> Rc<ScopeNode> {
        Rc::new(ScopeNode {
            cancel_called: Cell::new(false),
            cancelled_caught: Cell::new(false),
            deadline: Cell::new(None),
            relative: Cell::new(None),
            shield: Cell::new(false),
            state: Cell::new(NodeState::Unentered),
            parent: Cell::new(None),
            index_in_parent: Cell::new(0),
            children: RefCell::new(Vec::new()),
            effectively_cancelled: Cell::new(false),
            entered_by: RefCell::new(None),
            base_tasks: RefCell::new(Vec::new()),
            deadline_key: Cell::new(None),
            published: Cell::new(false),
        })
    }

    /// The root of a run's tree: entered, with no parent.
    pub(crate) fn new_root() -> Rc<ScopeNode> {
        let node = ScopeNode::new();
        node.state.set(NodeState::Entered);
        node.published.set(true);
        node
    }

    /// A fresh node, from the run's pool when inside a run.
    pub(crate) fn fresh() -> Rc<ScopeNode> {
        if let Ok(Some(node)) = SPARE_NODE.try_with(Cell::take) {
            return node;
        }
        SCOPE_POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(ScopeNode::new)
    }

    /// Resets a node that nobody else references and hands it to the run's pool.
    pub(crate) fn recycle(node: Rc<ScopeNode>) {
        if Rc::strong_count(&node) != 1 {
            return;
        }
        node.cancel_called.set(false);
        node.cancelled_caught.set(false);
        node.deadline.set(None);
        node.relative.set(None);
        node.shield.set(false);
        node.state.set(NodeState::Unentered);
        node.effectively_cancelled.set(false);
        debug_assert!(node.deadline_key.get().is_none());
        debug_assert!(node.children.borrow().is_empty());
        debug_assert!(node.base_tasks.borrow().is_empty());
        // Callers are scope and nursery futures completing inside a task, so a run is
        // active (and will clear the pool when it ends).
        debug_assert!(context::in_run());
        let Ok(Some(older)) = SPARE_NODE.try_with(|s| s.replace(Some(node))) else {
            return;
        };
        let _ = SCOPE_POOL.try_with(|p| {
            let mut pool = p.borrow_mut();
            if pool.len() < SCOPE_POOL_MAX {
                pool.push(older);
            }
        });
    }

    pub(crate) fn parent(&self) -> Option<Rc<ScopeNode>> {
        self.with_parent(|p| p.cloned())
    }

    /// Runs `f` with the parent (which `f` must not replace).
    #[inline]
    fn with_parent<R>(&self, f: impl FnOnce(Option<&Rc<ScopeNode>>) -> R) -> R {
        let parent = self.parent.take();
        let r = f(parent.as_ref());
        self.parent.set(parent);
        r
    }

    /// True when the parent's cancellation reaches this node (rule 4).
    pub(crate) fn parent_cancellation_is_visible(&self) -> bool {
        !self.shield.get() && self.with_parent(|p| p.is_some_and(|p| p.effectively_cancelled.get()))
    }

    /// Whether this scope should absorb a `Cancelled` leaving its body (rule 4).
    pub(crate) fn absorbs_cancellation(&self) -> bool {
        self.effectively_cancelled.get() && !self.parent_cancellation_is_visible()
    }

    /// Enters this node under `parent`, entered by `task` (if any), and publishes it at
    /// once (see [`enter_lazily`](Self::enter_lazily)).
    pub(crate) fn enter(self: &Rc<Self>, parent: &Rc<ScopeNode>, task: Option<&Rc<TaskData>>) {
        self.enter_lazily(parent.clone());
        self.publish(task);
    }

    /// Enters this node under `parent` *without publishing it*: it points at its parent
    /// and its cancellation state is computed (a deadline that already passed cancels it
    /// now, as in Trio), but it is not yet in the parent's `children`, not yet linked to
    /// the task that entered it, and its deadline is not yet in the run's queue. The
    /// caller must call [`publish`](Self::publish) before the task yields to the loop
    /// (`ScopeFuture` does when its body returns `Pending`).
    ///
    /// Why this is exact: the three links serve only to reach the scope from outside the
    /// task: the deadline through the loop's `expire_deadlines` (which cannot run while
    /// the task is being polled), the task to wake it when parked (it is running), and
    /// the `children` list so that an ancestor's cancellation reaches this node. The
    /// last can happen synchronously, by the task itself (`cancel`, `set_shield`,
    /// `TaskStatus::started`); those entry points first publish every unpublished node
    /// on the current task's scope chain (the only task that can have such nodes), see
    /// [`publish_current_chain`]. So a scope whose body finishes without ever returning
    /// `Pending` (a timeout around an operation that completes at once) costs no list
    /// insertion, no task link and no deadline-queue work.
    pub(crate) fn enter_lazily(self: &Rc<Self>, parent: Rc<ScopeNode>) {
        debug_assert_eq!(self.state.get(), NodeState::Unentered);
        self.state.set(NodeState::Entered);
        let parent_cancelled = parent.effectively_cancelled.get();
        self.parent.set(Some(parent));
        if self.relative.get().is_some() || self.deadline.get().is_some() {
            // As Trio: a deadline that already passed cancels the scope on entry. An
            // absolute deadline provably ahead needs no clock read at all (clock.rs).
            let passed = match (self.relative.take(), self.deadline.get()) {
                (None, Some(d)) if crate::clock::surely_ahead(d) => false,
                (Some(rel), _) => context::with_run(|run| {
                    let now = run.now();
                    let deadline = now + rel;
                    self.deadline.set(Some(deadline));
                    now >= deadline
                }),
                (None, d) => d.is_some_and(|d| context::with_run(|run| run.now() >= d)),
            };
            if passed {
                self.cancel_called.set(true);
            }
        }
        self.effectively_cancelled
            .set(self.cancel_called.get() || (!self.shield.get() && parent_cancelled));
    }

    /// Whether [`publish`](Self::publish) has run since this node was entered.
    #[inline]
    pub(crate) fn is_published(&self) -> bool {
        self.published.get()
    }

    /// Links an entered node into the tree: its parent's `children`, the task that
    /// entered it, and the deadline queue. Idempotent.
    pub(crate) fn publish(self: &Rc<Self>, task: Option<&Rc<TaskData>>) {
        if self.state.get() != NodeState::Entered || self.published.replace(true) {
            return;
        }
        if let Some(parent) = self.parent() {
            self.attach_to(&parent);
        }
        *self.entered_by.borrow_mut() = task.cloned();
        self.ensure_deadline_registered();
    }

    /// Publishes every unpublished node on the scope chain of the task being polled (see
    /// [`enter_lazily`](Self::enter_lazily)); nothing outside a task.
    pub(crate) fn publish_current_chain() {
        let Some(task) = context::try_current_task() else {
            return;
        };
        let mut node = Some(task.status.get());
        while let Some(n) = node {
            if !n.is_published() {
                n.publish(Some(&task));
            }
            node = n.parent();
        }
    }

    /// Puts this published node's deadline in the run's queue if it should be there and
    /// is not.
    fn ensure_deadline_registered(self: &Rc<Self>) {
        if self.deadline_key.get().is_none()
            && self.deadline.get().is_some()
            && !self.cancel_called.get()
            && self.state.get() == NodeState::Entered
        {
            self.register_deadline();
        }
    }

    fn register_deadline(self: &Rc<Self>) {
        let Some(d) = self.deadline.get() else { return };
        context::try_with_run(|run| {
            let key = run.deadlines.borrow_mut().insert(d, Target::scope(self));
            self.deadline_key.set(Some(key));
        });
    }

    fn attach_to(self: &Rc<Self>, parent: &Rc<ScopeNode>) {
        let mut siblings = parent.children.borrow_mut();
        self.index_in_parent.set(siblings.len());
        siblings.push(self.clone());
    }

    /// Removes this published node from its parent's `children` (the parent pointer
    /// stays).
    fn detach_from_parent(&self) {
        let Some(parent) = self.parent() else { return };
        let mut siblings = parent.children.borrow_mut();
        let i = self.index_in_parent.get();
        let removed = siblings.swap_remove(i);
        debug_assert!(std::ptr::eq(&*removed, self));
        if let Some(moved) = siblings.get(i) {
            moved.index_in_parent.set(i);
        }
        drop(siblings);
        drop(removed);
    }

    /// Detaches an entered node from the tree. Its children (tasks still running under an
    /// abandoned nursery) keep it alive until they finish.
    #[inline]
    pub(crate) fn exit(&self) {
        if self.state.get() != NodeState::Entered {
            return;
        }
        self.state.set(NodeState::Exited);
        if self.published.replace(false) {
            self.entered_by.borrow_mut().take();
            self.unregister_deadline();
            self.detach_from_parent();
        }
        debug_assert!(self.deadline_key.get().is_none());
        drop(self.parent.take());
    }

    /// Removes this node's entry from the deadline queue, if it has one.
    fn unregister_deadline(&self) {
        if let Some(key) = self.deadline_key.take() {
            context::try_with_run(|run| run.deadlines.borrow_mut().remove(key));
        }
    }

    /// The deadline queue fired this node's entry: its deadline passed.
    pub(crate) fn deadline_expired(&self) {
        self.deadline_key.set(None);
        self.cancel();
    }

    /// Moves this node (and its subtree) under `new_parent`: `TaskStatus::started`.
    pub(crate) fn reparent(self: &Rc<Self>, new_parent: &Rc<ScopeNode>) {
        // The subtree may hold the current task's unpublished scopes (enter_lazily).
        ScopeNode::publish_current_chain();
        self.detach_from_parent();
        self.parent.set(Some(new_parent.clone()));
        self.attach_to(new_parent);
        self.recalculate();
    }

    pub(crate) fn attach_base_task(&self, task: &Rc<TaskData>) {
        let mut tasks = self.base_tasks.borrow_mut();
        task.base_index.set(tasks.len());
        tasks.push(task.clone());
    }

    pub(crate) fn detach_base_task(&self, task: &TaskData) {
        let mut tasks = self.base_tasks.borrow_mut();
        let i = task.base_index.get();
        if i < tasks.len() && std::ptr::eq(&*tasks[i], task) {
            tasks.swap_remove(i);
            if let Some(moved) = tasks.get(i) {
                moved.base_index.set(i);
            }
        }
    }

    /// The tasks whose base is this node.
    pub(crate) fn base_tasks(&self) -> Vec<Rc<TaskData>> {
        self.base_tasks.borrow().clone()
    }

    /// `cancel()`: idempotent; effective at once for the whole subtree.
    pub(crate) fn cancel(&self) {
        if self.cancel_called.replace(true) {
            return;
        }
        if self.state.get() == NodeState::Entered {
            // The cancellation must reach the current task's unpublished scopes too.
            ScopeNode::publish_current_chain();
            self.recalculate();
        }
    }

    pub(crate) fn set_shield(&self, shield: bool) {
        if self.shield.replace(shield) != shield && self.state.get() == NodeState::Entered {
            ScopeNode::publish_current_chain();
            self.recalculate();
        }
    }

    pub(crate) fn set_deadline(self: &Rc<Self>, deadline: Option<Instant>) {
        self.relative.set(None);
        self.deadline.set(deadline);
        if self.state.get() == NodeState::Entered {
            self.update_deadline_registration();
        }
    }

    /// Makes the deadline queue hold exactly one entry for this node's deadline (none
    /// without a deadline or once cancelled).
    fn update_deadline_registration(self: &Rc<Self>) {
        self.unregister_deadline();
        // An unpublished node registers when it is published.
        if self.published.get() && !self.cancel_called.get() {
            self.register_deadline();
        }
    }

    /// Recomputes `effectively_cancelled` here and below; wakes parked tasks that became
    /// cancelled (rule 1).
    pub(crate) fn recalculate(&self) {
        let parent_cancelled =
            self.with_parent(|p| p.is_some_and(|p| p.effectively_cancelled.get()));
        let now = self.cancel_called.get() || (!self.shield.get() && parent_cancelled);
        if now == self.effectively_cancelled.replace(now) {
            return;
        }
        if now {
            if let Some(t) = self.entered_by.borrow().as_ref() {
                t.wake_for_cancel();
            }
            for t in self.base_tasks.borrow().iter() {
                t.wake_for_cancel();
            }
        }
        // Children are cloned out: waking tasks never mutates the tree, but a child may
        // be re-parented by code this wakes later, so hold no borrow across the walk.
        let n = self.children.borrow().len();
        for i in 0..n {
            let child = self.children.borrow().get(i).cloned();
            if let Some(child) = child {
                // A shielded child's state does not depend on this node.
                if !child.shield.get() {
                    child.recalculate();
                }
            }
        }
    }

    /// The nearest deadline from here up to (and including) the nearest shield.
    pub(crate) fn effective_deadline(&self) -> Option<Instant> {
        if self.effectively_cancelled.get() {
            return Some(Instant::ZERO);
        }
        let mut best = self.deadline.get();
        let mut shielded = self.shield.get();
        let mut node = self.parent();
        while let (false, Some(n)) = (shielded, node) {
            best = match (best, n.deadline.get()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            shielded = n.shield.get();
            node = n.parent();
        }
        best
    }
}

/// A cancel scope before it runs: configure it, take [`handle`](CancelScope::handle)s,
/// then [`run`](CancelScope::run) a body inside it.
///
/// ```
/// use trio_core::{CancelScope, Result};
/// # fn main() -> Result<()> {
/// trio_core::run(|| async {
///     let scope = CancelScope::new();
///     let handle = scope.handle();
///     let out = scope
///         .run(async {
///             handle.cancel(); // cancel ourselves: the next checkpoint raises Cancelled
///             trio_core::sleep_forever().await?;
///             Ok(())
///         })
///         .await?;
///     assert_eq!(out, None); // this scope absorbed its own cancellation
///     Ok(())
/// })
/// # }
/// ```
pub struct CancelScope {
    node: Rc<ScopeNode>,
}

impl CancelScope {
    /// A scope with no deadline, not cancelled, not shielded.
    pub fn new() -> Self {
        CancelScope {
            node: ScopeNode::fresh(),
        }
    }

    /// Sets an absolute deadline (run clock time).
    pub fn with_deadline(self, deadline: Instant) -> Self {
        self.node.set_deadline(Some(deadline));
        self
    }

    /// Sets a deadline relative to the moment the scope is entered.
    pub fn with_timeout(self, timeout: std::time::Duration) -> Self {
        self.node.deadline.set(None);
        self.node.relative.set(Some(timeout));
        self
    }

    /// Shields the body from cancellation coming from outside this scope.
    pub fn with_shield(self, shield: bool) -> Self {
        self.node.shield.set(shield);
        self
    }

    /// A handle to cancel or adjust this scope from anywhere in the run, before, during
    /// or after it runs.
    pub fn handle(&self) -> CancelHandle {
        CancelHandle {
            node: self.node.clone(),
        }
    }

    /// Runs `body` inside this scope. Returns `Ok(None)` exactly when this scope absorbed
    /// the `Cancelled` that ended the body; `Ok(Some(v))` when the body finished.
    ///
    /// Like an `async fn`, the returned future does nothing until first polled (that is
    /// when the scope is entered). A plain `fn`, so no extra state machine wraps the
    /// scope's own future: entering and leaving a scope is on many hot paths.
    pub fn run<T>(
        self,
        body: impl std::future::Future<Output = crate::Result<T>>,
    ) -> impl std::future::Future<Output = crate::Result<Option<T>>> {
        crate::scope_future::ScopeFuture::new(self.node, body)
    }
}

impl Default for CancelScope {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle().fmt(f)
    }
}

/// A clonable handle to a cancel scope (or a nursery's scope).
///
/// All methods work before, during and after the scope runs; cancelling a scope that
/// already exited does nothing but set `cancel_called`.
#[derive(Clone)]
pub struct CancelHandle {
    pub(crate) node: Rc<ScopeNode>,
}

impl CancelHandle {
    /// Cancels the scope: every checkpoint inside raises `Cancelled` until control leaves
    /// it. Idempotent; never blocks, never fails.
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// Whether `cancel()` was called or the deadline expired.
    pub fn cancel_called(&self) -> bool {
        // As Trio: an expired deadline reads as cancelled before and during the run.
        if !self.node.cancel_called.get() && self.node.state.get() != NodeState::Exited {
            if let Some(d) = self.node.deadline.get() {
                if context::try_with_run(|run| run.now() >= d).unwrap_or(false) {
                    self.node.cancel();
                }
            }
        }
        self.node.cancel_called.get()
    }

    /// Whether this scope absorbed a `Cancelled` when its body ended.
    pub fn cancelled_caught(&self) -> bool {
        self.node.cancelled_caught.get()
    }

    /// The absolute deadline, if any (a relative one is reported once entered).
    pub fn deadline(&self) -> Option<Instant> {
        self.node.deadline.get()
    }

    /// Moves the deadline earlier or later (or removes it); tasks blocked inside are
    /// re-timed at once.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.node.set_deadline(deadline);
    }

    /// Whether the scope shields its body from outer cancellation.
    pub fn shield(&self) -> bool {
        self.node.shield.get()
    }

    /// Turns shielding on or off; takes effect immediately for everything inside.
    pub fn set_shield(&self, shield: bool) {
        self.node.set_shield(shield);
    }

    /// True when both handles name the same scope.
    pub fn same_scope(&self, other: &CancelHandle) -> bool {
        Rc::ptr_eq(&self.node, &other.node)
    }
}

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancel_called", &self.node.cancel_called.get())
            .field("deadline", &self.node.deadline.get())
            .field("shield", &self.node.shield.get())
            .field("state", &self.node.state.get())
            .finish()
    }
}
