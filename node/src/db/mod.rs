//! The PostgreSQL data layer: pool, embedded migrations, row types and the change log.

mod change_feed;
mod change_log;
mod migrations;
mod models;
mod pool;
pub(crate) mod schema;

pub use change_feed::ChangeFeed;
pub(crate) use change_log::Outbox;
pub use change_log::{
    Change, ChangeEntity, ChangeOperation, ChangeRecord, read_changes, snapshot_position,
};
pub use migrations::{MigrationError, applied_versions, embedded_versions, revert, run_pending};
pub use models::{DbArtifact, DbConvergence, DbDimension, DbRelationship};
pub use pool::{ConnectError, DbConn, DbPool, connect, ensure_database_exists, establish};

/// The current time at PostgreSQL's precision (microseconds), so that the timestamps a write
/// answers with are the ones every later read returns.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
