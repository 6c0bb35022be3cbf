//! End-to-end tests across processes: the `malten` binary as users run it,
//! and the web app in real headless Chromium.
//!
//! Run through `make test`, which builds the web app and the binary first.

mod browser;
mod cli;
mod client;
mod devtools;
mod interop;
mod llm;
mod offline;
mod pin;
mod pipe;
mod pipe_chat;
mod process;
mod proxy;
mod reconnect;
mod screenshots;
mod speech;
mod terminal;
mod toolchain;
mod web_perf;
mod webdriver;
