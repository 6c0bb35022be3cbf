//! A secure pipe (`docs/api.md` "Pipes") shown as a two-party chat.
//!
//! The page joins the pipe as one end, exactly as `malten pipe` does, with
//! `malten_shared::pipe::Chat`: what the user types goes out as numbered
//! `d` chunks (a line each, so the terminal on the other side prints it),
//! the other end's chunks are checked and shown as text, and every 32nd is
//! acknowledged so a terminal sender never stalls. Anything that does not
//! check out (a lost or reordered chunk, a third writer, a message that
//! does not open, a gap) ends the chat with the reason: it never shows
//! wrong data. A third end is refused by the server (`409 pipe_full`) and
//! told so.
//!
//! There is no history to page through: the server keeps only what both
//! ends have not read, and the page asks for all of it (`last=0`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use malten_shared::crypto::PlaintextKind;
use malten_shared::pipe::{Chat, Frame};
use malten_shared::wire::{Body, Cursor, Message};

use super::state::{Page, Phase};
use crate::api;
use crate::components::composer::Composer;
use crate::components::message::MessageView;
use crate::components::transcript::Transcript;
use crate::events::Live;

/// Shown when a third end tries to join.
pub(super) const PIPE_FULL: &str = "This pipe already has its two ends connected (pipe_full): \
a pipe is between exactly two ends, so this page cannot join it.";

/// The pipe end and what it shows.
#[derive(Clone, Copy)]
pub(super) struct Pipe {
    chat: StoredValue<Option<Chat>, LocalStorage>,
    pub(super) transcript: RwSignal<Transcript>,
    /// Why the pipe can no longer be used; final.
    pub(super) broken: RwSignal<Option<String>>,
    /// The other end has been connected.
    paired: StoredValue<bool>,
}

impl Pipe {
    pub(super) fn new() -> Self {
        Self {
            chat: StoredValue::new_local(None),
            transcript: RwSignal::new(Transcript::default()),
            broken: RwSignal::new(None),
            paired: StoredValue::new(false),
        }
    }
}

impl Page {
    pub(super) fn is_pipe(&self) -> bool {
        self.info.with_untracked(|info| {
            info.as_ref()
                .is_some_and(|info| info.pipe && info.encrypted)
        })
    }

    /// Joins the pipe as a new end: everything not yet read, then live.
    pub(super) fn open_pipe(self) {
        match Chat::new() {
            Ok(chat) => self.pipe.chat.set_value(Some(chat)),
            Err(err) => return self.phase.set(Phase::Failed(err.to_string())),
        }
        self.phase.set(Phase::Ready);
        self.connect(Some(Cursor::START));
    }

    /// Ends the chat for good, with why; the connection is closed so the
    /// other end sees this one leave.
    fn break_pipe(self, why: String) {
        if self.pipe.broken.with_untracked(Option::is_some) {
            return;
        }
        self.pipe.broken.set(Some(why));
        self.connection.live.set_value(None);
        self.connection.reconnecting.set(false);
    }

    /// One live event, in order.
    pub(super) async fn pipe_event(self, event: Live) {
        if self.pipe.broken.with_untracked(Option::is_some) {
            return;
        }
        match event {
            Live::Message(message) => self.pipe_message(&message).await,
            Live::Presence(presence) => {
                self.connection.observers.set(presence.observers);
                self.pipe_presence(presence.observers);
            }
            Live::Gap(_) => self.break_pipe(
                "The server dropped part of the other end's data before this page read it: \
                 the conversation is incomplete."
                    .into(),
            ),
            Live::System(notice) => self.pipe.transcript.update(|t| t.notice(&notice.text)),
            Live::Partial(_) => {}
            Live::Reconnecting => self.connection.reconnecting.set(true),
            Live::Open => {
                self.connection.refusals.set_value(0);
                self.connection.reconnecting.set(false);
            }
            Live::Refused => self.pipe_refused().await,
        }
    }

    fn pipe_presence(self, observers: usize) {
        let pipe = self.pipe;
        if observers >= 2 && !pipe.paired.get_value() {
            pipe.paired.set_value(true);
            pipe.transcript
                .update(|t| t.notice("The other end is connected."));
        } else if observers < 2 && pipe.paired.get_value() {
            pipe.paired.set_value(false);
            pipe.transcript.update(|t| {
                t.notice(
                    "The other end left the pipe. Once both ends have left, the server forgets it.",
                )
            });
        }
    }

    /// The server refused the connection: a third end (`409 pipe_full`),
    /// a pipe that is gone, or the usual reasons (then reconnect).
    async fn pipe_refused(self) {
        match api::stream_info(&self.name()).await {
            _ if !self.is_open() => {}
            Ok(Some(info)) if info.observers >= 2 => self.break_pipe(PIPE_FULL.into()),
            Ok(None) => {
                self.break_pipe("The pipe is gone: both ends had left, or it expired.".into())
            }
            _ => self.reconnect().await,
        }
    }

