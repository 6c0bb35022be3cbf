//! Talking to a language model: `POST /commands` in streams, and the
//! WebSocket session protocol at `/ws`.
//!
//! The backend is any OpenAI-compatible chat-completions API (OpenAI, Ollama,
//! llama.cpp's server, vLLM), asked to stream. Without a configured backend
//! every LLM path answers [`LlmError::Disabled`], which says how to enable it.
//!
//! # Layout
//! - [`backend`]: the HTTP client of the chat-completions API.
//! - [`generation`]: one reply being generated: deadlines and the 1024-character cap.
//! - [`context`]: which earlier conversation goes to the model, within the budget.
//! - [`command`]: the `/commands` flow (store the prompt, stream the reply, store it).
//! - [`sessions`]: the `/ws` sessions: settings, history, idle expiry.
//! - [`frames`]: what a `/ws` text frame means, and which frames close the connection.
//! - [`socket`]: the `/ws` connection loop, sessions requests and chat tasks.
//!
//! Nothing here logs prompts, replies, keys, headers or provider bodies: log
//! lines carry stream names, sizes, durations, status codes and error codes.

pub mod backend;
pub mod command;
pub mod context;
pub mod frames;
pub mod generation;
pub mod sessions;
pub mod socket;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use malten_shared::StreamName;

use crate::config::Config;
use crate::limits::{ClientIp, RateClock, RateLimits, SlotPermit, Slots};
use backend::{ChatBackend, ChatRequest, OpenAiBackend};
use generation::{Generation, Timeouts};
use sessions::Sessions;

/// The sentence every LLM path answers with when no backend is configured.
pub const DISABLED_SENTENCE: &str = "the language model is not enabled on this server; \
     its operator can enable it by setting MALTEN_LLM_BASE_URL (an OpenAI-compatible API \
     such as Ollama's http://127.0.0.1:11434/v1) and/or OPENAI_API_KEY";

/// The bot's name in `/ws` chat replies when the session sets none.
pub const DEFAULT_BOT_NAME: &str = "Malten";

/// Why a reply could not be had. The sentences are shown to users as-is, so
/// none carries a provider's body, a header or the key. The HTTP status of
/// each is decided at the edge (`error.rs`); the code is here because `/ws`
/// frames and `partial` events carry it too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    #[error("{DISABLED_SENTENCE}")]
    Disabled,
    #[error("the language model did not start answering within {secs} s; try again later")]
    FirstTokenTimeout { secs: u64 },
    #[error("the language model's reply took longer than {secs} s and was abandoned")]
    TotalTimeout { secs: u64 },
    #[error("{0}")]
    Provider(ProviderFailure),
    #[error("too many prompts from your address; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("you already have {limit} replies being generated; wait for one to finish")]
    Busy { limit: usize },
    #[error("a reply is already being generated in this stream; wait for it to finish")]
    StreamBusy,
    #[error(
        "this stream is end-to-end encrypted: the server can only answer if you send the \
         prompt in plaintext; repeat the request with plaintext=true to agree (the reply is \
         then sent to you only and nothing is stored)"
    )]
    PlaintextOptInRequired,
}

/// How the provider failed, in words safe to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderFailure {
    #[error("the language model provider answered with HTTP status {0}; try again later")]
    Status(u16),
    #[error("the language model provider could not be reached; try again later")]
    Unreachable,
    #[error("the language model provider's reply was interrupted; try again")]
    Interrupted,
    #[error("the language model provider sent a reply that could not be read")]
    Malformed,
    #[error("the language model returned an empty reply")]
    Empty,
}

impl LlmError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Disabled => "llm_disabled",
            Self::FirstTokenTimeout { .. } | Self::TotalTimeout { .. } => "llm_timeout",
            Self::Provider(_) => "llm_provider_error",
            Self::RateLimited { .. } => "llm_rate_limited",
            Self::Busy { .. } => "llm_busy",
            Self::StreamBusy => "llm_stream_busy",
            Self::PlaintextOptInRequired => "plaintext_opt_in_required",
        }
    }

    /// Seconds to put in `Retry-After`, for the refusals that pass.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::Busy { .. } | Self::StreamBusy => Some(1),
            _ => None,
        }
    }
}

/// What every reply is generated with, from the configuration.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// The default model, always allowed.
    pub model: String,
    /// Other models a `/ws` session may choose.
    pub allowed_models: AllowedModels,
    pub system_prompt: String,
    pub max_tokens: u32,
    pub context_chars: usize,
    pub timeouts: Timeouts,
}

/// Which models clients may ask for, besides the default one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedModels {
    Any,
    Only(Vec<String>),
}

impl AllowedModels {
    /// Reads `--llm-allowed-models`: `*`, or names separated by commas.
    pub fn parse(raw: &str) -> Self {
        let names: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        if names.iter().any(|name| name == "*") {
            Self::Any
        } else {
            Self::Only(names)
        }
    }

    pub fn allows(&self, model: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(names) => names.iter().any(|name| name == model),
        }
    }
}

