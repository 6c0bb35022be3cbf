//! One message as shown: its text (never HTML), nickname, time and privacy.

use leptos::prelude::*;
use malten_shared::link::Link;
use malten_shared::wire::Cursor;

use super::privacy_badge::{Privacy, PrivacyBadge};
use crate::linkify::{segments, Segment};

/// A message ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: String,
    pub created: Cursor,
    pub text: String,
    pub nick: Option<String>,
    pub privacy: Privacy,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Someone's message.
    Message,
    /// A prompt sent to the LLM.
    Prompt,
    /// The LLM's answer.
    Reply,
    /// A notice from the app or server (a gap, a reconnect).
    Notice,
    /// A message this key cannot open.
    Unreadable,
}

impl Shown {
    pub fn notice(id: String, created: Cursor, text: impl Into<String>) -> Self {
        Self {
            id,
            created,
            text: text.into(),
            nick: None,
            privacy: Privacy::Plain,
            role: Role::Notice,
        }
    }
}

thread_local! {
    /// Minutes to add to UTC for the viewer's local time, asked of the
    /// browser once rather than through a `Date` per message.
    static UTC_OFFSET_MINUTES: i64 = -(js_sys::Date::new_0().get_timezone_offset() as i64);
}

/// `HH:MM` in the viewer's local time.
fn clock(created: Cursor) -> String {
    let offset = UTC_OFFSET_MINUTES.with(|offset| *offset);
    let minutes = (created.0 / 60_000_000_000) as i64 + offset;
    let of_day = minutes.rem_euclid(24 * 60);
    format!("{:02}:{:02}", of_day / 60, of_day % 60)
}

#[component]
pub fn MessageView(message: Shown) -> impl IntoView {
    let role_class = match message.role {
        Role::Message => "message",
        Role::Prompt => "message prompt",
        Role::Reply => "message reply",
        Role::Notice => "message notice",
        Role::Unreadable => "message unreadable",
    };
    let who = match message.role {
        Role::Reply => Some("LLM".to_owned()),
        Role::Notice => None,
        _ => message.nick.clone(),
    };
    let show_badge = !matches!(message.role, Role::Notice);
    let body = segments(&message.text)
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(text) => text.into_any(),
            Segment::Link(url) => {
                let label = url.clone();
                view! { <a href=url rel="noopener noreferrer nofollow" target="_blank">{label}</a> }
                    .into_any()
            }
            Segment::Stream(name) => {
                let href = Link::bare(name.clone()).fragment();
                view! { <a href=href>{format!("#{name}")}</a> }.into_any()
            }
        })
        .collect_view();
    view! {
        <li class=role_class data-testid="message" data-id=message.id.clone()>
            <div class="meta">
                {who.map(|who| view! { <span class="nick" data-testid="nick">{who}</span> })}
                <time>{clock(message.created)}</time>
                {show_badge.then(|| view! { <PrivacyBadge privacy=message.privacy /> })}
            </div>
            <p class="text" data-testid="message-text">{body}</p>
        </li>
    }
}
