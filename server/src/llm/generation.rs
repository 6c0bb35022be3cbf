//! One reply being generated: its deadlines and its length cap.
//!
//! [`Generation::start`] resolves when the first piece of the reply has
//! arrived, so a caller can still answer an immediate failure or timeout with
//! a proper error status before committing to a streamed `200`. After that,
//! [`Generation::next`] yields the pieces until the reply ends, fails, runs
//! past the total deadline, or reaches 1024 characters: a stored reply is a
//! message and obeys the same limit, so generation stops there (dropping the
//! backend's response, which closes the request) and the reply is cut at a
//! character boundary.

use std::time::Duration;

use futures_util::StreamExt;
use malten_shared::limits::MAX_MESSAGE_CHARS;
use tokio::time::{timeout_at, Instant};

use super::backend::{ChatBackend, ChatRequest, Deltas};
use super::{LlmError, ProviderFailure};

/// How long a reply may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From sending the request to the first piece of the reply.
    pub first_token: Duration,
    /// From sending the request to the end of the reply.
    pub total: Duration,
}

/// A reply whose first piece has arrived.
pub struct Generation {
    deltas: Deltas,
    /// The first piece, handed out by the first call to `next`.
    first: Option<String>,
    deadline: Instant,
    total: Duration,
    text: String,
    chars: usize,
    finished: bool,
}

impl Generation {
    /// Sends `request` and waits for the first piece, at most until the
    /// first-token deadline.
    pub async fn start(
        backend: &dyn ChatBackend,
        request: ChatRequest,
        timeouts: Timeouts,
    ) -> Result<Self, LlmError> {
        let started = Instant::now();
        let deadline = started + timeouts.total;
        let first_deadline = (started + timeouts.first_token).min(deadline);
        let first = async {
            let mut deltas = backend.stream_chat(request).await?;
            match deltas.next().await {
                Some(Ok(first)) => Ok((deltas, first)),
                Some(Err(err)) => Err(err),
                None => Err(LlmError::Provider(ProviderFailure::Empty)),
            }
        };
        let (deltas, first) = timeout_at(first_deadline, first).await.map_err(|_| {
            if first_deadline == deadline {
                LlmError::TotalTimeout {
                    secs: whole_secs(timeouts.total),
                }
            } else {
                LlmError::FirstTokenTimeout {
                    secs: whole_secs(timeouts.first_token),
                }
            }
        })??;
        Ok(Self {
            deltas,
            first: Some(first),
            deadline,
            total: timeouts.total,
            text: String::new(),
            chars: 0,
            finished: false,
        })
    }

    /// The next piece of the reply, as it will be stored (cut to fit the
    /// cap); `None` once the reply is complete.
    pub async fn next(&mut self) -> Option<Result<String, LlmError>> {
        if self.finished {
            return None;
        }
        let piece = match self.first.take() {
            Some(first) => first,
            None => match timeout_at(self.deadline, self.deltas.next()).await {
                Ok(Some(Ok(piece))) => piece,
                Ok(None) => return self.finish(None),
                Ok(Some(Err(err))) => return self.finish(Some(Err(err))),
                Err(_) => {
                    let secs = whole_secs(self.total);
                    return self.finish(Some(Err(LlmError::TotalTimeout { secs })));
                }
            },
        };
        let accepted = self.accept(&piece);
        if self.chars >= MAX_MESSAGE_CHARS {
            // Dropping the response closes the request: stop paying for tokens.
            self.deltas = futures_util::stream::empty().boxed();
            self.finished = true;
        }
        if accepted.is_empty() {
            return self.finish(None);
        }
        Some(Ok(accepted))
    }

    fn finish(
        &mut self,
        last: Option<Result<String, LlmError>>,
    ) -> Option<Result<String, LlmError>> {
        self.finished = true;
        last
    }

    /// Appends as much of `piece` as fits under the cap; returns that part.
    fn accept(&mut self, piece: &str) -> String {
        let room = MAX_MESSAGE_CHARS - self.chars;
        let end = piece
            .char_indices()
            .nth(room)
            .map_or(piece.len(), |(index, _)| index);
        let accepted = &piece[..end];
        self.chars += accepted.chars().count();
        self.text.push_str(accepted);
        accepted.to_owned()
    }

