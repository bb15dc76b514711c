//! The PostgreSQL data layer: pool, read routing over replicas, embedded migrations, row types
//! and the change log.

mod change_event;
mod change_feed;
mod change_log;
mod lsn;
mod migrations;
mod models;
mod pool;
mod reads;
mod replica_monitor;
mod routing;
pub(crate) mod schema;
mod snapshot;

pub use change_event::{ChangeEvent, EdgeChange, UndecodableChange};
pub use change_feed::ChangeFeed;
pub(crate) use change_log::Outbox;
pub use change_log::{ChangeOperation, ChangeRecord, read_changes, snapshot_position};
pub use lsn::{InvalidLsn, Lsn};
pub use migrations::{MigrationError, applied_versions, embedded_versions, revert, run_pending};
pub use models::{DbArtifact, DbContribution, DbConvergence, DbDimension, DbRelationship};
pub use pool::{ConnectError, DbConn, DbPool, connect, ensure_database_exists, establish};
pub use reads::{ContributionRecord, load_contributions, load_dimensions};
pub use replica_monitor::start_replica_monitor;
pub use routing::{ReadRouter, ReplicaState, ReplicaStatus};
pub use snapshot::{Snapshot, Tags};

/// The current time at PostgreSQL's precision (microseconds), so that the timestamps a write
/// answers with are the ones every later read returns.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// A closed-vocabulary value (a kind, a visibility) read back from its text column; a value this
/// version does not know is a deserialization error, as for any other column.
pub fn stored_value<T>(text: &str) -> diesel::QueryResult<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse()
        .map_err(|error: T::Err| diesel::result::Error::DeserializationError(Box::new(error)))
}