/// The LLM service: the backend (if any), its limits and the `/ws` sessions.
pub struct Llm {
    backend: Option<Arc<dyn ChatBackend>>,
    pub settings: LlmSettings,
    rate: RateLimits,
    per_ip: Arc<Slots<IpAddr>>,
    per_stream: Arc<Slots<StreamName>>,
    pub sessions: Sessions,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("enabled", &self.is_enabled())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The limits of the LLM service, from the configuration.
#[derive(Debug, Clone)]
pub struct LlmLimits {
    pub per_ip: usize,
    pub per_stream: usize,
    pub rate_per_minute: u32,
    pub rate_burst: u32,
    pub session_idle: Duration,
    pub max_sessions: usize,
    /// The time `rate_per_minute` goes by (`Config::rate_clock`).
    pub rate_clock: RateClock,
}

impl Llm {
    pub fn new(
        settings: LlmSettings,
        limits: LlmLimits,
        backend: Option<Arc<dyn ChatBackend>>,
    ) -> Self {
        Self {
            backend,
            rate: RateLimits::per_minute(
                limits.rate_per_minute,
                limits.rate_burst,
                limits.rate_clock,
            ),
            per_ip: Arc::new(Slots::new(limits.per_ip)),
            per_stream: Arc::new(Slots::new(limits.per_stream)),
            sessions: Sessions::new(
                limits.session_idle,
                limits.max_sessions,
                settings.context_chars,
            ),
            settings,
        }
    }

    /// The service as configured; without a base URL or key it is disabled.
    pub fn from_config(config: &Config) -> Self {
        let timeouts = Timeouts {
            first_token: Duration::from_secs_f64(config.llm_first_token_timeout_secs),
            total: Duration::from_secs_f64(config.llm_total_timeout_secs),
        };
        let backend = config.llm_base_url().and_then(|base_url| {
            let connect = Duration::from_secs_f64(config.llm_connect_timeout_secs);
            match OpenAiBackend::new(&base_url, config.llm_key().cloned(), connect) {
                Ok(backend) => {
                    tracing::info!(model = %config.llm_model, "language model enabled");
                    Some(Arc::new(backend) as Arc<dyn ChatBackend>)
                }
                Err(err) => {
                    tracing::error!(error = %err, "cannot set up the language model client; LLM disabled");
                    None
                }
            }
        });
        Self::new(
            LlmSettings {
                model: config.llm_model.clone(),
                allowed_models: AllowedModels::parse(&config.llm_allowed_models),
                system_prompt: config.llm_system_prompt.clone(),
                max_tokens: config.llm_max_tokens,
                context_chars: config.llm_context_chars,
                timeouts,
            },
            LlmLimits {
                per_ip: config.llm_max_concurrent_per_ip,
                per_stream: config.llm_max_concurrent_per_stream,
                rate_per_minute: config.llm_rate_per_minute,
                rate_burst: config.llm_rate_burst,
                session_idle: Duration::from_secs_f64(config.llm_session_idle_secs),
                max_sessions: config.llm_max_sessions,
                rate_clock: config.rate_clock.clone(),
            },
            backend,
        )
    }

    pub fn is_enabled(&self) -> bool {
        self.backend.is_some()
    }

    /// `Ok` when a backend is configured, [`LlmError::Disabled`] otherwise.
    pub fn ensure_enabled(&self) -> Result<(), LlmError> {
        self.backend.as_ref().map(drop).ok_or(LlmError::Disabled)
    }

    /// Lets one more prompt from `client` through: a free concurrency slot
    /// (held until the returned permit drops) and a unit of the rate. The
    /// slot is taken first so a refused prompt does not spend the rate.
    pub fn admit(&self, client: ClientIp) -> Result<SlotPermit<IpAddr>, LlmError> {
        let permit = self.per_ip.try_acquire(&client.0).ok_or(LlmError::Busy {
            limit: self.per_ip.per_key(),
        })?;
        self.rate
            .try_spend(client)
            .map_err(|retry_after_secs| LlmError::RateLimited { retry_after_secs })?;
        Ok(permit)
    }

    /// A generation slot in `stream`, held until the permit drops.
    pub fn admit_stream(&self, stream: &StreamName) -> Result<SlotPermit<StreamName>, LlmError> {
        self.per_stream
            .try_acquire(stream)
            .ok_or(LlmError::StreamBusy)
    }

    /// Starts a reply and waits for its first piece (or failure).
    pub async fn start(&self, request: ChatRequest) -> Result<Generation, LlmError> {
        let backend = self.backend.as_ref().ok_or(LlmError::Disabled)?;
        Generation::start(backend.as_ref(), request, self.settings.timeouts).await
    }

    /// Whether a session may use `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        model == self.settings.model || self.settings.allowed_models.allows(model)
    }

    /// Forgets rate-limit state of clients that are quiet again.
    pub fn prune(&self) {
        self.rate.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_models_are_a_list_or_a_star() {
        let cases = [
            ("", "a", false),
            ("a, b", "b", true),
            ("a,b", "c", false),
            ("*", "anything", true),
            ("a,*", "z", true),
        ];
        for (raw, model, allowed) in cases {
            assert_eq!(
                AllowedModels::parse(raw).allows(model),
                allowed,
                "{raw} / {model}"
            );
        }
    }

    #[test]
    fn the_disabled_sentence_says_how_to_enable_the_model() {
        assert!(LlmError::Disabled
            .to_string()
            .contains("MALTEN_LLM_BASE_URL"));
        assert!(LlmError::Disabled.to_string().contains("OPENAI_API_KEY"));
    }
}
