//! Where a stream's passphrase comes from, in this order: the link, the
//! file given by `--passphrase-file`, the `MALTEN_PASSPHRASE` environment
//! variable, a prompt on the terminal that does not echo.
//!
//! The client never prints or logs a passphrase and never puts one in the
//! arguments of a process; a link with the passphrase typed on a command
//! line is visible to other users (`ps`), which is why the other sources
//! exist.

use std::path::{Path, PathBuf};

use super::ClientError;

/// The environment variable read when neither the link nor a file has it.
pub const ENV_VAR: &str = "MALTEN_PASSPHRASE";

/// The sources a command was given.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The link's secret.
    pub link: Option<String>,
    pub file: Option<PathBuf>,
}

impl Sources {
    /// Whether the user supplied a passphrase some way other than the
    /// prompt: they then expect an encrypted stream.
    pub fn given(&self) -> bool {
        self.link.is_some() || self.file.is_some() || env_value().is_some()
    }

    /// The passphrase, asking on the terminal as the last resort. `None`
    /// when there is none and no terminal to ask on.
    pub fn get(&self, stream: &str) -> Result<Option<Passphrase>, ClientError> {
        if let Some(secret) = &self.link {
            return Ok(Some(Passphrase(secret.clone())));
        }
        if let Some(path) = &self.file {
            return read_file(path).map(Some);
        }
        if let Some(value) = env_value() {
            return Ok(Some(Passphrase(value)));
        }
        match rpassword::prompt_password(format!("Passphrase for #{stream}: ")) {
            Ok(typed) if !typed.is_empty() => Ok(Some(Passphrase(typed))),
            Ok(_) => Ok(None),
            // No terminal to ask on (a script, a pipe, a service).
            Err(_) => Ok(None),
        }
    }
}

fn env_value() -> Option<String> {
    std::env::var(ENV_VAR).ok().filter(|v| !v.is_empty())
}

/// The file's first line, without its line ending.
fn read_file(path: &Path) -> Result<Passphrase, ClientError> {
    let text = std::fs::read_to_string(path).map_err(ClientError::Passphrase)?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(ClientError::Usage(format!(
            "{} is empty: it must hold the passphrase on its first line",
            path.display()
        )));
    }
    Ok(Passphrase(line.to_owned()))
}

/// A passphrase: its `Debug` says nothing, so it cannot end up in a log.
pub struct Passphrase(String);

impl Passphrase {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(..)")
    }
}
