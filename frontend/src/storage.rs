//! Where a stream's passphrase is kept in the browser, with the pin of the
//! stream it opened.
//!
//! By default only for this tab's session (`sessionStorage`, gone when the
//! tab closes); in `localStorage` only when the user asks to remember it.
//! The pin (`p` or `e<fingerprint>`, see [`malten_shared::link`]) is kept
//! next to the passphrase, in the same places, so that a link without a pin
//! is still checked against the stream this device first opened under that
//! name (trust on first use, [`crate::trust`]). Nothing here is ever sent to
//! the server.

use malten_shared::link::Pin;
use malten_shared::StreamName;
use web_sys::Storage;

fn key_for(stream: &StreamName) -> String {
    format!("malten:passphrase:{stream}")
}

fn pin_key_for(stream: &StreamName) -> String {
    format!("malten:pin:{stream}")
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

/// The pin kept with the passphrase of `stream`, where the passphrase is.
pub fn pin(stream: &StreamName) -> Option<Pin> {
    let key = pin_key_for(stream);
    [session(), local()]
        .into_iter()
        .flatten()
        .find_map(|storage| storage.get_item(&key).ok().flatten())
        .and_then(|text| text.parse().ok())
}

/// Keeps the passphrase, and the pin of the stream it opened, for this tab,
/// and across sessions if `remember`.
pub fn keep_passphrase(stream: &StreamName, passphrase: &str, pin: &Pin, remember: bool) {
    let pin = pin.to_string();
    let entries = [(key_for(stream), passphrase), (pin_key_for(stream), &pin)];
    if let Some(storage) = session() {
        for (key, value) in &entries {
            let _ = storage.set_item(key, value);
        }
    }
    if let Some(storage) = local() {
        for (key, value) in &entries {
            let _ = if remember {
                storage.set_item(key, value)
            } else {
                storage.remove_item(key)
            };
        }
    }
}

/// Whether the passphrase of `stream` is remembered across sessions.
pub fn is_remembered(stream: &StreamName) -> bool {
    local().is_some_and(|storage| storage.get_item(&key_for(stream)).ok().flatten().is_some())
}

/// Forgets the passphrase of `stream` everywhere (one that does not open
/// the stream); the pin stays, it still says which stream this device knew.
pub fn forget_passphrase(stream: &StreamName) {
    for storage in [session(), local()].into_iter().flatten() {
        let _ = storage.remove_item(&key_for(stream));
    }
}

/// Forgets everything kept about `stream`: passphrase and pin.
pub fn forget_stream(stream: &StreamName) {
    forget_passphrase(stream);
    for storage in [session(), local()].into_iter().flatten() {
        let _ = storage.remove_item(&pin_key_for(stream));
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

/// Whether the user agreed, on this device, that dictation sends their
/// voice to the browser's speech service ([`crate::speech`]).
pub fn dictation_agreed() -> bool {
    local().is_some_and(|storage| {
        storage
            .get_item("malten:dictation-agreed")
            .ok()
            .flatten()
            .is_some()
    })
}

pub fn keep_dictation_agreed() {
    if let Some(storage) = local() {
        let _ = storage.set_item("malten:dictation-agreed", "1");
    }
}
