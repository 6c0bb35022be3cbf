//! Malten's web app: explore, create, join and chat in plain and end-to-end
//! encrypted streams.
//!
//! Everything that leaves the browser goes to the server that served the
//! app, through [`api`] and [`events`]; passphrases and keys never do
//! ([`keys`], [`storage`]). Message text is always rendered as text, never
//! as HTML ([`linkify`] only ever makes `http(s)` links).
//!
//! # Layout
//! - [`route`]: what the URL fragment asks for (`#stream`, `#stream/secret`,
//!   each with an optional `!pin`).
//! - [`trust`]: whether the stream is the one its link is for (the pin).
//! - [`api`], [`events`]: HTTP calls and the live `EventSource`.
//! - [`keys`], [`storage`]: envelope v1 with WebCrypto; where passphrases live.
//! - [`pages`]: explore, create, stream. [`components`]: their pieces.
//! - [`perf`]: User Timing marks for the work users wait for.
//! - [`speech`]: dictation through the browser's speech recognition.
//! - [`offline`], [`service_worker`]: the offline notice, getting back by
//!   itself, and the service worker that keeps the app shell.

pub mod api;
pub mod command;
pub mod components;
pub mod events;
pub mod keys;
pub mod linkify;
pub mod offline;
pub mod pages;
pub mod perf;
pub mod route;
pub mod service_worker;
pub mod speech;
pub mod storage;
pub mod trust;

use leptos::prelude::*;

use crate::components::offline_notice::OfflineNotice;
use crate::components::shortcuts::ShortcutsHelp;
use crate::pages::create::{CreateStream, GoToStream};
use crate::pages::explore::Explore;
use crate::pages::stream::StreamPage;
use crate::route::Route;

fn current_route() -> Route {
    let hash = web_sys::window()
        .and_then(|window| window.location().hash().ok())
        .unwrap_or_default();
    Route::parse(&hash)
}

/// The root component: a header and the screen the fragment names.
#[component]
pub fn App() -> impl IntoView {
    let route = RwSignal::new(current_route());
    let reachability = offline::watch();
    // The screen the fragment names, opened again when the server answers
    // after it could not load.
    let screen = move || {
        reachability.reopened.track();
        route.get()
    };
    let listener =
        window_event_listener(leptos::ev::hashchange, move |_| route.set(current_route()));
    on_cleanup(move || listener.remove());
    view! {
        <header class="top">
            <a href="#" class="brand">
                <h1 data-testid="product-name">"Malten"</h1>
            </a>
            <p class="tagline">"Anonymous, ephemeral message streams."</p>
            <GoToStream />
            <ShortcutsHelp />
        </header>
        <OfflineNotice reachability />
        <main>
            {move || match screen() {
                Route::Explore => view! { <Explore /> <CreateStream /> }.into_any(),
                Route::Stream(link) => view! { <StreamPage link /> }.into_any(),
                Route::Invalid(reason) => view! {
                    <p class="error" role="alert" data-testid="route-error">{reason}</p>
                }.into_any(),
            }}
        </main>
    }
}
