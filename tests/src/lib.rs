//! Test support shared by Malten's test suites, and the home of the
//! end-to-end tests in `tests/e2e/`.
//!
//! - [`llm_stub`]: a local OpenAI-compatible server, used by the server's API
//!   tests and by the browser tests of LLM commands.
//! - [`bench`]: the performance benchmark run by the `malten-bench` binary.
//! - [`redis_server`]: real `redis-server` processes and a local Redis
//!   Cluster for the scale-out tests and the benchmark.

pub mod bench;
pub mod llm_stub;
pub mod redis_server;
