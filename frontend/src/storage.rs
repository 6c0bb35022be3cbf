//! Where a stream's passphrase is kept in the browser.
//!
//! By default only for this tab's session (`sessionStorage`, gone when the
//! tab closes); in `localStorage` only when the user asks to remember it.
//! Nothing here is ever sent to the server.

use malten_shared::StreamName;
use web_sys::Storage;

fn key_for(stream: &StreamName) -> String {
    format!("malten:passphrase:{stream}")
}

fn session() -> Option<Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn local() -> Option<Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The remembered passphrase of `stream`: this tab's first, then a
/// remembered one.
pub fn passphrase(stream: &StreamName) -> Option<String> {
    let key = key_for(stream);
    [session(), local()]
        .into_iter()
        .flatten()
        .find_map(|storage| storage.get_item(&key).ok().flatten())
}

/// Keeps the passphrase for this tab, and across sessions if `remember`.
pub fn keep_passphrase(stream: &StreamName, passphrase: &str, remember: bool) {
    let key = key_for(stream);
    if let Some(storage) = session() {
        let _ = storage.set_item(&key, passphrase);
    }
    if let Some(storage) = local() {
        let _ = if remember {
            storage.set_item(&key, passphrase)
        } else {
            storage.remove_item(&key)
        };
    }
}

/// Whether the passphrase of `stream` is remembered across sessions.
pub fn is_remembered(stream: &StreamName) -> bool {
    local().is_some_and(|storage| storage.get_item(&key_for(stream)).ok().flatten().is_some())
}

/// Forgets the passphrase of `stream` everywhere.
pub fn forget_passphrase(stream: &StreamName) {
    let key = key_for(stream);
    for storage in [session(), local()].into_iter().flatten() {
        let _ = storage.remove_item(&key);
    }
}

/// The nickname used in encrypted streams, remembered on this device.
pub fn nick() -> String {
    local()
        .and_then(|storage| storage.get_item("malten:nick").ok().flatten())
        .unwrap_or_default()
}

pub fn keep_nick(nick: &str) {
    if let Some(storage) = local() {
        let _ = storage.set_item("malten:nick", nick);
    }
}
