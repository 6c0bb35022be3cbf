//! One stream: unlock (if encrypted), history, live messages, composer.
//!
//! Order of events: stream info → the check that it is the stream the link
//! is for (its pin, see [`crate::trust`]; on a mismatch the page stops there
//! with a warning, decrypts nothing and sends nothing) → key (for an
//! encrypted stream, from the link, this tab, a remembered passphrase, or by
//! asking) → the newest page
//! of history → the live connection, resuming right after the newest message
//! loaded, so nothing falls between the two. Live events are handled one at
//! a time, in order, even though decryption is asynchronous.
//!
//! # Layout
//! [`Page`](state::Page) holds the page's signals, grouped by concern; each
//! concern's module defines its group and the `Page` methods that use it.
//! - `state.rs`: the page itself: stream, description, phase, start-up order.
//! - `keys.rs`: unlocking, and opening and sealing messages with the key.
//! - `history.rs`: the messages shown, what was seen, older pages.
//! - `connection.rs`: the live connection, presence, reconnecting.
//! - `presence.rs`: the count of who is watching, and a note when it changes.
//! - `lifecycle.rs`: closing the connection while the page is in the
//!   back/forward cache.
//! - `unread.rs`: the unread count in the tab title while the tab is hidden.
//! - `jump.rs`: the "new messages" button while scrolled up.
//! - `composer.rs`: the draft, sending, posting.
//! - `llm.rs`: `/ai` commands and the reply preview.
//! - `pipe.rs`: a secure pipe, shown as a two-party chat instead.
//! - `dom.rs`: scrolling and other small DOM helpers.

mod composer;
mod connection;
mod dom;
mod history;
mod jump;
mod keys;
mod lifecycle;
mod llm;
mod pipe;
mod presence;
mod state;
mod unread;

use leptos::prelude::*;
use leptos::task::spawn_local;
use malten_shared::link::Link;

use crate::components::composer::Composer;
use crate::components::message::MessageView;
use crate::components::passphrase::PassphrasePrompt;
use crate::components::privacy_badge::{EncryptionLimits, Privacy, PrivacyBadge};
use crate::components::share::SharePanel;
use history::Older;
use jump::JumpToNew;
use pipe::PipeChat;
use presence::PresenceView;
use state::{Page, Phase};

