//! `ConflictDetector`: turns concurrent use of a one-at-a-time operation into
//! `BusyResource` (Trio's `_util.ConflictDetector`).
//!
//! Invariant: the busy flag is cleared by the guard's `Drop`, so an operation that ends by
//! error, cancellation or being dropped mid-wait never leaves the resource stuck busy.

use std::cell::Cell;

use trio_core::{Error, ErrorKind, Result};

pub(crate) struct ConflictDetector {
    busy: Cell<bool>,
    message: &'static str,
}

impl ConflictDetector {
    pub(crate) const fn new(message: &'static str) -> Self {
        ConflictDetector {
            busy: Cell::new(false),
            message,
        }
    }

    /// Marks the operation as running, or fails with `BusyResource` if it already is.
    pub(crate) fn enter(&self) -> Result<ConflictGuard<'_>> {
        if self.busy.replace(true) {
            return Err(Error::new(ErrorKind::BusyResource, self.message));
        }
        Ok(ConflictGuard { detector: self })
    }
}

pub(crate) struct ConflictGuard<'a> {
    detector: &'a ConflictDetector,
}

impl Drop for ConflictGuard<'_> {
    fn drop(&mut self) {
        self.detector.busy.set(false);
    }
}
