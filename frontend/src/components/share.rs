//! Share a stream: the link, and for an encrypted stream the link with its
//! secret, with a plain warning about what that second link gives away.

use leptos::prelude::*;
use malten_shared::StreamName;

use crate::route::Route;

fn origin() -> String {
    web_sys::window()
        .and_then(|window| window.location().origin().ok())
        .unwrap_or_default()
}

fn copy(text: String, copied: RwSignal<Option<&'static str>>, which: &'static str) {
    if let Some(window) = web_sys::window() {
        let promise = window.navigator().clipboard().write_text(&text);
        leptos::task::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(promise).await.is_ok() {
                copied.set(Some(which));
            }
        });
    }
}

#[component]
pub fn SharePanel(name: StreamName, #[prop(into)] secret: Signal<Option<String>>) -> impl IntoView {
    let copied = RwSignal::new(None::<&'static str>);
    let plain_link = format!("{}/{}", origin(), Route::stream_fragment(&name, None));
    let secret_link = {
        let name = name.clone();
        move || {
            secret.get().map(|secret| {
                format!(
                    "{}/{}",
                    origin(),
                    Route::stream_fragment(&name, Some(&secret))
                )
            })
        }
    };
    let plain_for_copy = plain_link.clone();
    view! {
        <details class="share" data-testid="share">
            <summary>"Share"</summary>
            <label for="share-link">"Link"</label>
            <div class="row">
                <input id="share-link" readonly data-testid="share-link" prop:value=plain_link.clone() />
                <button type="button" on:click=move |_| copy(plain_for_copy.clone(), copied, "link")>
                    "Copy"
                </button>
            </div>
            {move || secret_link().map(|link| {
                let for_copy = link.clone();
                view! {
                    <label for="share-secret-link">"Link with the passphrase"</label>
                    <div class="row">
                        <input id="share-secret-link" readonly data-testid="share-secret-link" prop:value=link />
                        <button type="button" on:click=move |_| copy(for_copy.clone(), copied, "secret link")>
                            "Copy"
                        </button>
                    </div>
                    <p class="warning" role="note">
                        "Anyone who gets this link can read every message still in the stream and post to it. "
                        "The passphrase is in the part after #, which browsers never send to the server, "
                        "but it does end up in browser history and in any chat or email you paste it into."
                    </p>
                }
            })}
            {move || copied.get().map(|which| view! { <p class="status" role="status">{format!("Copied the {which}.")}</p> })}
        </details>
    }
}
