//! The persisted delivery queue.
//!
//! Activities are rows of `federation_activities`, for one inbox or for the followers of a
//! convergence. Each receiving inbox has a row in `federation_deliveries` recording how far it
//! has been served: a worker claims a due inbox (a lease, so that several node processes on one
//! database never deliver twice at once), sends its pending activities in order (one at a time,
//! or `federation.deliveries_in_flight` overlapping), and moves the mark over the successes.
//! A failure backs off exponentially ([`kg_federation::backoff`]), or as long as the peer's
//! `Retry-After` asks. A peer that does not answer is waited for without end; an activity that
//! a peer answers with a status that may change (401, 403, 408, 425, 5xx) is retried, and
//! parked ([`super::parked`]) after `federation.park_after_refusals` such answers in a row; one
//! it answers with a status that will not change (400, 404, 410, 422, ...; see
//! [`super::answers`]) is parked at once with that status. Either way the queue moves on, and
//! the mark never passes an activity that was neither delivered nor recorded as parked.
//! Nothing is lost on restart: the queue is only PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use activitypub_federation::activity_sending::SendActivityTask;
use activitypub_federation::config::{Data, FederationConfig};
use activitypub_federation::traits::Activity;
use async_trait::async_trait;
use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Interval, Text};
use diesel_async::RunQueryDsl;
use futures_util::StreamExt;
use kg_federation::backoff::Backoff;
use reqwest_middleware::reqwest::StatusCode;
use serde::Serialize;
use url::Url;

use crate::config::{FederationSettings, Settings};
use crate::db::schema::federation_deliveries;
use crate::workers::{Stopped, Worker, WorkerJob, spawn_worker};

use super::FederationContext;
use super::actors::{ActorRecord, find_local_actor};
use super::answers::{Refused, Verdict};
use super::backfill;
use super::error::FederationError;
use super::parked::{Failure, park};

/// A claimed inbox is left alone by other workers (of any process) for at least this long
/// without renewal; a stopping node hands its leases back.
const LEASE: Duration = Duration::from_secs(15);
/// Activities read per query.
const BATCH: i64 = 50;
/// A `Retry-After` is honoured up to this long (a peer asking for days is retried sooner).
const LONGEST_ASKED_PAUSE: Duration = Duration::from_secs(3600);

/// A queued activity as the sending layer wants it: serialised as stored.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
struct QueuedActivity {
    payload: serde_json::Value,
    #[serde(skip)]
    id: Url,
    #[serde(skip)]
    actor: Url,
}

#[async_trait]
impl Activity for QueuedActivity {
    type DataType = FederationContext;
    type Error = FederationError;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, _data: &Data<Self::DataType>) -> Result<(), Self::Error> {
        Err(FederationError::Rejected(
            "queued activities are only sent".to_owned(),
        ))
    }

    async fn receive(self, _data: &Data<Self::DataType>) -> Result<(), Self::Error> {
        Err(FederationError::Rejected(
            "queued activities are only sent".to_owned(),
        ))
    }
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    inbox: String,
    #[diesel(sql_type = BigInt)]
    delivered_through: i64,
    #[diesel(sql_type = Integer)]
    failures: i32,
    #[diesel(sql_type = Integer)]
    refusals: i32,
}

#[derive(QueryableByName)]
struct Pending {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    activity_url: String,
    #[diesel(sql_type = Text)]
    actor_path: String,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    payload: serde_json::Value,
}

/// Activities pending for an inbox after a mark: its own, and those of convergences it followed
/// before they were queued.
const PENDING: &str = "SELECT a.id, a.activity_url, a.actor_path, a.payload \
     FROM federation_activities a \
     WHERE a.id > $2 AND (a.inbox = $1 OR EXISTS ( \
         SELECT 1 FROM federation_followers f \
         WHERE f.convergence_id = a.convergence_id AND f.inbox = $1 AND f.since_activity < a.id)) \
     ORDER BY a.id LIMIT $3";

