//! The clients of a run: a writer creating artifacts at a steady rate, stream subscribers, and
//! the baseline's pollers. Each client measures the delay from the artifact's `created_at`
//! (set by PostgreSQL in the writing transaction) to the moment it holds the event.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::common::{BenchError, SLUG, expect_status};

/// What one client saw of the writes.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Delay from each artifact's creation to its receipt.
    pub(crate) delays: Vec<Duration>,
    /// Distinct artifacts received.
    pub(crate) distinct: usize,
    /// Artifacts received more than once.
    pub(crate) duplicates: usize,
}

impl Seen {
    fn record(&mut self, ids: &mut HashSet<String>, id: String, created_at: DateTime<Utc>) {
        let delay = (Utc::now() - created_at).to_std().unwrap_or_default();
        if ids.insert(id) {
            self.distinct += 1;
            self.delays.push(delay);
        } else {
            self.duplicates += 1;
        }
    }
}

#[derive(Deserialize)]
struct StreamData {
    id: String,
    entity: Option<Created>,
}

#[derive(Deserialize)]
struct Created {
    created_at: DateTime<Utc>,
}

/// Creates `writes` artifacts, one at a time, `rate` per second; returns each POST's latency.
pub(crate) async fn write(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    writes: usize,
    rate: u64,
) -> Result<Vec<Duration>, BenchError> {
    let url = format!("{api}/convergences/{SLUG}/artifacts");
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut latencies = Vec::with_capacity(writes);
    for n in 0..writes {
        tick.tick().await;
        let started = std::time::Instant::now();
        let response = client
            .post(&url)
            .bearer_auth(token)
            .json(&json!({"kind": "idea", "title": format!("live idea {n}"),
                "body": "said at the microphone", "dimensions": {"energy": 0.5}}))
            .send()
            .await?;
        expect_status(response, 201, "POST artifact").await?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// A stream subscriber: reports on `ready` once its stream is live, then records every
/// `artifact.created` until it has `expected` of them or `stop` is set.
pub(crate) async fn subscribe(
    client: reqwest::Client,
    api: String,
    expected: usize,
    ready: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<Seen, BenchError> {
    let response = client
        .get(format!(
            "{api}/convergences/{SLUG}/events?types=artifact.created"
        ))
        .send()
        .await?;
    let mut events = expect_status(response, 200, "GET events")
        .await?
        .bytes_stream()
        .eventsource();
    let mut seen = Seen::default();
    let mut ids = HashSet::with_capacity(expected);
    while seen.distinct < expected {
        let event = tokio::select! {
            _ = stop.changed() => break,
            event = events.next() => event,
        };
        let Some(event) = event else { break };
        let event = event.map_err(|error| BenchError::Stream(error.to_string()))?;
        if event.event == "ready" {
            let _ = ready.send(()).await;
            continue;
        }
        let data: StreamData = serde_json::from_str(&event.data)?;
        if let Some(entity) = data.entity {
            seen.record(&mut ids, data.id, entity.created_at);
        }
    }
    Ok(seen)
}

#[derive(Deserialize)]
struct ListPage {
    items: Vec<ListedArtifact>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ListedArtifact {
    id: String,
    created_at: DateTime<Utc>,
}

/// The baseline: a client polling the keyset-paginated artifact list every `every`, from the
/// last artifact it has, until it has `expected` new ones or `stop` is set.
pub(crate) async fn poll(
    client: reqwest::Client,
    api: String,
    expected: usize,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<Seen, BenchError> {
    let mut seen = Seen::default();
    let mut ids = HashSet::with_capacity(expected);
    let mut cursor: Option<String> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while seen.distinct < expected {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        loop {
            let mut url = format!("{api}/convergences/{SLUG}/artifacts?limit=500");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let response = client.get(&url).send().await?;
            let page: ListPage = expect_status(response, 200, "GET artifacts")
                .await?
                .json()
                .await?;
            let Some(last) = page.items.last() else { break };
            // The list's cursor is the last id; a poller that reached the end keeps its own.
            cursor = Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&last.id)?));
            let more = page.next_cursor.is_some();
            for item in page.items {
                seen.record(&mut ids, item.id, item.created_at);
            }
            if !more {
                break;
            }
        }
    }
    Ok(seen)
}
