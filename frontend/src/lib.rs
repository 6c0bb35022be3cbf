//! Malten's web app.
//!
//! # Layout
//! - [`api`]: every HTTP call to the server, in one place.
//! - [`pages`]: whole screens (the explore list).

pub mod api;
pub mod pages;

use leptos::prelude::*;

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <header class="top">
            <h1 data-testid="product-name">"Malten"</h1>
            <p class="tagline">"Anonymous, ephemeral message streams."</p>
        </header>
        <main>
            <pages::explore::Explore />
        </main>
    }
}