/// Claims every due inbox with pending work, leasing it to this worker.
const CLAIM: &str = "UPDATE federation_deliveries d SET next_attempt_at = now() + $1 \
     WHERE d.next_attempt_at <= now() AND NOT (d.inbox = ANY($2)) AND EXISTS ( \
         SELECT 1 FROM federation_activities a \
         WHERE a.id > d.delivered_through AND (a.inbox = d.inbox OR EXISTS ( \
             SELECT 1 FROM federation_followers f \
             WHERE f.convergence_id = a.convergence_id AND f.inbox = d.inbox \
               AND f.since_activity < a.id))) \
     RETURNING d.inbox, d.delivered_through, d.failures, d.refusals";

/// Starts the delivery queue's thread.
pub fn start_delivery(settings: &Settings) -> std::io::Result<Worker> {
    spawn_worker(
        "kg-delivery",
        DeliveryJob {
            settings: settings.clone(),
            running: Arc::default(),
        },
    )
}

struct DeliveryJob {
    settings: Settings,
    running: Arc<Mutex<HashSet<String>>>,
}

impl WorkerJob for DeliveryJob {
    type Error = FederationError;

    async fn run(&mut self, mut stopped: Stopped) -> Result<(), Self::Error> {
        let context = FederationContext::connect(&self.settings)?;
        let config = super::federation_config(context.clone()).await?;
        let poll = Duration::from_millis(context.settings.poll_ms.max(10));
        loop {
            // Queue backfill chunks first: their activities are then claimed below.
            let mut conn = context.pool.get().await?;
            while backfill::step(&mut conn, &context.urls).await? > 0 {}
            drop(conn);
            for claimed in self.claim(&context).await? {
                let worker = InboxWorker {
                    config: config.clone(),
                    running: self.running.clone(),
                    claimed,
                };
                tokio::spawn(worker.run());
            }
            if stopped.sleep(poll).await {
                return self.release_all(&context).await;
            }
        }
    }

    fn finish(self) {}
}

impl DeliveryJob {
    /// Hands back the leases of this node's workers, so that a restart resumes at once.
    async fn release_all(&self, context: &FederationContext) -> Result<(), FederationError> {
        let running: Vec<String> = self
            .running
            .lock()
            .map(|running| running.iter().cloned().collect())
            .unwrap_or_default();
        if running.is_empty() {
            return Ok(());
        }
        let mut conn = context.pool.get().await?;
        diesel::update(
            federation_deliveries::table.filter(federation_deliveries::inbox.eq_any(&running)),
        )
        .set(federation_deliveries::next_attempt_at.eq(Utc::now()))
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    async fn claim(&self, context: &FederationContext) -> Result<Vec<Claimed>, FederationError> {
        let busy: Vec<String> = self
            .running
            .lock()
            .map(|running| running.iter().cloned().collect())
            .unwrap_or_default();
        let mut conn = context.pool.get().await?;
        let claimed: Vec<Claimed> = diesel::sql_query(CLAIM)
            .bind::<Interval, _>(interval(lease(&context.settings)))
            .bind::<diesel::sql_types::Array<Text>, _>(busy)
            .load(&mut conn)
            .await?;
        if let Ok(mut running) = self.running.lock() {
            running.extend(claimed.iter().map(|c| c.inbox.clone()));
        }
        Ok(claimed)
    }
}

/// The lease of a claimed inbox: [`LEASE`], or three request timeouts when longer. The worker
/// renews it after every answer once a third of it has passed, so answers (each at most one
/// request timeout apart) never let it lapse while the inbox is served, however long a batch.
fn lease(settings: &FederationSettings) -> Duration {
    LEASE.max(Duration::from_secs(settings.request_timeout_secs).saturating_mul(3))
}

fn interval(duration: Duration) -> diesel::data_types::PgInterval {
    diesel::data_types::PgInterval::from_microseconds(
        i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
    )
}

/// Serves one claimed inbox until it has nothing pending or a delivery fails.
struct InboxWorker {
    config: FederationConfig<FederationContext>,
    running: Arc<Mutex<HashSet<String>>>,
    claimed: Claimed,
}

impl InboxWorker {
    async fn run(self) {
        let inbox = self.claimed.inbox.clone();
        if let Err(error) = self.drain().await {
            tracing::warn!(%inbox, %error, "delivery worker stopped");
        }
        if let Ok(mut running) = self.running.lock() {
            running.remove(&inbox);
        }
    }

