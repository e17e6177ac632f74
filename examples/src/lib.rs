//! Shared helpers for the example programs (none yet).

#![forbid(unsafe_code)]
