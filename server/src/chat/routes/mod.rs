//! The `/v1` handlers, one file per resource. Handlers are thin: check the
//! caller and the input, run SQL, publish live events, shape JSON.

pub mod apps;
pub mod channels;
pub mod events;
pub mod messages;
pub mod orgs;
pub mod participants;
pub mod token;
pub mod users;