    /// Everything accepted so far: the whole reply once `next` returned `None`.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

fn whole_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures_util::future::BoxFuture;
    use futures_util::stream;
    use futures_util::FutureExt;

    use super::*;

    /// A backend that answers with canned pieces, optionally waiting before
    /// each one, and counts the requests it saw.
    #[derive(Clone, Default)]
    pub struct Canned {
        pub pieces: Vec<String>,
        pub pause: Duration,
        pub requests: Arc<std::sync::Mutex<Vec<ChatRequest>>>,
        pub started: Arc<AtomicUsize>,
    }

    impl Canned {
        pub fn new(pieces: &[&str]) -> Self {
            Self {
                pieces: pieces.iter().map(|piece| (*piece).to_owned()).collect(),
                ..Self::default()
            }
        }
    }

    impl ChatBackend for Canned {
        fn stream_chat(
            &self,
            request: ChatRequest,
        ) -> BoxFuture<'static, Result<Deltas, LlmError>> {
            self.requests.lock().unwrap().push(request);
            self.started.fetch_add(1, Ordering::SeqCst);
            let pieces = self.pieces.clone();
            let pause = self.pause;
            async move {
                let deltas = stream::iter(pieces).then(move |piece| async move {
                    tokio::time::sleep(pause).await;
                    Ok(piece)
                });
                Ok(deltas.boxed())
            }
            .boxed()
        }
    }

    const TIMEOUTS: Timeouts = Timeouts {
        first_token: Duration::from_secs(5),
        total: Duration::from_secs(20),
    };

    async fn collect(mut generation: Generation) -> (Vec<String>, Option<LlmError>, String) {
        let mut pieces = Vec::new();
        while let Some(piece) = generation.next().await {
            match piece {
                Ok(piece) => pieces.push(piece),
                Err(err) => return (pieces, Some(err), generation.into_text()),
            }
        }
        (pieces, None, generation.into_text())
    }

    fn request() -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: Vec::new(),
            max_tokens: 10,
            temperature: None,
            seed: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pieces_arrive_in_order_and_make_the_reply() {
        let backend = Canned::new(&["Hel", "lo"]);
        let generation = Generation::start(&backend, request(), TIMEOUTS)
            .await
            .unwrap();
        let (pieces, error, text) = collect(generation).await;
        assert_eq!(pieces, ["Hel", "lo"]);
        assert_eq!(error, None);
        assert_eq!(text, "Hello");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_backend_times_out_at_the_first_token_deadline() {
        let backend = Canned {
            pause: Duration::from_secs(6),
            ..Canned::new(&["late"])
        };
        let started = Instant::now();
        let err = Generation::start(&backend, request(), TIMEOUTS)
            .await
            .err()
            .unwrap();
        assert_eq!(err, LlmError::FirstTokenTimeout { secs: 5 });
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reply_is_abandoned_at_the_total_deadline() {
        let backend = Canned {
            pause: Duration::from_secs(3),
            ..Canned::new(&["a"; 10])
        };
        let generation = Generation::start(&backend, request(), TIMEOUTS)
            .await
            .unwrap();
        let (pieces, error, _) = collect(generation).await;
        assert_eq!(
            pieces.len(),
            6,
            "pieces at 3, 6, ... 18 s; the 7th is due after 20 s"
        );
        assert_eq!(error, Some(LlmError::TotalTimeout { secs: 20 }));
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_reply_is_a_provider_error() {
        let err = Generation::start(&Canned::new(&[]), request(), TIMEOUTS)
            .await
            .err()
            .unwrap();
        assert_eq!(err, LlmError::Provider(ProviderFailure::Empty));
    }

    #[tokio::test(start_paused = true)]
    async fn replies_are_cut_at_1024_characters_on_a_character_boundary() {
        let piece = "é😀".repeat(100); // 200 characters, multi-byte
        let pieces: Vec<&str> = std::iter::repeat_n(piece.as_str(), 10).collect();
        let generation = Generation::start(&Canned::new(&pieces), request(), TIMEOUTS)
            .await
            .unwrap();
        let (received, error, text) = collect(generation).await;
        assert_eq!(error, None);
        assert_eq!(text.chars().count(), MAX_MESSAGE_CHARS);
        assert_eq!(
            received.concat(),
            text,
            "partials add up to the stored reply"
        );
        assert_eq!(received.len(), 6, "generation stops at the cap");
    }
}
