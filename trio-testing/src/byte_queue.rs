//! `ByteQueue`: the unbounded in-memory byte buffer behind the memory streams.
//!
//! `close` acts like closing the *writing* end: later `put`s fail with `ClosedResource`,
//! and readers drain what is left, then get end of stream (an empty chunk). Readers block
//! on a `ParkingLot`; only one may fetch at a time. Invariant: a blocked `get` either
//! returns data (or end of stream) or is cancelled having taken nothing.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use trio_core::lowlevel::ParkingLot;
use trio_core::{Error, ErrorKind, Result};

use crate::conflict::ConflictDetector;

pub(crate) struct ByteQueue {
    data: RefCell<VecDeque<u8>>,
    closed: Cell<bool>,
    lot: ParkingLot,
    fetching: ConflictDetector,
}

impl ByteQueue {
    pub(crate) fn new() -> Self {
        ByteQueue {
            data: RefCell::new(VecDeque::new()),
            closed: Cell::new(false),
            lot: ParkingLot::new(),
            fetching: ConflictDetector::new("another task is already fetching data"),
        }
    }

    pub(crate) fn put(&self, bytes: &[u8]) -> Result<()> {
        if self.closed.get() {
            return Err(Error::new(
                ErrorKind::ClosedResource,
                "virtual connection closed",
            ));
        }
        self.data.borrow_mut().extend(bytes);
        self.lot.unpark_all();
        Ok(())
    }

    pub(crate) fn close(&self) {
        self.closed.set(true);
        self.lot.unpark_all();
    }

    pub(crate) fn close_and_wipe(&self) {
        self.data.borrow_mut().clear();
        self.close();
    }

    pub(crate) fn len(&self) -> usize {
        self.data.borrow().len()
    }

    fn ready(&self) -> bool {
        self.closed.get() || !self.data.borrow().is_empty()
    }

    /// Takes up to `max` bytes (all with `None`); empty means end of stream.
    fn take(&self, max: Option<usize>) -> Vec<u8> {
        let mut data = self.data.borrow_mut();
        let n = max.map_or(data.len(), |m| m.min(data.len()));
        data.drain(..n).collect()
    }

    pub(crate) fn get_nowait(&self, max: Option<usize>) -> Result<Vec<u8>> {
        let _guard = self.fetching.enter()?;
        check_max(max)?;
        if !self.ready() {
            return Err(Error::new(ErrorKind::WouldBlock, "no data available yet"));
        }
        Ok(self.take(max))
    }

    /// Waits for data or end of stream. A checkpoint.
    pub(crate) async fn get(&self, max: Option<usize>) -> Result<Vec<u8>> {
        let _guard = self.fetching.enter()?;
        check_max(max)?;
        if self.ready() {
            trio_core::cancel_shielded_checkpoint().await;
        } else {
            // `put(&[])` (from `wait_send_all_might_not_block`) wakes us without data.
            while !self.ready() {
                self.lot.park().await?;
            }
        }
        Ok(self.take(max))
    }
}

fn check_max(max: Option<usize>) -> Result<()> {
    if max == Some(0) {
        return Err(Error::new(
            ErrorKind::Other,
            "max_bytes must be at least 1 (an empty chunk means end of stream)",
        ));
    }
    Ok(())
}
