//! The chat API (`/v1`, docs/chat.md). Every test in these modules runs
//! twice, on SQLite (`name::sqlite`) and on a real PostgreSQL
//! (`name::postgres`, a throwaway cluster started once per test binary).

mod flow;
mod logs;
mod messages;
mod nodes;
mod openapi;
mod operator;
mod pg;
mod realtime;
mod resources;
mod shutdown;
mod sqlite_file;
mod startup;
pub mod support;
mod tokens;
