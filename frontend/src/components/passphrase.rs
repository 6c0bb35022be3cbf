//! Asks for an encrypted stream's passphrase.

use leptos::prelude::*;

/// The form; `on_submit` gets the passphrase and whether to remember it.
#[component]
pub fn PassphrasePrompt(
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(into)] busy: Signal<bool>,
    on_submit: impl Fn(String, bool) + 'static,
) -> impl IntoView {
    let passphrase = RwSignal::new(String::new());
    let remember = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = passphrase.get_untracked();
        if !value.is_empty() {
            on_submit(value, remember.get_untracked());
        }
    };
    view! {
        <form class="passphrase" on:submit=submit data-testid="passphrase-form">
            <h2>"This stream is end-to-end encrypted"</h2>
            <p>"Enter its passphrase. It stays in this browser and is never sent to the server."</p>
            <label for="passphrase-input">"Passphrase"</label>
            <input
                id="passphrase-input"
                type="password"
                autocomplete="off"
                data-testid="passphrase-input"
                prop:value=move || passphrase.get()
                on:input=move |ev| passphrase.set(event_target_value(&ev))
            />
            <label class="check">
                <input
                    type="checkbox"
                    prop:checked=move || remember.get()
                    on:change=move |ev| remember.set(event_target_checked(&ev))
                />
                "Remember on this device (otherwise only for this tab)"
            </label>
            {move || error.get().map(|err| view! { <p class="error" role="alert" data-testid="passphrase-error">{err}</p> })}
            <button type="submit" data-testid="passphrase-submit" disabled=move || busy.get()>
                {move || if busy.get() { "Unlocking…" } else { "Unlock" }}
            </button>
        </form>
    }
}
