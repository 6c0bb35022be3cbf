//! What the model is told: the system prompt, as much recent conversation as
//! fits in the character budget (newest kept), and the prompt.
//!
//! In a stream, the conversation is the stream's recent messages: plain
//! messages and commands are user turns, replies are assistant turns. In a
//! `/ws` session it is the session's own history. The budget
//! (`--llm-context-chars`) bounds the earlier turns plus the prompt; the
//! system prompt and the prompt itself are always sent.

use malten_shared::wire::{Message, MessageKind};

use super::backend::{ChatMessage, Role};

/// A stream's messages as turns of a conversation, in the same order.
/// Only plain text can be context: envelopes are opaque to the server.
pub fn stream_turns(messages: &[Message]) -> Vec<ChatMessage> {
    messages
        .iter()
        .filter_map(|message| {
            let role = match message.kind {
                MessageKind::Reply => Role::Assistant,
                MessageKind::Message | MessageKind::Command => Role::User,
            };
            Some(ChatMessage::new(role, message.body.text()?.to_owned()))
        })
        .collect()
}

/// Characters of earlier conversation that fit beside `prompt`.
pub fn history_budget(budget_chars: usize, prompt: &str) -> usize {
    budget_chars.saturating_sub(prompt.chars().count())
}

/// The newest turns of `history` whose characters fit in `budget`, in order.
/// Stops at the first turn that does not fit, so no turn is skipped in the
/// middle of what is sent.
pub fn newest_within(history: &[ChatMessage], budget: usize) -> &[ChatMessage] {
    let mut left = budget;
    let mut start = history.len();
    for (index, turn) in history.iter().enumerate().rev() {
        let chars = turn.chars();
        if chars > left {
            break;
        }
        left -= chars;
        start = index;
    }
    &history[start..]
}

/// The messages of one request: system prompt, fitting history, prompt.
pub fn conversation(
    system_prompt: &str,
    history: &[ChatMessage],
    prompt: &str,
    budget_chars: usize,
) -> Vec<ChatMessage> {
    let earlier = newest_within(history, history_budget(budget_chars, prompt));
    let mut messages = Vec::with_capacity(earlier.len() + 2);
    if !system_prompt.trim().is_empty() {
        messages.push(ChatMessage::new(Role::System, system_prompt));
    }
    messages.extend_from_slice(earlier);
    messages.push(ChatMessage::new(Role::User, prompt));
    messages
}

#[cfg(test)]
mod tests {
    use malten_shared::wire::Cursor;
    use malten_shared::StreamName;

    use super::*;

    fn turn(role: Role, text: &str) -> ChatMessage {
        ChatMessage::new(role, text)
    }

    fn message(kind: MessageKind, text: &str) -> Message {
        Message {
            id: "id".into(),
            stream: StreamName::default_stream(),
            body: malten_shared::wire::Body::Text(text.into()),
            kind,
            created: Cursor(1),
        }
    }

    #[test]
    fn messages_and_commands_are_user_turns_and_replies_assistant_turns() {
        let turns = stream_turns(&[
            message(MessageKind::Message, "hello"),
            message(MessageKind::Command, "what is 2+2?"),
            message(MessageKind::Reply, "4"),
        ]);
        assert_eq!(
            turns,
            [
                turn(Role::User, "hello"),
                turn(Role::User, "what is 2+2?"),
                turn(Role::Assistant, "4"),
            ]
        );
    }

    #[test]
    fn the_newest_turns_within_the_budget_are_kept() {
        let history = [
            turn(Role::User, "aaaa"),
            turn(Role::Assistant, "bbbb"),
            turn(Role::User, "cc"),
        ];
        let cases: [(usize, &[ChatMessage]); 5] = [
            (0, &[]),
            (1, &[]),
            (2, &history[2..]),
            (9, &history[1..]),
            (10, &history[..]),
        ];
        for (budget, expected) in cases {
            assert_eq!(newest_within(&history, budget), expected, "budget {budget}");
        }
    }

    #[test]
    fn the_prompt_counts_against_the_budget_and_is_always_sent() {
        let history = [turn(Role::User, "12345"), turn(Role::Assistant, "678")];
        let messages = conversation("be brief", &history, "abcd", 8);
        assert_eq!(
            messages,
            [
                turn(Role::System, "be brief"),
                turn(Role::Assistant, "678"),
                turn(Role::User, "abcd"),
            ]
        );
        let tiny = conversation("", &history, "a prompt longer than the budget", 4);
        assert_eq!(tiny, [turn(Role::User, "a prompt longer than the budget")]);
    }

    #[test]
    fn budgets_count_characters_not_bytes() {
        let history = [turn(Role::User, "😀😀")];
        assert_eq!(newest_within(&history, 2), &history[..]);
    }
}
