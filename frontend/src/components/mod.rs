//! Pieces of the screens, one per file.

pub mod composer;
pub mod dictate;
pub mod message;
pub mod offline_notice;
pub mod passphrase;
pub mod privacy_badge;
pub mod share;
pub mod shortcuts;
pub mod transcript;
