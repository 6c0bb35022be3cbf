//! Share a stream: the link, and for an encrypted stream the link with its
//! secret, with a plain warning about what that second link gives away.
//!
//! Links to an encrypted stream are pinned (`!e<fingerprint>`, see
//! [`malten_shared::link`]): whoever opens one is warned, and sends nothing,
//! if the stream under that name is no longer this one (made again as plain
//! text or with another salt). Links to a plain stream carry no pin: anyone
//! may read and post to a plain stream, so a pin `p` would protect nothing
//! (a post of plain text to a stream made again encrypted is refused by the
//! server anyway).

use leptos::prelude::*;
use malten_shared::link::Link;
use malten_shared::wire::StreamInfo;
use malten_shared::StreamName;

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

/// The link to share for `info` (`None`: the stream does not exist yet),
/// with `secret` if given: pinned for an encrypted stream, bare for a plain
/// one.
pub fn share_link(name: &StreamName, info: Option<&StreamInfo>, secret: Option<&str>) -> Link {
    match info {
        Some(info) if info.encrypted => Link::pinned(info, secret),
        _ => Link::bare(name.clone()),
    }
}

#[component]
pub fn SharePanel(
    name: StreamName,
    #[prop(into)] info: Signal<Option<StreamInfo>>,
    #[prop(into)] secret: Signal<Option<String>>,
) -> impl IntoView {
    let copied = RwSignal::new(None::<&'static str>);
    let plain_link = {
        let name = name.clone();
        move || {
            let link = info.with(|info| share_link(&name, info.as_ref(), None));
            format!("{}/{}", origin(), link.fragment())
        }
    };
    let secret_link = move || {
        let secret = secret.get()?;
        let link = info.with(|info| {
            info.as_ref()
                .filter(|info| info.encrypted)
                .map(|info| share_link(&name, Some(info), Some(&secret)))
        })?;
        Some(format!("{}/{}", origin(), link.fragment()))
    };
    let plain_for_copy = plain_link.clone();
    view! {
        <details class="share" data-testid="share">
            <summary>"Share"</summary>
            <label for="share-link">"Link"</label>
            <div class="row">
                <input id="share-link" readonly data-testid="share-link" prop:value=plain_link />
                <button type="button" on:click=move |_| copy(plain_for_copy(), copied, "link")>
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

#[cfg(test)]
mod tests {
    use malten_shared::crypto::EncryptionParams;
    use malten_shared::link::{fingerprint, Expectation};
    use malten_shared::wire::Cursor;

    use super::*;

    fn info(encryption: Option<EncryptionParams>) -> StreamInfo {
        StreamInfo {
            stream: StreamName::parse("room").unwrap(),
            private: true,
            ttl: 1024,
            updated: Cursor::default(),
            messages: 0,
            observers: 0,
            encrypted: encryption.is_some(),
            encryption,
            pipe: false,
        }
    }

    #[test]
    fn links_to_an_encrypted_stream_are_pinned_with_and_without_the_passphrase() {
        let params =
            EncryptionParams::from_parts(&[7; 16], 600_000, format!("AQ{}", "A".repeat(62)));
        let fp = fingerprint(&params);
        let info = info(Some(params));
        let name = info.stream.clone();
        assert_eq!(
            share_link(&name, Some(&info), Some("tulip anchor")).fragment(),
            format!("#room/tulip%20anchor!e{fp}")
        );
        let without = share_link(&name, Some(&info), None);
        assert_eq!(without.fragment(), format!("#room!e{fp}"));
        assert!(matches!(without.expectation(), Expectation::Pinned(_)));
    }

    #[test]
    fn links_to_a_plain_or_new_stream_are_bare() {
        let name = StreamName::parse("room").unwrap();
        assert_eq!(
            share_link(&name, Some(&info(None)), None).fragment(),
            "#room"
        );
        assert_eq!(share_link(&name, None, None).fragment(), "#room");
    }
}
