//! The `/ws` sessions: who the bot is, how it samples, what was said.
//!
//! A session outlives the connection that created it: a client that
//! reconnects sends `resume` with the session id (128 random bits, so the id
//! is the only credential) and carries on with the same history. A session
//! unused for the idle time (`--llm-session-idle-secs`) is forgotten; the
//! check happens on every access, so expiry never depends on when the purge
//! task last ran (the task only frees memory). A session that is generating
//! a reply is never idle.
//!
//! The history is trimmed to the context budget as it grows: older turns
//! could never be sent to the model again, so keeping them would only cost
//! memory. Together with `--llm-max-sessions` this bounds what sessions hold.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use malten_shared::protocol::{SessionSettings, SessionStatus};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::backend::{ChatMessage, Role};

/// Why a session request failed. The sentences are sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("the session has expired or does not exist; create a new one")]
    NotFound,
    #[error("the session is still processing the prior request; wait for its reply")]
    Busy,
    #[error("the server holds its maximum of {0} sessions; try again later")]
    TooMany(usize),
}

/// One session's state.
#[derive(Debug)]
struct Session {
    /// The settings in effect, defaults filled in.
    settings: SessionSettings,
    history: VecDeque<ChatMessage>,
    history_chars: usize,
    processing: bool,
    last_used: Instant,
}

/// A turn in progress: what the model needs, taken from the session.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub settings: SessionSettings,
    pub history: Vec<ChatMessage>,
}

/// Every session on the server.
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    max_sessions: usize,
    history_chars: usize,
}

impl Sessions {
    pub fn new(idle: Duration, max_sessions: usize, history_chars: usize) -> Self {
        Self {
            map: Mutex::default(),
            idle,
            max_sessions,
            history_chars,
        }
    }

    pub fn idle_time(&self) -> Duration {
        self.idle
    }

    /// Starts a session with `settings` (already validated, defaults filled).
    pub fn create(&self, settings: SessionSettings) -> Result<String, SessionError> {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= self.max_sessions {
            self.purge_locked(&mut map, now);
            if map.len() >= self.max_sessions {
                return Err(SessionError::TooMany(self.max_sessions));
            }
        }
        let id = crate::store::random_id();
        map.insert(
            id.clone(),
            Session {
                settings,
                history: VecDeque::new(),
                history_chars: 0,
                processing: false,
                last_used: now,
            },
        );
        Ok(id)
    }

    /// Marks the session used (for `resume`).
    pub fn resume(&self, id: &str) -> Result<(), SessionError> {
        self.with_live(id, |session| {
            session.last_used = Instant::now();
        })
    }

    /// The session's status and settings. Asking does not count as use.
    pub fn status(&self, id: &str) -> Result<(SessionStatus, SessionSettings), SessionError> {
        self.with_live(id, |session| {
            let status = if session.processing {
                SessionStatus::Processing
            } else {
                SessionStatus::Idle
            };
            (status, session.settings.clone())
        })
    }

    /// Forgets the session.
    pub fn destroy(&self, id: &str) -> Result<(), SessionError> {
        self.with_live(id, |_| ())?;
        self.lock().remove(id);
        Ok(())
    }

    /// Starts a turn: the session becomes `processing` until [`end_turn`].
    ///
    /// [`end_turn`]: Sessions::end_turn
    pub fn begin_turn(&self, id: &str) -> Result<Turn, SessionError> {
        self.with_live(id, |session| {
            if session.processing {
                return Err(SessionError::Busy);
            }
            session.processing = true;
            session.last_used = Instant::now();
            Ok(Turn {
                settings: session.settings.clone(),
                history: session.history.iter().cloned().collect(),
            })
        })?
    }

    /// Ends a turn. On success the prompt and reply join the history. A
    /// session destroyed meanwhile stays destroyed.
    pub fn end_turn(&self, id: &str, exchange: Option<(String, String)>) {
        let mut map = self.lock();
        let Some(session) = map.get_mut(id) else {
            return;
        };
        session.processing = false;
        session.last_used = Instant::now();
        if let Some((prompt, reply)) = exchange {
            for turn in [
                ChatMessage::new(Role::User, prompt),
                ChatMessage::new(Role::Assistant, reply),
            ] {
                session.history_chars += turn.chars();
                session.history.push_back(turn);
            }
            while session.history_chars > self.history_chars {
                let Some(oldest) = session.history.pop_front() else {
                    break;
                };
                session.history_chars -= oldest.chars();
            }
        }
    }

