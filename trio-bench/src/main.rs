//! Side-by-side benchmarks of trio-rs, tokio and smol (under construction).

#![forbid(unsafe_code)]

fn main() {}
