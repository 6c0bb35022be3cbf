//! The notice shown while the app is offline (see [`crate::offline`]).

use leptos::prelude::*;

use crate::offline::Reachability;

#[component]
pub fn OfflineNotice(reachability: Reachability) -> impl IntoView {
    let why = move || {
        if reachability.browser_online.get() {
            "Offline: the server cannot be reached. Malten keeps trying and reconnects by itself."
        } else {
            "Offline: this device has no network. Malten reconnects by itself when it is back."
        }
    };
    move || {
        reachability.offline().then(|| {
            view! { <p class="offline" role="status" data-testid="offline">{why}</p> }
        })
    }
}
