//! The change log: a transactional outbox that search, graph and federation projections tail.
//!
//! A write path collects its changes (and the dimension-counter deltas they imply) in an
//! [`Outbox`] and flushes it as the last step of its transaction. Flushing takes the
//! transaction-scoped advisory lock [`CHANGE_LOG_LOCK`] before it touches the counters or appends,
//! and the lock is held until commit, so sequence numbers are handed out in commit order: a
//! follower that has applied `seq = n` will never later see a committed row with `seq < n`.
//! Followers poll with [`read_changes`] from the last sequence they applied; the table's trigger
//! sends `NOTIFY change_log` at commit to wake them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Double, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::change_event::ChangeEvent;
use super::schema::change_log;

/// Key of the advisory lock that orders appends to the change log.
pub const CHANGE_LOG_LOCK: i64 = 0x6b67_6e6f_6465_0001;

/// Rows per multi-row INSERT, well below PostgreSQL's 65,535 bind parameters.
const INSERT_CHUNK: usize = 5_000;

/// What a write did to the row its change describes; the services' vocabulary for building a
/// [`ChangeEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOperation {
    /// It was created.
    Insert,
    /// It was changed.
    Update,
    /// It was deleted (artifacts: soft-deleted).
    Delete,
}

/// A change as stored, with its sequence number.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    /// Position in the log; strictly increasing in commit order.
    pub seq: i64,
    /// What happened.
    pub event: ChangeEvent,
    /// When the change was committed (transaction time).
    pub recorded_at: DateTime<Utc>,
    /// The writing transaction; its rows are contiguous in the log.
    pub transaction_id: i64,
}

/// A row of `change_log` as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = change_log, check_for_backend(diesel::pg::Pg))]
struct ChangeRow {
    seq: i64,
    entity: String,
    operation: String,
    entity_id: Uuid,
    convergence_id: Uuid,
    payload: serde_json::Value,
    recorded_at: DateTime<Utc>,
    transaction_id: i64,
}

impl ChangeRow {
    fn decode(self) -> QueryResult<ChangeRecord> {
        let event = ChangeEvent::decode(
            &self.entity,
            &self.operation,
            self.entity_id,
            self.convergence_id,
            self.payload,
        )
        .map_err(|error| diesel::result::Error::DeserializationError(Box::new(error)))?;
        Ok(ChangeRecord {
            seq: self.seq,
            event,
            recorded_at: self.recorded_at,
            transaction_id: self.transaction_id,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = change_log)]
struct NewChange {
    entity: &'static str,
    operation: &'static str,
    entity_id: Uuid,
    convergence_id: Uuid,
    payload: serde_json::Value,
}

/// Net change of one dimension counter.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CounterDelta {
    pub artifacts: i64,
    pub weight: f64,
}

/// Changes and counter deltas gathered by one write transaction, flushed at its end.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    changes: Vec<ChangeEvent>,
    counters: BTreeMap<(Uuid, String), CounterDelta>,
}

impl Outbox {
    /// Records a change.
    pub fn push(&mut self, change: ChangeEvent) {
        self.changes.push(change);
    }

    /// Counts a dimension set into (`sign = 1`) or out of (`sign = -1`) its convergence's counters.
    pub fn count_dimensions<'a>(
        &mut self,
        convergence_id: Uuid,
        tags: impl IntoIterator<Item = (&'a str, f64)>,
        sign: i64,
    ) {
        for (dimension, weight) in tags {
            let delta = self
                .counters
                .entry((convergence_id, dimension.to_owned()))
                .or_default();
            delta.artifacts += sign;
            delta.weight += sign as f64 * weight;
        }
    }

