//! One open stream: it replays the change log after the client's position, then follows the
//! hub's broadcast, sending each change once, in order, if the caller may see it.

use std::collections::VecDeque;
use std::sync::Arc;

use actix_web_lab::sse;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, interval_at};
use uuid::Uuid;

use crate::auth::{Caller, caller_from_secret};
use crate::db::read_changes;
use crate::error::Error;

use super::event::StreamEvent;
use super::hub::{EventHub, Listener, SubscriberSlot, load_and_render};

/// Changes replayed per database round trip.
const REPLAY_PAGE: i64 = 500;

/// Which events a stream carries.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this convergence's (a relationship: either end's).
    pub convergence: Option<Uuid>,
    /// Only these types.
    pub types: Option<Vec<&'static str>>,
}

/// Who reads the stream.
pub struct Reader {
    /// What the caller may read.
    pub caller: Caller,
    /// The token it came with, checked again at every heartbeat so that revoking it ends the
    /// stream.
    pub secret: Option<String>,
}

enum Phase {
    /// Reading the change log after `position`.
    Replaying,
    /// Following the broadcast; `delivered` once a broadcast event has been taken, after which
    /// falling behind the ring means the client reads too slowly.
    Live { delivered: bool },
}

/// The state of one stream, polled by the response body.
pub struct Subscription {
    hub: EventHub,
    reader: Reader,
    filter: Filter,
    listener: Listener,
    /// The last change dealt with (sent, or not for this reader).
    position: i64,
    phase: Phase,
    pending: VecDeque<sse::Event>,
    closing: watch::Receiver<bool>,
    heartbeat: Interval,
    finished: bool,
    _slot: SubscriberSlot,
}

impl Subscription {
    /// A stream of the changes after `after` (from now on when `None`).
    pub fn new(
        hub: EventHub,
        slot: SubscriberSlot,
        reader: Reader,
        filter: Filter,
        after: Option<i64>,
    ) -> Self {
        let listener = hub.subscribe();
        let period = std::time::Duration::from_secs(hub.settings().heartbeat_secs.max(1));
        let closing = hub.closing();
        let mut subscription = Self {
            position: after.unwrap_or(listener.position),
            phase: Phase::Replaying,
            listener,
            hub,
            reader,
            filter,
            pending: VecDeque::new(),
            closing,
            heartbeat: interval_at(Instant::now() + period, period),
            finished: false,
            _slot: slot,
        };
        if after.is_none() {
            subscription.go_live();
        }
        subscription
    }

    /// Turns the subscription into the stream the response body sends.
    pub fn into_stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<sse::Event, std::convert::Infallible>> {
        futures_util::stream::unfold(self, |mut subscription| async move {
            let event = subscription.next().await?;
            Some((Ok(event), subscription))
        })
    }

    async fn next(&mut self) -> Option<sse::Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.finished || *self.closing.borrow() {
                return None;
            }
            match self.phase {
                Phase::Replaying => self.replay_page().await,
                Phase::Live { delivered } => {
                    if let Some(event) = self.follow(delivered).await {
                        return Some(event);
                    }
                }
            }
        }
    }

    fn go_live(&mut self) {
        self.phase = Phase::Live { delivered: false };
        let ready = serde_json::json!({ "seq": self.position }).to_string();
        self.pending
            .push_back(sse::Data::new(ready).event("ready").into());
    }

    /// Reads the next page of the log; goes live when it is empty.
    async fn replay_page(&mut self) {
        let events = match self.read_page().await {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "cannot replay the change log; ending the stream");
                self.finished = true;
                return;
            }
        };
        let Some(last) = events.last().map(|event| event.seq) else {
            self.go_live();
            return;
        };
        for event in &events {
            self.offer(event);
        }
        self.position = last;
    }

    async fn read_page(&self) -> Result<Vec<StreamEvent>, Error> {
        let mut conn = self.hub.pool().get().await?;
        let changes = read_changes(&mut conn, self.position, REPLAY_PAGE).await?;
        Ok(load_and_render(&mut conn, &changes).await?)
    }

    /// Waits for the next broadcast change, heartbeat or shutdown. Returns a heartbeat to
    /// send; a change is queued (or skipped) instead.
    async fn follow(&mut self, delivered: bool) -> Option<sse::Event> {
        tokio::select! {
            _ = self.closing.changed() => {
                self.finished = true;
                None
            }
            _ = self.heartbeat.tick() => {
                if self.token_revoked().await {
                    self.finished = true;
                    return None;
                }
                Some(sse::Event::Comment("heartbeat".into()))
            }
            received = self.listener.receiver.recv() => {
                self.receive(received, delivered);
                None
            }
        }
    }

    fn receive(&mut self, received: Result<Arc<StreamEvent>, RecvError>, delivered: bool) {
        match received {
            Ok(event) => {
                self.phase = Phase::Live { delivered: true };
                if event.seq > self.position {
                    self.offer(&event);
                    self.position = event.seq;
                }
            }
            // Fell behind while replaying: the ring moved on meanwhile; replay the rest.
            Err(RecvError::Lagged(_)) if !delivered => {
                self.listener = self.hub.subscribe();
                self.phase = Phase::Replaying;
            }
            Err(RecvError::Lagged(_)) => {
                tracing::info!(
                    position = self.position,
                    "ending a stream that reads too slowly"
                );
                self.pending.push_back(sse::Event::Comment(
                    "too far behind: reconnect with Last-Event-ID".into(),
                ));
                self.finished = true;
            }
            Err(RecvError::Closed) => self.finished = true,
        }
    }

    /// Queues `event` if this stream carries it and its reader may see it.
    fn offer(&mut self, event: &StreamEvent) {
        let wanted = self
            .filter
            .convergence
            .is_none_or(|convergence| event.concerns(convergence))
            && self
                .filter
                .types
                .as_ref()
                .is_none_or(|types| types.contains(&event.name))
            && event.visible_to(&self.reader.caller);
        if wanted {
            let data = sse::Data::new(event.data.clone())
                .id(event.seq.to_string())
                .event(event.name);
            self.pending.push_back(data.into());
        }
    }

    async fn token_revoked(&self) -> bool {
        let Some(secret) = &self.reader.secret else {
            return false;
        };
        matches!(
            caller_from_secret(self.hub.pool(), secret).await,
            Err(Error::InvalidToken)
        )
    }
}
