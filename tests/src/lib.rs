//! Helpers shared by the end-to-end tests live in `tests/e2e/`.
//!
//! [`bench`] is the performance benchmark run by the `malten-bench` binary.

pub mod bench;
