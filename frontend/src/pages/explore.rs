//! The explore screen: the public streams, with their activity.

use leptos::prelude::*;
use malten_shared::link::Link;
use malten_shared::wire::StreamInfo;

use crate::api;
use crate::components::privacy_badge::{Privacy, PrivacyBadge};

#[component]
pub fn Explore() -> impl IntoView {
    let streams = LocalResource::new(api::list_streams);
    view! {
        <section class="explore" aria-labelledby="explore-title">
            <h2 id="explore-title">"Public streams"</h2>
            <Suspense fallback=|| view! { <p data-testid="streams-loading">"Loading streams…"</p> }>
                {move || Suspend::new(async move {
                    match streams.await {
                        Ok(list) if list.is_empty() => view! {
                            <p data-testid="streams-empty">"No public streams right now."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="stream-list" data-testid="stream-list">
                                {list.into_iter().map(|info| view! { <StreamRow info /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(err) => {
                            if err.unanswered {
                                crate::offline::reopen_when_back();
                            }
                            view! {
                                <p class="error" role="alert" data-testid="streams-error">{err.to_string()}</p>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn StreamRow(info: StreamInfo) -> impl IntoView {
    let href = Link::bare(info.stream.clone()).fragment();
    let privacy = if info.encrypted {
        Privacy::EndToEnd
    } else {
        Privacy::Plain
    };
    view! {
        <li class="stream-row" data-testid="stream-row">
            <a href=href>{format!("#{}", info.stream)}</a>
            <PrivacyBadge privacy />
            <span class="counts">
                {format!("{} messages · {} watching", info.messages, info.observers)}
            </span>
        </li>
    }
}
