//! Writing a message: a character counter against the 1024 limit (counted
//! like the server counts), an optional nickname in encrypted streams, and
//! the `/ai` command.

use leptos::prelude::*;
use malten_shared::limits::MAX_MESSAGE_CHARS;
use malten_shared::{check_message_text, MessageTextError};

use crate::components::dictate::DictateButton;
use crate::{speech, storage};

#[component]
pub fn Composer(
    /// The text being written; the page clears it once a send succeeds.
    draft: RwSignal<String>,
    /// Whether a nickname can be attached (it travels inside the envelope).
    encrypted: bool,
    /// Nothing may be sent here (the stream is not the one the link is
    /// for); the page refuses a send on its own as well.
    #[prop(optional)]
    refused: bool,
    #[prop(into)] busy: Signal<bool>,
    #[prop(into)] error: Signal<Option<String>>,
    /// Called with the text and the nickname (empty for none).
    on_send: impl Fn(String, String) + Clone + 'static,
) -> impl IntoView {
    let nick = RwSignal::new(storage::nick());
    let chars = move || draft.with(|text| text.chars().count());
    let problem = move || {
        draft.with(|text| match check_message_text(text) {
            Ok(()) => None,
            Err(MessageTextError::Blank) => Some(""),
            Err(_) => Some("Too long"),
        })
    };
    let send = {
        let on_send = on_send.clone();
        move || {
            // A refused page disables the controls; its send path refuses on
            // its own too, so that check is not left to the buttons.
            if problem().is_none() && !busy.get_untracked() {
                storage::keep_nick(&nick.get_untracked());
                on_send(draft.get_untracked(), nick.get_untracked());
            }
        }
    };
    let send_on_enter = {
        let send = send.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                ev.prevent_default();
                send();
            }
        }
    };
    view! {
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); } data-testid="composer">
            {encrypted.then(|| view! {
                <label class="nick-field">
                    <span>"Nickname"</span>
                    <input
                        type="text"
                        maxlength="32"
                        placeholder="optional, encrypted"
                        data-testid="nick-input"
                        prop:value=move || nick.get()
                        on:input=move |ev| nick.set(event_target_value(&ev))
                    />
                </label>
            })}
            <label for="composer-text" class="visually-hidden">"Message"</label>
            <textarea
                id="composer-text"
                rows="2"
                placeholder="Write a message… (/ai to ask the LLM)"
                data-testid="composer-input"
                disabled=refused
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))
                on:keydown=send_on_enter
            ></textarea>
            <div class="composer-row">
                <span
                    class=move || { if chars() > MAX_MESSAGE_CHARS { "counter over" } else { "counter" } }
                    data-testid="char-counter"
                    aria-live="polite"
                >
                    {move || format!("{}/{}", chars(), MAX_MESSAGE_CHARS)}
                </span>
                {move || error.get().map(|err| view! { <span class="error" role="alert" data-testid="send-error">{err}</span> })}
                {speech::available().then(|| view! { <DictateButton draft encrypted disabled=refused /> })}
                <button type="submit" data-testid="send" disabled=move || refused || busy.get() || problem().is_some()>
                    "Send"
                </button>
            </div>
        </form>
    }
}
