//! The composer's microphone button: dictation into the message box, only
//! where the browser can do it, and only after the user was told where the
//! audio goes ([`crate::speech`]). A second click or Escape stops it, and so
//! does typing in the box or sending it: the user took over, and words
//! heard later must not bring back a message already sent.

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;

use crate::speech::{self, Dictation};
use crate::storage;

/// Whether the user agrees to dictate now: told once per device, and asked
/// every time in an end-to-end encrypted stream.
fn agreed(encrypted: bool) -> bool {
    let question = if encrypted {
        speech::LEAVES_ENCRYPTION
    } else if storage::dictation_agreed() {
        return true;
    } else {
        speech::FIRST_USE
    };
    let yes = web_sys::window()
        .is_some_and(|window| window.confirm_with_message(question).unwrap_or(false));
    if yes {
        storage::keep_dictation_agreed();
    }
    yes
}

/// Why dictation stopped, in words, for the browser's error codes.
fn failure_text(code: &str) -> String {
    match code {
        "not-allowed" | "service-not-allowed" => {
            "Dictation is not allowed: the microphone or the speech service was refused.".into()
        }
        "no-speech" => "No speech was heard.".into(),
        "audio-capture" => "No microphone was found.".into(),
        "network" => "The browser's speech service cannot be reached.".into(),
        "aborted" => String::new(),
        other => format!("Dictation failed ({other})."),
    }
}

#[component]
pub fn DictateButton(
    /// The message box's text, which dictation fills (and nothing else).
    draft: RwSignal<String>,
    /// In an end-to-end encrypted stream the user is asked before each use.
    encrypted: bool,
    #[prop(optional)] disabled: bool,
) -> impl IntoView {
    let session = StoredValue::new_local(None::<Dictation>);
    let listening = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let stop = move || session.with_value(|session| session.as_ref().map(Dictation::stop));
    let start = move || {
        if !agreed(encrypted) {
            return;
        }
        error.set(None);
        let typed = draft.get_untracked();
        // What the box held when dictation last filled it.
        let filled = Rc::new(RefCell::new(typed.clone()));
        let started = Dictation::start(
            move |heard| {
                if draft.with_untracked(|now| *now != *filled.borrow()) {
                    stop();
                    return;
                }
                let text = speech::dictated(&typed, &heard);
                filled.replace(text.clone());
                draft.set(text);
            },
            move |failure| {
                listening.set(false);
                let text = failure.map(|code| failure_text(&code));
                error.set(text.filter(|text| !text.is_empty()));
            },
        );
        match started {
            Ok(dictation) => {
                session.set_value(Some(dictation));
                listening.set(true);
            }
            Err(err) => error.set(Some(err)),
        }
    };
    let toggle = move |_| {
        if listening.get_untracked() {
            stop();
        } else {
            start();
        }
    };
    let escape = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && listening.get_untracked() {
            stop();
        }
    });
    on_cleanup(move || {
        escape.remove();
        session.set_value(None);
    });
    view! {
        <button
            type="button"
            class=move || if listening.get() { "dictate listening" } else { "dictate" }
            data-testid="dictate"
            aria-pressed=move || listening.get().to_string()
            title="Dictate with your browser's speech recognition (Esc stops)"
            disabled=disabled
            on:click=toggle
        >
            "Dictate"
        </button>
        {move || error.get().map(|err| view! { <span class="error" role="alert" data-testid="dictate-error">{err}</span> })}
    }
}