    async fn drain(&self) -> Result<(), FederationError> {
        let data = self.config.to_request_data();
        let inbox_url = Url::parse(&self.claimed.inbox)
            .map_err(|error| FederationError::Invalid(format!("inbox URL: {error}")))?;
        let mut mark = self.claimed.delivered_through;
        let mut actors = HashMap::new();
        loop {
            let pending: Vec<Pending> = {
                let mut conn = data.pool.get().await?;
                diesel::sql_query(PENDING)
                    .bind::<Text, _>(&self.claimed.inbox)
                    .bind::<BigInt, _>(mark)
                    .bind::<BigInt, _>(BATCH)
                    .load(&mut conn)
                    .await?
            };
            if pending.is_empty() {
                return self.release().await;
            }
            for activity in &pending {
                cache_actor(&data, &mut actors, &activity.actor_path).await?;
            }
            // Sends start in queue order, `in_flight` at a time; results are taken in the same
            // order, so the mark only ever covers a contiguous run of successes. It moves once
            // per batch: after a crash at most one batch is sent again, and receivers ignore
            // activities they have already applied.
            let batch_start = mark;
            let in_flight = data.settings.deliveries_in_flight.max(1);
            let sends: Vec<_> = pending
                .iter()
                .map(|activity| async {
                    let outcome = send(&data, &actors, &inbox_url, activity).await;
                    (activity.id, outcome)
                })
                .collect();
            let mut results = futures_util::stream::iter(sends).buffered(in_flight);
            let mut failure = None;
            let mut renewed = Instant::now();
            while let Some((id, outcome)) = results.next().await {
                if renewed.elapsed() >= lease(&data.settings) / 3 {
                    self.renew().await?;
                    renewed = Instant::now();
                }
                match outcome {
                    Ok(()) => mark = id,
                    Err(error) => {
                        failure = Some((id, error));
                        break;
                    }
                }
            }
            drop(results);
            // The head's failure counts restart once this drain moved the mark at all (a
            // delivery or a parked activity); a success is recorded only for deliveries.
            let progressed = mark > self.claimed.delivered_through;
            if mark > batch_start {
                self.delivered(mark).await?;
            }
            let Some((id, error)) = failure else {
                continue;
            };
            match Verdict::of(&error) {
                Verdict::Permanent { status } => {
                    self.given_up(id, status, &error, progressed).await?;
                    mark = id;
                }
                Verdict::Retry { refused, after } => {
                    return self.failed(id, &error, progressed, refused, after).await;
                }
            }
        }
    }

