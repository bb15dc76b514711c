//! The process's one reader of the change log for streams: it renders each change once and
//! broadcasts it to every subscriber through a bounded in-memory ring, so that subscribers cost
//! no database connection of their own.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use diesel_async::AsyncPgConnection;
use secrecy::ExposeSecret;
use tokio::sync::{broadcast, watch};

use crate::config::{RealtimeSettings, Settings};
use crate::db::{self, ChangeFeed, ChangeRecord, ConnectError, DbPool, Snapshot};
use crate::workers::{Stopped, Worker, WorkerJob, spawn_worker};

use super::RealtimeError;
use super::event::{StreamEvent, render};

/// Changes the hub reads at a time.
const BATCH: i64 = 500;

/// The broadcast side of the streams, shared by the hub's worker and the HTTP handlers.
#[derive(Clone)]
pub struct EventHub(Arc<Shared>);

struct Shared {
    sender: broadcast::Sender<Arc<StreamEvent>>,
    /// The last change broadcast; stored before it is sent (see [`EventHub::subscribe`]).
    head: AtomicI64,
    subscribers: AtomicUsize,
    closing: watch::Sender<bool>,
    pool: DbPool,
    settings: RealtimeSettings,
}

/// A subscriber's place in the broadcast: what it receives from now on, and the position from
/// which nothing before it is still to come.
pub struct Listener {
    /// Every change broadcast after `position`, or a lag error.
    pub receiver: broadcast::Receiver<Arc<StreamEvent>>,
    /// The head of the broadcast when it subscribed.
    pub position: i64,
}

/// Counts an open stream; dropping it frees the slot.
pub struct SubscriberSlot(EventHub);

impl Drop for SubscriberSlot {
    fn drop(&mut self) {
        self.0.0.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

impl EventHub {
    /// A hub starting at change-log position `head` (the end of the log).
    fn new(head: i64, pool: DbPool, settings: &RealtimeSettings) -> Self {
        let (sender, _) = broadcast::channel(settings.buffer.max(16));
        let (closing, _) = watch::channel(false);
        Self(Arc::new(Shared {
            sender,
            head: AtomicI64::new(head),
            subscribers: AtomicUsize::new(0),
            closing,
            pool,
            settings: settings.clone(),
        }))
    }

    /// Joins the broadcast. Every change after the returned position reaches the receiver: the
    /// hub stores a change's position before sending it, so a position read after subscribing
    /// is never ahead of what the receiver gets.
    pub fn subscribe(&self) -> Listener {
        let receiver = self.0.sender.subscribe();
        let position = self.0.head.load(Ordering::Acquire);
        Listener { receiver, position }
    }

    /// Takes a subscriber slot, or `None` when `realtime.max_subscribers` are open.
    pub fn take_slot(&self) -> Option<SubscriberSlot> {
        let limit = self.0.settings.max_subscribers;
        self.0
            .subscribers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < limit).then_some(open + 1)
            })
            .ok()
            .map(|_| SubscriberSlot(self.clone()))
    }

    /// Open streams.
    pub fn subscribers(&self) -> usize {
        self.0.subscribers.load(Ordering::Acquire)
    }

    /// Tells every stream to end now (the node is shutting down).
    pub fn close(&self) {
        self.0.closing.send_replace(true);
    }

    /// Becomes true when the node shuts down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.0.closing.subscribe()
    }

    /// The pool streams read their backlog with.
    pub fn pool(&self) -> &DbPool {
        &self.0.pool
    }

    /// The stream settings.
    pub fn settings(&self) -> &RealtimeSettings {
        &self.0.settings
    }

    fn publish(&self, events: Vec<StreamEvent>) {
        for event in events {
            self.0.head.store(event.seq, Ordering::Release);
            // No subscriber is not an error: the event is in the change log for later ones.
            let _ = self.0.sender.send(Arc::new(event));
        }
    }
}

/// Reads `changes`' rows and renders them.
pub async fn load_and_render(
    conn: &mut AsyncPgConnection,
    changes: &[ChangeRecord],
) -> diesel::QueryResult<Vec<StreamEvent>> {
    let snapshot = Snapshot::load(conn, changes).await?;
    Ok(render(changes, &snapshot))
}

/// Starts the hub at the end of the change log, and its worker.
pub async fn start_hub(
    settings: &Settings,
    pool: DbPool,
) -> Result<(EventHub, Worker), RealtimeError> {
    let url = settings.database.url.expose_secret().to_owned();
    let mut conn = db::establish(&url).await.map_err(ConnectError::from)?;
    let head = db::snapshot_position(&mut conn)
        .await
        .map_err(ConnectError::from)?;
    let hub = EventHub::new(head, pool, &settings.realtime);
    let worker = spawn_worker(
        "kg-realtime",
        HubJob {
            hub: hub.clone(),
            url,
        },
    )?;
    Ok((hub, worker))
}

struct HubJob {
    hub: EventHub,
    url: String,
}

impl WorkerJob for HubJob {
    type Error = ConnectError;

    async fn run(&mut self, mut stopped: Stopped) -> Result<(), Self::Error> {
        let mut conn = db::establish(&self.url).await?;
        // After an error, resumes after the last change broadcast: none is skipped or repeated.
        let head = self.hub.0.head.load(Ordering::Acquire);
        let mut feed = ChangeFeed::open(&self.url, head, BATCH).await?;
        while let Some(changes) = stopped.next_changes(&mut feed).await? {
            if !changes.is_empty() {
                self.hub
                    .publish(load_and_render(&mut conn, &changes).await?);
            }
        }
        Ok(())
    }

    fn finish(self) {
        self.hub.close();
    }
}
