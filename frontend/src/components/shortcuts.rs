//! The keyboard shortcuts, and the panel that lists them: opened by the
//! header's button or by `?` (not while typing, so a `?` in a message is a
//! `?`), closed by Escape or its button, focus going back where it was.
//!
//! The panel is a modal `<dialog>`: the browser keeps focus inside it,
//! makes the rest of the page inert while it is open and closes it on
//! Escape, which no hand-written panel gets all right.

use leptos::html::Dialog;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// Every shortcut of the app: keys, and what they do.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Enter", "Send the message (in the message box)"),
    ("Shift + Enter", "Start a new line (in the message box)"),
    ("?", "Show this list (when not typing)"),
    ("Esc", "Close this list"),
];

/// Whether a key pressed on `target` is being typed into a field.
fn typing_into(target: Option<web_sys::EventTarget>) -> bool {
    let Some(element) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else {
        return false;
    };
    element.is_content_editable()
        || matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
}

/// The header's button, the `?` key, and the panel.
#[component]
pub fn ShortcutsHelp() -> impl IntoView {
    let dialog = NodeRef::<Dialog>::new();
    // Where focus was when the panel opened, to return it there.
    let opener = StoredValue::new_local(None::<web_sys::HtmlElement>);
    let open = move || {
        let Some(panel) = dialog.get_untracked() else {
            return;
        };
        if panel.open() {
            return;
        }
        let active = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element())
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        opener.set_value(active);
        let _ = panel.show_modal();
    };
    let close = move || {
        if let Some(panel) = dialog.get_untracked() {
            panel.close();
        }
    };
    let listener = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "?"
            && !ev.ctrl_key()
            && !ev.meta_key()
            && !ev.alt_key()
            && !ev.default_prevented()
            && !typing_into(ev.target())
        {
            ev.prevent_default();
            open();
        }
    });
    on_cleanup(move || listener.remove());
    // Fired however it closed: Escape, the button.
    let closed = move |_| {
        if let Some(element) = opener.get_value() {
            let _ = element.focus();
        }
        opener.set_value(None);
    };
    view! {
        <button
            type="button"
            class="help-button"
            data-testid="shortcuts-button"
            aria-haspopup="dialog"
            title="Keyboard shortcuts (?)"
            on:click=move |_| open()
        >
            "Shortcuts"
        </button>
        <dialog
            class="shortcuts"
            node_ref=dialog
            data-testid="shortcuts"
            aria-labelledby="shortcuts-title"
            on:close=closed
        >
            <h2 id="shortcuts-title">"Keyboard shortcuts"</h2>
            <dl data-testid="shortcuts-list">
                {SHORTCUTS
                    .iter()
                    .map(|(keys, what)| view! { <dt><kbd>{*keys}</kbd></dt> <dd>{*what}</dd> })
                    .collect_view()}
            </dl>
            <button type="button" data-testid="shortcuts-close" on:click=move |_| close()>
                "Close"
            </button>
        </dialog>
    }
}
