//! Whole screens of the app.

pub mod explore;
