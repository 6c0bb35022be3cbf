//! `session` requests on a `/ws` connection: create (with checked
//! settings), resume, status and destroy, and which session the connection
//! is bound to.

use malten_shared::protocol::{SessionRequest, SessionResponse, SessionSettings};

use super::dispatch::{Connection, NO_SESSION};
use crate::llm::DEFAULT_BOT_NAME;

impl Connection {
    /// Answers a `session` request, binding or unbinding this connection.
    pub(super) fn session(&mut self, request: SessionRequest) -> SessionResponse {
        let sessions = &self.llm.sessions;
        match request {
            SessionRequest::Create { settings } => {
                if let Err(err) = self.llm.ensure_enabled() {
                    return SessionResponse::failed(err.to_string());
                }
                if let Err(err) = self.rate_limits.check(self.client) {
                    return SessionResponse::failed(err.to_string());
                }
                let settings = match self.effective_settings(settings) {
                    Ok(settings) => settings,
                    Err(error) => return SessionResponse::failed(error),
                };
                match sessions.create(settings) {
                    Ok(id) => {
                        self.current = Some(id.clone());
                        tracing::debug!(sessions = sessions.len(), "session created");
                        SessionResponse {
                            session_id: Some(id),
                            ..SessionResponse::ok()
                        }
                    }
                    Err(err) => SessionResponse::failed(err.to_string()),
                }
            }
            SessionRequest::Resume { session_id } => match sessions.resume(&session_id) {
                Ok(()) => {
                    self.current = Some(session_id);
                    SessionResponse::ok()
                }
                Err(err) => SessionResponse::failed(err.to_string()),
            },
            SessionRequest::Status { session_id } => {
                let Some(id) = session_id.or_else(|| self.current.clone()) else {
                    return SessionResponse::failed(NO_SESSION);
                };
                match sessions.status(&id) {
                    Ok((status, settings)) => SessionResponse {
                        status: Some(status),
                        settings: Some(settings),
                        ..SessionResponse::ok()
                    },
                    Err(err) => SessionResponse::failed(err.to_string()),
                }
            }
            SessionRequest::Destroy { session_id } => {
                let Some(current) = self.current.clone() else {
                    return SessionResponse::failed(NO_SESSION);
                };
                if session_id.is_some_and(|id| id != current) {
                    return SessionResponse::failed(
                        "only the session this connection is using can be destroyed",
                    );
                }
                self.current = None;
                match sessions.destroy(&current) {
                    Ok(()) => SessionResponse::ok(),
                    Err(err) => SessionResponse::failed(err.to_string()),
                }
            }
        }
    }

    /// The settings a new session gets: the request's, checked, with the
    /// server's defaults for what it leaves out.
    fn effective_settings(&self, requested: SessionSettings) -> Result<SessionSettings, String> {
        let model = match requested.model.as_deref().map(str::trim) {
            None | Some("") => self.llm.settings.model.clone(),
            Some(model) if self.llm.allows_model(model) => model.to_owned(),
            Some(_) => {
                return Err(format!(
                    "`settings.model` is not offered by this server; leave it out to use {}",
                    self.llm.settings.model
                ))
            }
        };
        if let Some(temperature) = requested.temperature {
            if !(0.0..=2.0).contains(&temperature) {
                return Err("`settings.temperature` must be between 0 and 2".into());
            }
        }
        let name = match requested.name.as_deref().map(str::trim) {
            None => DEFAULT_BOT_NAME.to_owned(),
            Some(name)
                if (1..=64).contains(&name.chars().count())
                    && !name.chars().any(char::is_control) =>
            {
                name.to_owned()
            }
            Some(_) => return Err("`settings.name` must be 1 to 64 printable characters".into()),
        };
        Ok(SessionSettings {
            model: Some(model),
            temperature: requested.temperature,
            seed: requested.seed,
            name: Some(name),
        })
    }
}
