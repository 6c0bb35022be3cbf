//! Integration tests of the HTTP API against the real server on
//! `127.0.0.1:0`. One binary, themed modules; `helpers` starts servers.

mod assets;
mod chat;
mod commands;
mod contract;
mod encrypted;
mod events;
mod hardening;
mod health;
mod helpers;
mod limits;
mod llm_node;
mod llm_socket;
mod llm_socket_backpressure;
mod log_capture;
mod logs;
mod messages;
mod params;
mod pipes;
mod raw_http;
mod shutdown;
mod sse_socket;
mod streams;
mod websocket;
mod ws_client;
