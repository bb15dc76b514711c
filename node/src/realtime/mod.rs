//! Realtime: the change log served as Server-Sent Events, per convergence and node-wide.
//!
//! One [`EventHub`] per process tails the log and broadcasts each change, rendered once; each
//! stream replays the log from the client's `Last-Event-ID` and then follows the broadcast,
//! dropping by sequence number what it has already sent, so nothing is lost or repeated at the
//! seam between the two.

mod event;
mod hub;
mod routes;
mod subscription;

pub use event::EVENT_TYPES;
pub use hub::{EventHub, start_hub};
pub use routes::{EventsDoc, configure};

/// Why the stream hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// The database could not be reached.
    #[error(transparent)]
    Database(#[from] crate::db::ConnectError),
    /// Its thread could not be started.
    #[error("cannot start the stream hub: {0}")]
    Thread(#[from] std::io::Error),
}
