//! The conflict detector of the memory streams: trio-core's, which turns concurrent use
//! of a one-at-a-time operation into `BusyResource`.

pub(crate) use trio_core::lowlevel::ConflictDetector;
