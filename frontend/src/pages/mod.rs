//! Whole screens of the app.

pub mod create;
pub mod explore;
pub mod stream;