    /// Runs `f` on a session that exists and has not expired; an expired
    /// session is removed on the spot.
    fn with_live<T>(&self, id: &str, f: impl FnOnce(&mut Session) -> T) -> Result<T, SessionError> {
        let now = Instant::now();
        let mut map = self.lock();
        let session = map.get_mut(id).ok_or(SessionError::NotFound)?;
        if self.expired(session, now) {
            map.remove(id);
            return Err(SessionError::NotFound);
        }
        Ok(f(session))
    }

    fn expired(&self, session: &Session, now: Instant) -> bool {
        !session.processing && session.last_used + self.idle <= now
    }

    /// Removes every expired session.
    pub fn purge(&self, now: Instant) {
        let mut map = self.lock();
        self.purge_locked(&mut map, now);
    }

    fn purge_locked(&self, map: &mut HashMap<String, Session>, now: Instant) {
        let before = map.len();
        map.retain(|_, session| !self.expired(session, now));
        let expired = before - map.len();
        if expired > 0 {
            tracing::debug!(expired, "idle sessions forgotten");
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Purges expired sessions every so often until the task is aborted.
pub fn spawn_purger(llm: Arc<super::Llm>) -> JoinHandle<()> {
    let every = llm
        .sessions
        .idle_time()
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            llm.sessions.purge(Instant::now());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(60);

    fn settings() -> SessionSettings {
        SessionSettings {
            model: Some("m".into()),
            temperature: Some(0.8),
            seed: Some(1234),
            name: Some("Alice".into()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_session_is_idle_with_its_settings() {
        let sessions = Sessions::new(IDLE, 10, 1000);
        let id = sessions.create(settings()).unwrap();
        assert_eq!(id.len(), 22, "128 bits, base64url");
        assert_eq!(
            sessions.status(&id).unwrap(),
            (SessionStatus::Idle, settings())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_session_expires_and_then_cannot_be_resumed() {
        let sessions = Sessions::new(IDLE, 10, 1000);
        let id = sessions.create(settings()).unwrap();
        tokio::time::advance(IDLE - Duration::from_secs(1)).await;
        sessions.resume(&id).unwrap();
        tokio::time::advance(IDLE - Duration::from_secs(1)).await;
        sessions.resume(&id).expect("resuming counts as use");
        tokio::time::advance(IDLE).await;
        assert_eq!(sessions.resume(&id), Err(SessionError::NotFound));
        assert!(sessions.is_empty(), "the expired session was removed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_processing_session_never_expires_and_refuses_a_second_turn() {
        let sessions = Sessions::new(IDLE, 10, 1000);
        let id = sessions.create(settings()).unwrap();
        sessions.begin_turn(&id).unwrap();
        assert_eq!(sessions.begin_turn(&id), Err(SessionError::Busy));
        tokio::time::advance(IDLE * 3).await;
        sessions.purge(Instant::now());
        assert_eq!(sessions.status(&id).unwrap().0, SessionStatus::Processing);
        sessions.end_turn(&id, None);
        assert_eq!(sessions.status(&id).unwrap().0, SessionStatus::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn finished_turns_build_the_history_within_the_budget() {
        let sessions = Sessions::new(IDLE, 10, 9);
        let id = sessions.create(settings()).unwrap();
        for (prompt, reply) in [("aaa", "bbb"), ("cc", "dd")] {
            sessions.begin_turn(&id).unwrap();
            sessions.end_turn(&id, Some((prompt.into(), reply.into())));
        }
        sessions.begin_turn(&id).unwrap();
        sessions.end_turn(&id, None);
        let history = sessions.begin_turn(&id).unwrap().history;
        let texts: Vec<_> = history.iter().map(|t| t.content.as_str()).collect();
        assert_eq!(texts, ["bbb", "cc", "dd"], "oldest dropped to fit 9 chars");
        assert_eq!(history[0].role, Role::Assistant);
    }

    #[tokio::test(start_paused = true)]
    async fn destroy_forgets_and_a_late_turn_end_does_not_revive() {
        let sessions = Sessions::new(IDLE, 10, 1000);
        let id = sessions.create(settings()).unwrap();
        sessions.begin_turn(&id).unwrap();
        sessions.destroy(&id).unwrap();
        sessions.end_turn(&id, Some(("p".into(), "r".into())));
        assert_eq!(sessions.status(&id), Err(SessionError::NotFound));
        assert_eq!(sessions.destroy(&id), Err(SessionError::NotFound));
    }

    #[tokio::test(start_paused = true)]
    async fn the_session_cap_counts_only_live_sessions() {
        let sessions = Sessions::new(IDLE, 2, 1000);
        sessions.create(settings()).unwrap();
        sessions.create(settings()).unwrap();
        assert_eq!(sessions.create(settings()), Err(SessionError::TooMany(2)));
        tokio::time::advance(IDLE).await;
        sessions
            .create(settings())
            .expect("expired sessions make room");
        assert_eq!(sessions.len(), 1);
    }
}
