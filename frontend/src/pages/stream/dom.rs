//! Small DOM helpers of the stream page: scrolling, a confirmation dialog,
//! and keeping a secret out of the address bar.

use std::cell::Cell;

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

/// At most this many frames of keeping the list at the bottom (about a
/// second), and it stops earlier once its height held still for
/// [`STILL_FRAMES`].
const MAX_SETTLE_FRAMES: u32 = 60;
const STILL_FRAMES: u32 = 3;

thread_local! {
    /// Bumped whenever the reader scrolls by hand (wheel, touch, pointer,
    /// keys), which stops the list being kept at the bottom.
    static USER_SCROLLS: Cell<u64> = const { Cell::new(0) };
}

/// The reader is scrolling the list themselves.
pub(super) fn user_scrolls() {
    USER_SCROLLS.with(|count| count.set(count.get().wrapping_add(1)));
}

/// Scrolls the list to its newest message, and keeps it there until its
/// height holds still: messages skip rendering while off-screen
/// (`content-visibility`), so those that come into view take their real
/// height only in the next frames, which would otherwise leave the view
/// short of the bottom. The reader scrolling by hand meanwhile wins.
pub(super) fn scroll_to_bottom(list: NodeRef<Ol>) {
    let by_hand = USER_SCROLLS.with(Cell::get);
    settle_at_bottom(list, by_hand, MAX_SETTLE_FRAMES, None, 0);
}

fn settle_at_bottom(
    list: NodeRef<Ol>,
    by_hand: u64,
    frames: u32,
    last_height: Option<i32>,
    still: u32,
) {
    request_animation_frame(move || {
        if USER_SCROLLS.with(Cell::get) != by_hand {
            return;
        }
        let Some(element) = list.get_untracked() else {
            return;
        };
        let height = element.scroll_height();
        element.set_scroll_top(height);
        let still = if last_height == Some(height) {
            still + 1
        } else {
            0
        };
        if frames > 1 && still < STILL_FRAMES {
            settle_at_bottom(list, by_hand, frames - 1, Some(height), still);
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
