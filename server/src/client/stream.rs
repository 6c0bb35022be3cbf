//! Opening a stream the way the web app does: describe it, compare it with
//! the link (`docs/crypto.md` section 9a), unlock it, and only then read or
//! write.
//!
//! After [`Opened::open`] succeeded the stream is the one the link was made
//! for and, if it is encrypted, the key is the stream's: [`Opened::encode`]
//! then never produces plaintext for an encrypted stream, and
//! [`Opened::decode`] never shows a message as if it came from the stream
//! when it does not open under the key.

use std::time::{SystemTime, UNIX_EPOCH};

use malten_shared::crypto::{
    derive_key, open, seal, EncryptionParams, Plaintext, PlaintextKind, StreamKey,
};
use malten_shared::link::{Expectation, PinMismatch};
use malten_shared::wire::{Body, Cursor, Message, MessageKind, StreamInfo};
use malten_shared::StreamName;

use super::api::Api;
use super::passphrase::Sources;
use super::target::Target;
use super::ClientError;

/// A stream checked against its link and unlocked.
pub struct Opened {
    pub api: Api,
    pub stream: StreamName,
    /// The server's description; `None` for a stream that does not exist
    /// yet (plain links only: posting or subscribing creates it).
    pub info: Option<StreamInfo>,
    key: Option<StreamKey>,
    expectation: Expectation,
}

/// A message as the client shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: String,
    pub created: Cursor,
    pub nick: Option<String>,
    pub text: String,
    pub encrypted: bool,
    /// A prompt for or a reply from the language model.
    pub llm: bool,
}

impl Opened {
    /// Describes the stream, refuses it if it is not what the link says,
    /// and for an encrypted stream derives the key from the passphrase and
    /// tests it against the stream's key check.
    pub async fn open(
        target: &Target,
        passphrase_file: Option<&std::path::Path>,
    ) -> Result<Opened, ClientError> {
        let sources = Sources {
            link: target.link.secret.clone(),
            file: passphrase_file.map(Into::into),
        };
        let mut expectation = target.link.expectation();
        // A passphrase supplied any way means the user expects encryption:
        // never post in the clear what they meant to encrypt.
        if expectation == Expectation::Anything && sources.given() {
            expectation = Expectation::SomeEncrypted;
        }
        let api = Api::new(&target.base);
        let stream = target.link.stream.clone();
        let info = api.stream(&stream).await?;
        let key = match &info {
            None if expectation == Expectation::Anything
                || expectation == Expectation::Pinned(malten_shared::link::Pin::Plain) =>
            {
                None
            }
            None => return Err(ClientError::Gone(stream)),
            Some(info) => {
                expectation.check(info)?;
                match &info.encryption {
                    None => None,
                    Some(params) => Some(unlock(&stream, params, &sources).await?),
                }
            }
        };
        Ok(Opened {
            api,
            stream,
            info,
            key,
            expectation,
        })
    }

    pub fn encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// Describes the stream again (after a reconnect) and refuses it if it
    /// is no longer the one the link was made for: expired and made again.
    pub async fn recheck(&self) -> Result<(), ClientError> {
        match self.api.stream(&self.stream).await? {
            Some(info) => {
                self.expectation.check(&info)?;
                let same = match (&self.info, &info.encryption) {
                    (Some(old), Some(params)) => old.encryption.as_ref() == Some(params),
                    (Some(old), None) => old.encryption.is_none(),
                    (None, params) => params.is_none(),
                };
                if same {
                    Ok(())
                } else {
                    Err(PinMismatch::DifferentKey.into())
                }
            }
            // Gone, and a subscription will make it again as a plain
            // stream: fine only if a plain stream was what we had.
            None if self.key.is_none() => Ok(()),
            None => Err(ClientError::Gone(self.stream.clone())),
        }
    }

    /// What to post for `text`: an envelope in an encrypted stream, the
    /// text itself in a plain one.
    pub fn encode(&self, text: &str, nick: Option<&str>) -> Result<String, ClientError> {
        match &self.key {
            Some(key) => {
                let mut plain = Plaintext::new(text, PlaintextKind::Message, now_millis());
                if let Some(nick) = nick {
                    plain = plain.with_nick(nick);
                }
                Ok(seal(key, self.stream.as_str(), &plain)?)
            }
            None => {
                malten_shared::check_message_text(text)
                    .map_err(|err| ClientError::Usage(err.to_string()))?;
                Ok(text.to_owned())
            }
        }
    }

    /// A stored message as it is shown, or why it cannot be.
    pub fn decode(&self, message: &Message) -> Result<Shown, String> {
        let (text, nick, llm) = match (&self.key, &message.body) {
            (Some(key), Body::Envelope(envelope)) => {
                let plain = open(key, self.stream.as_str(), envelope)
                    .map_err(|err| format!("message {} does not open: {err}", message.id))?;
                let llm = plain.kind != PlaintextKind::Message;
                (plain.text, plain.nick, llm)
            }
            (None, Body::Text(text)) => (text.clone(), None, message.kind != MessageKind::Message),
            (Some(_), Body::Text(_)) => {
                return Err(format!(
                    "message {} is plain text in an encrypted stream: not shown",
                    message.id
                ))
            }
            (None, Body::Envelope(_)) => {
                return Err(format!(
                    "message {} is encrypted but the stream was plain: not shown",
                    message.id
                ))
            }
        };
        Ok(Shown {
            id: message.id.clone(),
            created: message.created,
            nick,
            text,
            encrypted: self.key.is_some(),
            llm,
        })
    }
}

/// The stream's key from the passphrase, or why not.
async fn unlock(
    stream: &StreamName,
    params: &EncryptionParams,
    sources: &Sources,
) -> Result<StreamKey, ClientError> {
    let kdf = params.kdf_params().map_err(|err| {
        ClientError::Protocol(format!("the stream's encryption parameters: {err}"))
    })?;
    let passphrase = {
        let sources = sources.clone();
        let name = stream.to_string();
        tokio::task::spawn_blocking(move || sources.get(&name))
            .await
            .map_err(|err| ClientError::Failed(err.to_string()))??
    };
    let Some(passphrase) = passphrase else {
        return Err(ClientError::NoPassphrase(stream.clone()));
    };
    // PBKDF2 with 600,000 iterations: a fraction of a second, off the
    // async threads.
    let params = params.clone();
    let key = tokio::task::spawn_blocking(move || {
        let key = derive_key(passphrase.expose(), &kdf)?;
        Ok::<_, ClientError>(params.verify_key(&key).then_some(key))
    })
    .await
    .map_err(|err| ClientError::Failed(err.to_string()))??;
    key.ok_or_else(|| ClientError::WrongPassphrase(stream.clone()))
}

/// The sender's clock, as `sent_at` wants it.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
