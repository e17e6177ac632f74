//! trio-sync: under construction; see the crate description.

#![forbid(unsafe_code)]
