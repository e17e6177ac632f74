//! The `#[trio_testing::test]` attribute; use it through `trio-testing`.

#![forbid(unsafe_code)]