    async fn pipe_message(self, message: &Message) {
        let Body::Envelope(envelope) = &message.body else {
            return self.break_pipe("A message in the pipe is not encrypted.".into());
        };
        let Some(key) = self.keys.key.get_value() else {
            return;
        };
        let frame = match key.open(message.stream.as_str(), envelope).await {
            Ok(plaintext) => Frame::decode(&plaintext.text),
            Err(_) => {
                return self.break_pipe(
                    "A message in the pipe does not open (altered, or not from this pipe).".into(),
                )
            }
        };
        let Some(frame) = frame else {
            return self.break_pipe("A message in the pipe is not a pipe frame.".into());
        };
        let outcome = self
            .pipe
            .chat
            .try_update_value(|chat| chat.as_mut().map(|chat| chat.receive(frame)))
            .flatten();
        let received = match outcome {
            Some(Ok(received)) => received,
            Some(Err(err)) => return self.break_pipe(format!("The pipe is broken: {err}.")),
            None => return,
        };
        self.pipe.transcript.update(|t| {
            if !received.text.is_empty() {
                t.peer_text(&received.text);
            }
            if let Some(bytes) = received.binary {
                t.peer_binary(bytes);
            }
            if received.finished {
                t.notice("The other end has finished sending; everything it sent arrived intact.");
            }
            if received.delivered {
                t.notice("The other end has everything you sent, intact.");
            }
        });
        if let Some(reply) = received.reply {
            if let Err(err) = self.post_frame(&reply).await {
                self.break_pipe(format!("An acknowledgement could not be sent: {err}"));
            }
        }
    }

    /// Sends what was typed as one line to the other end.
    pub(super) async fn pipe_send(self, text: String) {
        let composer = self.composer;
        if let Some(reason) = self.refusal().or_else(|| self.pipe.broken.get_untracked()) {
            return composer.error.set(Some(reason));
        }
        if composer.sending.get_untracked() {
            return;
        }
        let line = format!("{text}\n");
        let frames = self
            .pipe
            .chat
            .try_update_value(|chat| chat.as_mut().map(|chat| chat.send(line.as_bytes())))
            .flatten();
        let frames = match frames {
            Some(Ok(frames)) => frames,
            Some(Err(err)) => return composer.error.set(Some(format!("Not sent: {err}."))),
            None => return,
        };
        composer.error.set(None);
        composer.sending.set(true);
        // In order, one at a time: the other end checks the numbering.
        for frame in &frames {
            if let Err(err) = self.post_frame(frame).await {
                composer.sending.set(false);
                return self.break_pipe(format!(
                    "Part of a message could not be sent ({err}): the other end would see a gap."
                ));
            }
        }
        composer.sending.set(false);
        composer.draft.set(String::new());
        self.pipe.transcript.update(|t| t.mine(&text));
    }

    /// Tells the other end this one has sent everything.
    pub(super) async fn pipe_finish(self) {
        let frame = self
            .pipe
            .chat
            .try_update_value(|chat| chat.as_mut().map(Chat::finish))
            .flatten();
        let Some(Ok(frame)) = frame else { return };
        match self.post_frame(&frame).await {
            Ok(()) => self
                .pipe
                .transcript
                .update(|t| t.notice("You finished sending.")),
            Err(err) => self.break_pipe(format!("The end of your data could not be sent: {err}")),
        }
    }

    async fn post_frame(self, frame: &Frame) -> Result<(), String> {
        let body = self
            .seal(&frame.encode(), "", PlaintextKind::Message)
            .await?;
        api::post_message(&self.name(), &body)
            .await
            .map(drop)
            .map_err(|err| err.to_string())
    }
}

/// The chat: a label saying what a pipe is, the conversation, the composer.
#[component]
pub(super) fn PipeChat(page: Page) -> impl IntoView {
    let pipe = page.pipe;
    let finished = RwSignal::new(false);
    view! {
        <p class="pipe-label" data-testid="pipe-label">
            <strong>"Secure pipe"</strong>
            ": a private, end-to-end encrypted chat between exactly two ends (a browser or "
            <code>"malten pipe"</code>
            "). The server keeps only what both ends have not read yet, and forgets the pipe once both have left."
        </p>
        <p class="muted" role="status" data-testid="pipe-peer">
            {move || if page.connection.observers.get() >= 2 {
                "The other end is connected."
            } else {
                "Waiting for the other end…"
            }}
        </p>
        <ol class="messages" data-testid="messages" aria-live="polite">
            <For each=move || pipe.transcript.get().entries key=|entry| entry.id.clone() let:entry>
                <MessageView message=entry />
            </For>
        </ol>
        {move || pipe.broken.get().map(|why| view! {
            <p class="error" role="alert" data-testid="pipe-error">{why}</p>
        })}
        {move || pipe.broken.get().is_none().then(|| view! {
            <Composer
                draft=page.composer.draft
                encrypted=false
                refused=finished.get()
                busy=page.composer.sending
                error=page.composer.error
                on_send=move |text, _nick| spawn_local(page.pipe_send(text))
            />
            <button
                type="button"
                data-testid="pipe-finish"
                disabled=move || finished.get()
                on:click=move |_| {
                    finished.set(true);
                    spawn_local(page.pipe_finish());
                }
            >
                "Finish sending"
            </button>
        })}
    }
}
