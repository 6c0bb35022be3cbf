//! The "new messages" jump: while the reader has scrolled up, new messages
//! do not move the view; they are counted, and a button says how many
//! arrived below and scrolls down to them. At the bottom, the view follows
//! new messages as before (`History::append`).

use leptos::prelude::*;

use super::dom::{is_near_bottom, scroll_to_bottom};
use super::history::History;

/// Messages that arrived below the view while it was scrolled up.
#[derive(Clone, Copy)]
pub(super) struct Below {
    pub(super) count: RwSignal<usize>,
}

impl Below {
    pub(super) fn new() -> Self {
        Self {
            count: RwSignal::new(0),
        }
    }
}

impl History {
    /// The reader scrolled: back at the bottom, everything is seen.
    pub(super) fn scrolled(self) {
        if self.below.count.get_untracked() > 0 && is_near_bottom(self.list) {
            self.below.count.set(0);
        }
    }

    /// Scrolls to the newest message.
    pub(super) fn jump_to_newest(self) {
        self.below.count.set(0);
        scroll_to_bottom(self.list);
    }
}

/// What the button says for `count` new messages.
pub(super) fn label(count: usize) -> String {
    match count {
        1 => "1 new message ↓".into(),
        n => format!("{n} new messages ↓"),
    }
}

/// The button, shown only while there are new messages below the view.
#[component]
pub(super) fn JumpToNew(history: History) -> impl IntoView {
    let count = history.below.count;
    move || {
        (count.get() > 0).then(|| {
            view! {
                <button
                    type="button"
                    class="jump-new"
                    data-testid="jump-new"
                    on:click=move |_| history.jump_to_newest()
                >
                    {move || label(count.get())}
                </button>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_counts_messages() {
        assert_eq!(label(1), "1 new message ↓");
        assert_eq!(label(12), "12 new messages ↓");
    }
}