    /// Takes the lock, applies counter deltas and appends the changes. Call it last in the
    /// transaction, so the lock is held as briefly as possible.
    pub async fn flush(self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        if self.changes.is_empty() && self.counters.is_empty() {
            return Ok(());
        }
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<BigInt, _>(CHANGE_LOG_LOCK)
            .execute(conn)
            .await?;
        apply_counter_deltas(conn, &self.counters).await?;
        let rows: Vec<NewChange> = self
            .changes
            .iter()
            .map(|change| {
                let stored = change.stored();
                NewChange {
                    entity: stored.entity,
                    operation: stored.operation,
                    entity_id: stored.entity_id,
                    convergence_id: stored.convergence_id,
                    payload: stored.payload,
                }
            })
            .collect();
        for chunk in rows.chunks(INSERT_CHUNK) {
            diesel::insert_into(change_log::table)
                .values(chunk)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
}

/// Upserts all deltas in one statement, in key order (so concurrent writers cannot deadlock),
/// and drops counters that fall to zero.
async fn apply_counter_deltas(
    conn: &mut AsyncPgConnection,
    counters: &BTreeMap<(Uuid, String), CounterDelta>,
) -> QueryResult<()> {
    let changed: Vec<_> = counters
        .iter()
        .filter(|(_, d)| d.artifacts != 0 || d.weight != 0.0)
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let convergences: Vec<Uuid> = changed.iter().map(|((c, _), _)| *c).collect();
    let dimensions: Vec<&str> = changed.iter().map(|((_, d), _)| d.as_str()).collect();
    let counts: Vec<i64> = changed.iter().map(|(_, d)| d.artifacts).collect();
    let weights: Vec<f64> = changed.iter().map(|(_, d)| d.weight).collect();
    diesel::sql_query(
        "INSERT INTO dimension_counters (convergence_id, dimension, artifact_count, weight_sum) \
         SELECT c, d, n, w FROM unnest($1, $2, $3, $4) AS t(c, d, n, w) ORDER BY c, d \
         ON CONFLICT (convergence_id, dimension) DO UPDATE SET \
           artifact_count = dimension_counters.artifact_count + excluded.artifact_count, \
           weight_sum = dimension_counters.weight_sum + excluded.weight_sum",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(&convergences)
    .bind::<Array<Text>, _>(&dimensions)
    .bind::<Array<BigInt>, _>(&counts)
    .bind::<Array<Double>, _>(&weights)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "DELETE FROM dimension_counters WHERE artifact_count = 0 \
         AND (convergence_id, dimension) IN (SELECT * FROM unnest($1, $2))",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(&convergences)
    .bind::<Array<Text>, _>(&dimensions)
    .execute(conn)
    .await?;
    Ok(())
}

/// Reads the changes with `seq > after`, in order: about `limit` of them, never ending in the
/// middle of a transaction (the last transaction read is completed even past `limit`), so a
/// follower that applies what it reads at once never shows half a transaction.
pub async fn read_changes(
    conn: &mut AsyncPgConnection,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<ChangeRecord>> {
    let mut rows: Vec<ChangeRow> = change_log::table
        .filter(change_log::seq.gt(after))
        .order(change_log::seq.asc())
        .limit(limit)
        .select(ChangeRow::as_select())
        .load(conn)
        .await?;
    if let Some(last) = rows.last().filter(|_| rows.len() as i64 == limit) {
        let rest: Vec<ChangeRow> = change_log::table
            .filter(change_log::seq.gt(last.seq))
            .filter(change_log::transaction_id.eq(last.transaction_id))
            .order(change_log::seq.asc())
            .select(ChangeRow::as_select())
            .load(conn)
            .await?;
        rows.extend(rest);
    }
    rows.into_iter().map(ChangeRow::decode).collect()
}

/// The change-log position matching the snapshot of the current transaction: every change up to
/// it is visible, none after (sequence numbers are handed out in commit order). Read it first in
/// a `REPEATABLE READ` transaction that loads a follower's initial state, then follow the log
/// from it.
pub async fn snapshot_position(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    let position: Option<i64> = change_log::table
        .select(diesel::dsl::max(change_log::seq))
        .first(conn)
        .await?;
    Ok(position.unwrap_or(0))
}
