//! `ConflictDetector`: turns concurrent use of a one-at-a-time operation (one direction of
//! a stream, a listener's accept) into `BusyResource` instead of interleaved bytes
//! (Trio's `_util.ConflictDetector`). Shared by every stream implementation of trio-rs.
//!
//! Invariant: the busy flag is cleared by the guard's `Drop`, so an operation that ends by
//! error, cancellation or being dropped mid-wait never leaves the resource stuck busy.

use std::cell::Cell;

use crate::{Error, ErrorKind, Result};

/// Detects two tasks using one direction of a resource at once.
///
/// ```
/// use trio_core::lowlevel::ConflictDetector;
/// use trio_core::ErrorKind;
/// let sending = ConflictDetector::new("another task is already sending on this stream");
/// let guard = sending.enter().unwrap();
/// assert_eq!(sending.enter().unwrap_err().kind(), ErrorKind::BusyResource);
/// drop(guard);
/// assert!(sending.enter().is_ok());
/// ```
#[derive(Debug)]
pub struct ConflictDetector {
    busy: Cell<bool>,
    message: &'static str,
}

/// Marks the operation as running until dropped (also when its future is dropped).
#[derive(Debug)]
pub struct ConflictGuard<'a> {
    busy: &'a Cell<bool>,
}

impl ConflictDetector {
    /// A detector whose `BusyResource` error says `message`.
    pub const fn new(message: &'static str) -> Self {
        ConflictDetector {
            busy: Cell::new(false),
            message,
        }
    }

    /// Claims the operation, or fails at once with `BusyResource` naming the conflict.
    pub fn enter(&self) -> Result<ConflictGuard<'_>> {
        if self.busy.replace(true) {
            return Err(Error::new(ErrorKind::BusyResource, self.message));
        }
        Ok(ConflictGuard { busy: &self.busy })
    }

    /// Whether an operation is running now.
    pub fn is_busy(&self) -> bool {
        self.busy.get()
    }
}

impl Drop for ConflictGuard<'_> {
    fn drop(&mut self) {
        self.busy.set(false);
    }
}
