//! Creating streams: the full form, and a new private encrypted stream in
//! one click.

use leptos::prelude::*;
use leptos::task::spawn_local;
use malten_shared::limits::DEFAULT_TTL_SECS;
use malten_shared::link::{Link, Pin};
use malten_shared::StreamName;

use crate::api::{self, NewStream};
use crate::keys::{generate_passphrase, Key};
use crate::storage;

fn navigate(fragment: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_hash(fragment);
    }
}

/// What the form asks for.
#[derive(Debug, Clone)]
struct Request {
    name: String,
    public: bool,
    ttl: Option<u64>,
    passphrase: Option<String>,
    remember: bool,
}

/// Creates the stream (deriving its key first if encrypted) and opens it
/// through its pinned link. A name that is taken is an error and nothing
/// else: the app never falls back to posting into the existing stream,
/// which may be plain text or someone else's.
async fn create(request: Request) -> Result<(), String> {
    let name = if request.name.trim().is_empty() {
        None
    } else {
        Some(StreamName::parse(request.name.trim()).map_err(|err| err.to_string())?)
    };
    let (encrypted, encryption) = match &request.passphrase {
        Some(passphrase) => {
            let (params, _key) = Key::create(passphrase)
                .await
                .map_err(|err| err.to_string())?;
            (true, Some(params))
        }
        None => (false, None),
    };
    let info = api::create_stream(&NewStream {
        stream: name.as_ref().map(ToString::to_string),
        private: !request.public,
        ttl: request.ttl,
        encrypted,
        encryption,
    })
    .await
    .map_err(|err| match (err.code.as_deref(), &name) {
        (Some("stream_exists"), Some(name)) => taken(name, encrypted),
        _ => err.to_string(),
    })?;
    if let Some(passphrase) = &request.passphrase {
        storage::keep_passphrase(&info.stream, passphrase, &Pin::of(&info), request.remember);
    }
    navigate(&Link::pinned(&info, None).fragment());
    Ok(())
}

/// Why a create with a name that is taken sends nothing.
fn taken(name: &StreamName, encrypted: bool) -> String {
    if encrypted {
        format!(
            "A stream named {name} already exists, and it is not the encrypted stream you asked \
             for: nothing was sent to it. Choose another name, or leave the name empty."
        )
    } else {
        format!("A stream named {name} already exists. Choose another name, or open it.")
    }
}

#[component]
pub fn CreateStream() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let public = RwSignal::new(false);
    let ttl = RwSignal::new(DEFAULT_TTL_SECS.to_string());
    let encrypted = RwSignal::new(true);
    let passphrase = RwSignal::new(String::new());
    let remember = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let run = move |request: Request| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            if let Err(err) = create(request).await {
                error.set(Some(err));
            }
            busy.set(false);
        });
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let ttl = match ttl.get_untracked().trim() {
            "" => None,
            raw => match raw.parse::<u64>() {
                Ok(secs) => Some(secs),
                Err(_) => {
                    return error.set(Some("The TTL must be a whole number of seconds.".into()))
                }
            },
        };
        let passphrase = encrypted
            .get_untracked()
            .then(|| passphrase.get_untracked());
        if passphrase.as_deref() == Some("") {
            return error.set(Some("Choose a passphrase, or generate one.".into()));
        }
        run(Request {
            name: name.get_untracked(),
            public: public.get_untracked(),
            ttl,
            passphrase,
            remember: remember.get_untracked(),
        });
    };
    let one_click = move |_| match generate_passphrase() {
        Ok(secret) => run(Request {
            name: String::new(),
            public: false,
            ttl: None,
            passphrase: Some(secret),
            remember: false,
        }),
        Err(err) => error.set(Some(err.to_string())),
    };
    let generate = move |_| match generate_passphrase() {
        Ok(secret) => passphrase.set(secret),
        Err(err) => error.set(Some(err.to_string())),
    };

    view! {
        <section class="create" aria-labelledby="create-title">
            <h2 id="create-title">"New stream"</h2>
            <button type="button" class="primary" data-testid="new-private" on:click=one_click disabled=move || busy.get()>
                "New private stream, encrypted, in one click"
            </button>
            <form on:submit=submit data-testid="create-form">
                <label for="create-name">"Name (leave empty for a random, unguessable id)"</label>
                <input id="create-name" type="text" maxlength="64" data-testid="create-name"
                    prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <fieldset>
                    <legend>"Who can find it"</legend>
                    <label class="check"><input type="radio" name="listed" prop:checked=move || !public.get()
                        on:change=move |_| public.set(false) />"Private: only people with the link"</label>
                    <label class="check"><input type="radio" name="listed" data-testid="create-public" prop:checked=move || public.get()
                        on:change=move |_| public.set(true) />"Public: listed on the explore page"</label>
                </fieldset>
                <fieldset>
                    <legend>"Who can read it"</legend>
                    <label class="check"><input type="radio" name="mode" prop:checked=move || encrypted.get()
                        on:change=move |_| encrypted.set(true) />"End-to-end encrypted with a passphrase"</label>
                    <label class="check"><input type="radio" name="mode" data-testid="create-plain" prop:checked=move || !encrypted.get()
                        on:change=move |_| encrypted.set(false) />"Plain: the server can read it"</label>
                </fieldset>
                <Show when=move || encrypted.get()>
                    <label for="create-passphrase">"Passphrase"</label>
                    <div class="row">
                        <input id="create-passphrase" type="text" autocomplete="off" data-testid="create-passphrase"
                            prop:value=move || passphrase.get() on:input=move |ev| passphrase.set(event_target_value(&ev)) />
                        <button type="button" on:click=generate data-testid="generate-passphrase">"Generate"</button>
                    </div>
                    <label class="check"><input type="checkbox" prop:checked=move || remember.get()
                        on:change=move |ev| remember.set(event_target_checked(&ev)) />"Remember on this device"</label>
                </Show>
                <label for="create-ttl">"Disappears after this many idle seconds"</label>
                <input id="create-ttl" type="number" min="1" data-testid="create-ttl"
                    prop:value=move || ttl.get() on:input=move |ev| ttl.set(event_target_value(&ev)) />
                {move || error.get().map(|err| view! { <p class="error" role="alert" data-testid="create-error">{err}</p> })}
                <button type="submit" data-testid="create-submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Creating…" } else { "Create stream" }}
                </button>
            </form>
        </section>
    }
}

/// "Go to stream": type a name, open it.
#[component]
pub fn GoToStream() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let raw = name.get_untracked();
        let raw = raw.trim().trim_start_matches('#');
        match StreamName::parse(raw) {
            Ok(stream) => {
                error.set(None);
                name.set(String::new());
                navigate(&Link::bare(stream).fragment());
            }
            Err(err) => error.set(Some(err.to_string())),
        }
    };
    view! {
        <form class="goto" on:submit=submit role="search">
            <label for="goto-input" class="visually-hidden">"Go to stream"</label>
            <input id="goto-input" type="text" placeholder="Go to #stream" data-testid="goto-input"
                prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
            <button type="submit" data-testid="goto-submit">"Go"</button>
            {move || error.get().map(|err| view! { <span class="error" role="alert">{err}</span> })}
        </form>
    }
}
