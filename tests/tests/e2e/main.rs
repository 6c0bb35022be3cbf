//! End-to-end tests across processes: the `malten` binary as users run it,
//! and the web app in real headless Chromium.
//!
//! Run through `make test`, which builds the web app and the binary first.

mod browser;
mod cli;
mod client;
mod devtools;
mod interop;
mod jump;
mod llm;
mod offline;
mod pin;
mod pipe;
mod pipe_chat;
mod presence;
mod process;
mod proxy;
mod reconnect;
mod screenshots;
mod shortcuts;
mod speech;
mod terminal;
mod toolchain;
mod unread;
mod web_perf;
mod webdriver;
