//! The future behind `CancelScope::run`: enters a node on first poll, makes it the
//! task's current status around every poll of the body, and applies the absorption rule
//! when the body ends.
//!
//! Invariant: the node is entered exactly once and exited exactly once (on completion or
//! on drop), and the task's status is restored after every poll, even on unwind.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::cancel::{NodeState, ScopeNode};
use crate::context;
use crate::task::TaskData;
use crate::Result;

pin_project_lite::pin_project! {
    /// Runs a body inside a scope node. See `CancelScope::run`.
    pub(crate) struct ScopeFuture<F> {
        node: Option<Rc<ScopeNode>>,
        task: Option<Rc<TaskData>>,
        #[pin]
        body: F,
    }

    impl<F> PinnedDrop for ScopeFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(node) = this.node.take() {
                node.exit();
            }
        }
    }
}

impl<F> ScopeFuture<F> {
    pub(crate) fn new(node: Rc<ScopeNode>, body: F) -> Self {
        ScopeFuture {
            node: Some(node),
            task: None,
            body,
        }
    }
}

/// Restores a task's current status when dropped (also during unwinding).
pub(crate) struct StatusGuard<'a> {
    task: &'a TaskData,
    previous: Option<Rc<ScopeNode>>,
}

impl<'a> StatusGuard<'a> {
    pub(crate) fn enter(task: &'a TaskData, node: &Rc<ScopeNode>) -> Self {
        let previous = Some(task.status.replace(node.clone()));
        StatusGuard { task, previous }
    }
}

impl Drop for StatusGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.previous.take() {
            self.task.status.replace(p);
        }
    }
}

/// What a scope does with its body's result when it exits (rule 4 of `cancel.rs`).
pub(crate) fn absorb<T>(node: &ScopeNode, result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.has_cancelled() && node.absorbs_cancellation() => {
            node.cancelled_caught.set(true);
            match e.strip_cancelled() {
                None => Ok(None),
                Some(rest) => Err(rest),
            }
        }
        Err(e) => Err(e),
    }
}

impl<T, F: Future<Output = Result<T>>> Future for ScopeFuture<F> {
    type Output = Result<Option<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let node = this
            .node
            .as_ref()
            .expect("CancelScope future polled after it completed");
        if node.state.get() == NodeState::Unentered {
            let task = context::current_task();
            let parent = task.status.get();
            // Linked into the tree (and its deadline into the run's queue) only if the
            // body ever returns `Pending` (see `ScopeNode::enter_lazily`).
            node.enter_lazily(parent);
            *this.task = Some(task);
        }
        let task = this.task.as_ref().expect("entered scope has a task");
        let result = {
            let _guard = StatusGuard::enter(task, node);
            match this.body.poll(cx) {
                Poll::Pending => {
                    if !node.is_published() {
                        node.publish(Some(task));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(r) => r,
            }
        };
        let node = this.node.take().expect("node present until completion");
        let out = absorb(&node, result);
        node.exit();
        ScopeNode::recycle(node);
        Poll::Ready(out)
    }
}