#[component]
pub fn StreamPage(link: Link) -> impl IntoView {
    let page = Page::new(&link);
    let name = link.stream;
    spawn_local(page.start(link.secret));
    let lifecycle = page.follow_lifecycle();
    let visibility = page.follow_unread();
    on_cleanup(move || {
        lifecycle.remove();
        visibility.remove();
    });

    let header_badge = move || {
        page.info.get().map(|info| {
            let privacy = if info.encrypted {
                Privacy::EndToEnd
            } else {
                Privacy::Plain
            };
            view! { <PrivacyBadge privacy long=true /> }
        })
    };
    let title = name.to_string();
    let share_name = name.clone();
    view! {
        <section class="stream" aria-labelledby="stream-title">
            <div class="stream-head">
                <h2 id="stream-title" data-testid="stream-name">{format!("#{title}")}</h2>
                {header_badge}
                <PresenceView page />
                {move || page.connection.reconnecting.get().then(|| view! { <span class="status" role="status">"Reconnecting…"</span> })}
            </div>
            {move || page.info.get().filter(|info| info.encrypted).map(|_| view! { <EncryptionLimits /> })}
            {move || match page.phase.get() {
                Phase::Loading => view! { <p data-testid="stream-loading">"Opening the stream…"</p> }.into_any(),
                Phase::Refused(reason) => view! { <Refused page reason /> }.into_any(),
                Phase::Failed(err) => view! { <p class="error" role="alert" data-testid="stream-error">{err}</p> }.into_any(),
                Phase::Locked { error } => view! {
                    <PassphrasePrompt
                        error=Signal::derive(move || error.clone())
                        busy=Signal::derive(|| false)
                        on_submit=move |passphrase, remember| spawn_local(page.unlock(passphrase, remember, false))
                    />
                }.into_any(),
                Phase::Unlocking => view! { <p role="status" data-testid="unlocking">"Deriving the key…"</p> }.into_any(),
                Phase::Ready if page.is_pipe() => view! { <PipeChat page /> }.into_any(),
                Phase::Ready => view! {
                    <div class="older">
                        {move || match page.history.older.get() {
                            Older::Exhausted => view! { <span class="muted">"Start of the stream"</span> }.into_any(),
                            Older::Loading => view! { <span class="muted">"Loading older messages…"</span> }.into_any(),
                            Older::Idle => view! {
                                <button type="button" data-testid="load-older" on:click=move |_| spawn_local(page.load_older())>
                                    "Load older messages"
                                </button>
                            }.into_any(),
                        }}
                    </div>
                    <ol
                        class="messages"
                        node_ref=page.history.list
                        data-testid="messages"
                        aria-live="polite"
                        on:wheel=move |_| dom::user_scrolls()
                        on:touchstart=move |_| dom::user_scrolls()
                        on:pointerdown=move |_| dom::user_scrolls()
                        on:keydown=move |_| dom::user_scrolls()
                        on:scroll=move |_| {
                            page.history.scrolled();
                            if page.history.list.get_untracked().is_some_and(|list| list.scroll_top() < 40) {
                                spawn_local(page.load_older());
                            }
                        }
                    >
                        <For each=move || page.history.messages.get() key=|message| message.id.clone() let:message>
                            <MessageView message />
                        </For>
                    </ol>
                    <JumpToNew history=page.history />
                    {move || page.llm.preview.get().map(|text| view! {
                        <p class="preview" role="status" data-testid="llm-preview">
                            {if text.is_empty() { "The LLM is thinking…".to_owned() } else { text }}
                        </p>
                    })}
                    {move || page.llm.info.get().filter(|info| !info.enabled).map(|_| view! {
                        <p class="muted" data-testid="llm-unavailable">"LLM commands (/ai) are unavailable on this server."</p>
                    })}
                    <Composer
                        draft=page.composer.draft
                        encrypted=page.encrypted()
                        busy=page.composer.sending
                        error=page.composer.error
                        on_send=move |text, nick| spawn_local(page.send(text, nick))
                    />
                }.into_any(),
            }}
            // Only for a stream that passed the check: its links are pinned to it.
            {move || matches!(page.phase.get(), Phase::Locked { .. } | Phase::Unlocking | Phase::Ready).then(|| {
                view! { <SharePanel name=share_name.clone() info=page.info secret=page.keys.passphrase /> }
            })}
        </section>
    }
}

/// The stream is not the one the link is for: the warning, and a composer
/// that cannot send. When only this device's memory expected another
/// stream, it can be told to forget.
#[component]
fn Refused(page: Page, reason: String) -> impl IntoView {
    let remembered = page.expected.with_value(|expected| expected.remembered);
    let forget = move |_| {
        crate::storage::forget_stream(&page.name());
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    };
    view! {
        <div class="warning pin-warning" role="alert" data-testid="pin-warning">
            <h3>"Not the stream this link is for"</h3>
            <p data-testid="pin-warning-reason">{reason}</p>
            <p>"Ask whoever gave you the link for a new one. Nothing you write here will be sent."</p>
            {remembered.then(|| view! {
                <p>
                    "This device remembered another stream under this name. "
                    <button type="button" data-testid="pin-forget" on:click=forget>
                        "Forget it and open this one"
                    </button>
                </p>
            })}
        </div>
        <Composer
            draft=page.composer.draft
            encrypted=false
            refused=true
            busy=page.composer.sending
            error=page.composer.error
            on_send=move |text, nick| spawn_local(page.send(text, nick))
        />
    }
}
