//! Small DOM helpers of the stream page: scrolling, a confirmation dialog,
//! and keeping a secret out of the address bar.

use leptos::html::Ol;
use leptos::prelude::*;
use malten_shared::link::Link;

pub(super) fn confirm(question: &str) -> bool {
    web_sys::window().is_some_and(|window| window.confirm_with_message(question).unwrap_or(false))
}

/// Replaces `#name/secret!pin` by `link` (the same without the secret)
/// without a navigation, so the secret does not stay in the address bar (it
/// is kept for this tab).
pub(super) fn hide_secret_from_address_bar(link: &Link) {
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let fragment = link.without_secret().fragment();
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&fragment));
    }
}

pub(super) fn is_near_bottom(list: NodeRef<Ol>) -> bool {
    list.get_untracked()
        .is_none_or(|list| list.scroll_height() - list.scroll_top() - list.client_height() < 80)
}

pub(super) fn scroll_to_bottom(list: NodeRef<Ol>) {
    request_animation_frame(move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
    });
}

pub(super) fn keep_scroll_position(list: NodeRef<Ol>, height_before: Option<i32>) {
    request_animation_frame(move || {
        if let (Some(list), Some(before)) = (list.get_untracked(), height_before) {
            list.set_scroll_top(list.scroll_top() + list.scroll_height() - before);
        }
    });
}
