//! Says, on every stream and every message, who can read it.

use leptos::prelude::*;

/// Who can read something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privacy {
    /// Only people with the passphrase.
    EndToEnd,
    /// Anyone who can reach the server, and the server itself.
    Plain,
    /// Sent in plaintext to the LLM provider configured on the server.
    Llm,
}

impl Privacy {
    pub fn label(self) -> &'static str {
        match self {
            Privacy::EndToEnd => "End-to-end encrypted",
            Privacy::Plain => "Plain: the server can read it",
            Privacy::Llm => "Sent to an LLM: left the encryption",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Privacy::EndToEnd => "badge badge-e2e",
            Privacy::Plain => "badge badge-plain",
            Privacy::Llm => "badge badge-llm",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Privacy::EndToEnd => "encrypted",
            Privacy::Plain => "plain",
            Privacy::Llm => "LLM",
        }
    }
}

/// A small label; the full sentence is its accessible name and tooltip.
#[component]
pub fn PrivacyBadge(privacy: Privacy, #[prop(optional)] long: bool) -> impl IntoView {
    let text = if long {
        privacy.label()
    } else {
        privacy.short()
    };
    view! {
        <span class=privacy.class() title=privacy.label() data-testid="privacy-badge">
            {text}
        </span>
    }
}

/// What a shared passphrase does and does not protect, said plainly.
#[component]
pub fn EncryptionLimits() -> impl IntoView {
    view! {
        <details class="limits" data-testid="encryption-limits">
            <summary>"What encryption here does and does not do"</summary>
            <p>
                "Messages are encrypted in your browser with a key derived from the stream's passphrase. "
                "The server stores and relays only ciphertext and never sees the passphrase."
            </p>
            <p>
                "A shared passphrase gives no forward secrecy: whoever learns it later can read every message still stored. "
                "It gives no sender authentication: anyone with the passphrase can post, under any nickname. "
                "Commands sent to an LLM leave the encryption and are readable by the server and the model's provider."
            </p>
        </details>
    }
}