    async fn delivered(&self, mark: i64) -> Result<(), FederationError> {
        let mut conn = self.config.pool.get().await?;
        diesel::update(federation_deliveries::table.find(&self.claimed.inbox))
            .set((
                federation_deliveries::delivered_through.eq(mark),
                federation_deliveries::failures.eq(0),
                federation_deliveries::refusals.eq(0),
                federation_deliveries::last_error.eq(None::<String>),
                federation_deliveries::last_success_at.eq(Some(Utc::now())),
                federation_deliveries::next_attempt_at
                    .eq(Utc::now() + lease(&self.config.settings)),
                federation_deliveries::updated_at.eq(Utc::now()),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Extends the lease while a batch is being sent.
    async fn renew(&self) -> Result<(), FederationError> {
        let until = Utc::now() + lease(&self.config.settings);
        let mut conn = self.config.pool.get().await?;
        diesel::update(federation_deliveries::table.find(&self.claimed.inbox))
            .set(federation_deliveries::next_attempt_at.eq(until))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    async fn release(&self) -> Result<(), FederationError> {
        let mut conn = self.config.pool.get().await?;
        diesel::update(federation_deliveries::table.find(&self.claimed.inbox))
            .set(federation_deliveries::next_attempt_at.eq(Utc::now()))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    /// Consecutive failures and refusals of the head of the queue so far: restarted when this
    /// drain moved the mark (the head is another activity now).
    fn head_counts(&self, progressed: bool) -> (i32, i32) {
        if progressed {
            (0, 0)
        } else {
            (self.claimed.failures, self.claimed.refusals)
        }
    }

    /// Parks `activity`, which the peer cannot accept however often it is sent, with the
    /// status it answered.
    async fn given_up(
        &self,
        activity: i64,
        status: Option<StatusCode>,
        error: &FederationError,
        progressed: bool,
    ) -> Result<(), FederationError> {
        let (failures, _) = self.head_counts(progressed);
        let message = excerpt(error);
        tracing::warn!(inbox = %self.claimed.inbox, activity, ?status, error = %message, "activity parked: the peer cannot accept it");
        let mut conn = self.config.pool.get().await?;
        let failure = Failure {
            attempts: failures.saturating_add(1),
            status: status.map(|status| i32::from(status.as_u16())),
            error: &message,
        };
        park(&mut conn, &self.claimed.inbox, activity, &failure).await
    }

    /// Records the failure to deliver `activity`, the head of the queue, and parks it once the
    /// peer has refused it often enough; otherwise schedules the next attempt.
    async fn failed(
        &self,
        activity: i64,
        error: &FederationError,
        progressed: bool,
        refused: bool,
        asked_pause: Option<Duration>,
    ) -> Result<(), FederationError> {
        let settings = &self.config.settings;
        let (failures, refusals) = self.head_counts(progressed);
        let failures = failures.saturating_add(1);
        let refusals = refusals.saturating_add(i32::from(refused));
        let message = excerpt(error);
        let mut conn = self.config.pool.get().await?;
        if u32::try_from(refusals).unwrap_or(0) >= settings.park_after_refusals.max(1) {
            tracing::warn!(inbox = %self.claimed.inbox, activity, refusals, error = %message, "activity parked: the peer keeps refusing it");
            let failure = Failure {
                attempts: refusals,
                status: Refused::of(error).map(|refused| i32::from(refused.status.as_u16())),
                error: &message,
            };
            return park(&mut conn, &self.claimed.inbox, activity, &failure).await;
        }
        let backoff = Backoff {
            base: Duration::from_millis(settings.retry_base_ms),
            cap: Duration::from_secs(settings.retry_max_secs),
        };
        let delay = backoff
            .delay(u32::try_from(failures).unwrap_or(u32::MAX))
            .max(asked_pause.unwrap_or_default().min(LONGEST_ASKED_PAUSE));
        tracing::warn!(inbox = %self.claimed.inbox, failures, refusals, retry_in = ?delay, error = %message, "delivery failed");
        diesel::update(federation_deliveries::table.find(&self.claimed.inbox))
            .set((
                federation_deliveries::failures.eq(failures),
                federation_deliveries::refusals.eq(refusals),
                federation_deliveries::last_error.eq(Some(message)),
                federation_deliveries::next_attempt_at.eq(Utc::now() + delay),
                federation_deliveries::updated_at.eq(Utc::now()),
            ))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}

/// A failure as stored for the administrator: bounded in length.
fn excerpt(error: &FederationError) -> String {
    error.to_string().chars().take(1000).collect()
}

/// Loads the local actor at `path` into `actors` (cached for one drain; `None` once gone).
async fn cache_actor(
    data: &Data<FederationContext>,
    actors: &mut HashMap<String, Option<ActorRecord>>,
    path: &str,
) -> Result<(), FederationError> {
    if !actors.contains_key(path) {
        let mut conn = data.pool.get().await?;
        let actor = find_local_actor(&mut conn, &data.urls, &data.urls.url(path)).await?;
        actors.insert(path.to_owned(), actor);
    }
    Ok(())
}

/// Signs `activity` with its actor's key (from `actors`) and posts it to `inbox`. Any answer
/// but a 2xx is an error ([`super::answers`]); an activity whose actor is gone cannot be signed
/// and fails as invalid (recorded, not retried).
async fn send(
    data: &Data<FederationContext>,
    actors: &HashMap<String, Option<ActorRecord>>,
    inbox: &Url,
    activity: &Pending,
) -> Result<(), FederationError> {
    let Some(Some(actor)) = actors.get(&activity.actor_path) else {
        return Err(FederationError::Invalid(format!(
            "its actor {} no longer exists on this node",
            activity.actor_path
        )));
    };
    let queued = QueuedActivity {
        payload: activity.payload.clone(),
        id: Url::parse(&activity.activity_url)
            .map_err(|error| FederationError::Invalid(format!("activity URL: {error}")))?,
        actor: actor.url().clone(),
    };
    let tasks = SendActivityTask::prepare(&queued, actor, vec![inbox.clone()], data).await?;
    for task in tasks {
        task.sign_and_send(data).await?;
    }
    Ok(())
}
