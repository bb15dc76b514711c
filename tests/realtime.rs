//! The event streams: order and content, resuming without gaps or duplicates, access rules,
//! slow readers, several processes, shutdown.

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::harness::{As, NodeProcess, TestDatabase, TestNode, spawn_node};

type Events = Pin<Box<dyn Stream<Item = Result<Event, String>> + Send>>;

/// An open event stream, read as a browser's `EventSource` would.
struct EventStream {
    events: Events,
}

/// How long a test waits for the next event before it fails.
const NEXT_EVENT: Duration = Duration::from_secs(30);

impl EventStream {
    async fn open(node: &TestNode, path: &str, who: As<'_>, last_event_id: Option<i64>) -> Self {
        let mut request = node.client.get(node.url(path));
        request = match who {
            As::Anonymous => request,
            As::Admin => request.bearer_auth(&node.admin_token),
            As::Token(token) => request.bearer_auth(token),
        };
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        Self::from_response(request.send().await.expect("stream request")).await
    }

    async fn from_response(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200, "stream refused");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let events = response
            .bytes_stream()
            .eventsource()
            .map(|event| event.map_err(|error| error.to_string()));
        Self {
            events: Box::pin(events),
        }
    }

    /// The next event, `None` when the stream has ended.
    async fn next(&mut self) -> Option<Event> {
        tokio::time::timeout(NEXT_EVENT, self.events.next())
            .await
            .expect("an event within 30 s")
            .map(|event| event.expect("well-formed event"))
    }

    /// Reads up to `ready`; returns its position and the events before it.
    async fn until_ready(&mut self) -> (i64, Vec<Event>) {
        let mut before = Vec::new();
        while let Some(event) = self.next().await {
            if event.event == "ready" {
                let data: Value = serde_json::from_str(&event.data).unwrap();
                return (data["seq"].as_i64().expect("ready seq"), before);
            }
            before.push(event);
        }
        panic!("the stream ended before ready");
    }

    /// The next `n` events.
    async fn take(&mut self, n: usize) -> Vec<Event> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            events.push(self.next().await.expect("the stream goes on"));
        }
        events
    }

    /// Whether the stream ends (rather than sending another event) within 30 s.
    async fn ends(&mut self) -> bool {
        tokio::time::timeout(NEXT_EVENT, self.events.next())
            .await
            .is_ok_and(|next| next.is_none() || next.is_some_and(|event| event.is_err()))
    }
}

fn data(event: &Event) -> Value {
    serde_json::from_str(&event.data).expect("data is one JSON line")
}

fn names(events: &[Event]) -> Vec<&str> {
    events.iter().map(|event| event.event.as_str()).collect()
}

fn artifact(title: &str) -> Value {
    json!({"kind": "idea", "title": title, "dimensions": {"energy": 0.5}})
}

#[tokio::test]
async fn every_type_arrives_in_order_with_its_entity() {
    let node = spawn_node().await;
    node.convergence("live", "public").await;
    node.settle().await;
    let mut stream = EventStream::open(
        &node,
        "/api/v1/convergences/live/events",
        As::Anonymous,
        None,
    )
    .await;
    stream.until_ready().await;

    let first = node.artifact("live", artifact("Solar roofs")).await;
    node.patch(
        &format!("/api/v1/artifacts/{first}"),
        json!({"title": "Solar roofs for all", "version": 1}),
    )
    .await
    .expect(200);
    let second = node.artifact("live", artifact("Community battery")).await;
    let edge = node
        .post(
            "/api/v1/relationships",
            json!({"source": first, "target": second, "kind": "supports", "weight": 0.7}),
        )
        .await
        .expect(201)
        .id();
    node.delete(&format!("/api/v1/relationships/{edge}"))
        .await
        .expect(204);
    node.delete(&format!("/api/v1/artifacts/{second}"))
        .await
        .expect(204);
    node.patch(
        "/api/v1/convergences/live",
        json!({"description": "now with batteries"}),
    )
    .await
    .expect(200);

    let events = stream.take(7).await;
    assert_eq!(
        names(&events),
        [
            "artifact.created",
            "artifact.updated",
            "artifact.created",
            "relationship.created",
            "relationship.deleted",
            "artifact.deleted",
            "convergence.updated",
        ]
    );
    let seqs: Vec<i64> = events.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "ids increase: {seqs:?}"
    );
    for event in &events {
        let data = data(event);
        assert_eq!(data["seq"].as_i64().unwrap().to_string(), event.id);
        assert_eq!(data["convergence"], "live");
    }
    let created = data(&events[0]);
    assert_eq!(created["id"], first.as_str());
    // The entity as GET shows it when the event is rendered (here: as created, or already
    // renamed if the hub read both changes at once).
    let entity = &created["entity"];
    assert_eq!(entity["id"], first.as_str());
    assert_eq!(entity["kind"], "idea");
    assert_eq!(entity["dimensions"], json!({"energy": 0.5}));
    let now = node
        .get(&format!("/api/v1/artifacts/{first}"))
        .await
        .expect(200)
        .body;
    assert_eq!(data(&events[1])["entity"], now);
    assert_eq!(data(&events[1])["entity"]["title"], "Solar roofs for all");
    let relationship = data(&events[3]);
    assert_eq!(relationship["id"], edge.as_str());
    // Rendered as it was when the hub read the change: or null, if deleted by then.
    let entity = &relationship["entity"];
    assert!(entity.is_null() || entity["kind"] == "supports", "{entity}");
    let deleted = data(&events[5]);
    assert_eq!(deleted["id"], second.as_str());
    assert!(
        deleted.get("entity").is_none(),
        "a delete carries the id only"
    );
    assert_eq!(
        data(&events[6])["entity"]["description"],
        "now with batteries"
    );
}

#[tokio::test]
async fn resuming_replays_exactly_the_missed_events() {
    let node = spawn_node().await;
    node.convergence("resume", "public").await;
    node.settle().await;
    let mut stream = EventStream::open(&node, "/api/v1/events", As::Anonymous, None).await;
    let (position, _) = stream.until_ready().await;
    drop(stream);

    let mut written = Vec::new();
    for n in 0..20 {
        written.push(
            node.artifact("resume", artifact(&format!("missed {n}")))
                .await,
        );
    }

    let mut by_header =
        EventStream::open(&node, "/api/v1/events", As::Anonymous, Some(position)).await;
    let (head, replayed) = by_header.until_ready().await;
    let ids: Vec<String> = replayed
        .iter()
        .map(|event| data(event)["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, written, "the 20 missed writes, in order, once each");
    assert_eq!(head, replayed.last().unwrap().id.parse::<i64>().unwrap());

    let mut by_query = EventStream::open(
        &node,
        &format!("/api/v1/events?after={position}"),
        As::Anonymous,
        None,
    )
    .await;
    let (_, replayed) = by_query.until_ready().await;
    assert_eq!(names(&replayed), vec!["artifact.created"; 20]);

    // Live after the replay: the next write follows at once, not repeated.
    let next = node.artifact("resume", artifact("live again")).await;
    let live = by_query.next().await.unwrap();
    assert_eq!(data(&live)["id"], next.as_str());
    assert_eq!(live.id.parse::<i64>().unwrap(), head + 1);

    // A replayed change shows its entity as it is now: null once it is deleted.
    node.delete(&format!("/api/v1/artifacts/{}", written[0]))
        .await
        .expect(204);
    let mut again = EventStream::open(&node, "/api/v1/events", As::Anonymous, Some(position)).await;
    let (_, replayed) = again.until_ready().await;
    assert_eq!(data(&replayed[0])["entity"], Value::Null);
    assert_eq!(data(&replayed[1])["entity"]["title"], "missed 1");
    assert_eq!(replayed.last().unwrap().event, "artifact.deleted");
}

#[tokio::test]
async fn no_event_is_lost_or_repeated_at_the_seam_under_concurrent_writes() {
    let node = spawn_node().await;
    node.convergence("seam", "public").await;
    let start = node
        .get_as("/api/v1/admin/projections", As::Admin)
        .await
        .expect(200)
        .body["log_head"]
        .as_i64()
        .unwrap();
    const WRITES: usize = 150;
    let writer = {
        let client = node.client.clone();
        let url = node.url("/api/v1/convergences/seam/artifacts");
        let token = node.admin_token.clone();
        tokio::spawn(async move {
            for n in 0..WRITES {
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&artifact(&format!("concurrent {n}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
            }
        })
    };
    // Streams that join while the writes go on, each resuming from the start: their replay
    // and their live part meet while the log grows.
    let mut streams = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        streams.push(EventStream::open(&node, "/api/v1/events", As::Anonymous, Some(start)).await);
    }
    writer.await.unwrap();
    for mut stream in streams {
        let mut seen = Vec::new();
        while seen.len() < WRITES {
            let event = stream.next().await.expect("the stream goes on");
            if event.event != "ready" {
                seen.push(event.id.parse::<i64>().unwrap());
            }
        }
        let expected: Vec<i64> = (start + 1..=start + WRITES as i64).collect();
        assert_eq!(seen, expected, "every change once, in order");
    }
}

#[tokio::test]
async fn streams_show_only_what_the_caller_may_read() {
    let node = spawn_node().await;
    node.convergence("open", "public").await;
    node.convergence("closed", "private").await;
    let closed_token = node.convergence_token("closed").await;
    node.settle().await;

    node.get("/api/v1/convergences/closed/events")
        .await
        .expect_error(404, "not_found");
    node.get("/api/v1/events?access_token=kgn_not_a_token")
        .await
        .expect_error(401, "invalid_token");
    node.get("/api/v1/events?types=artifact.exploded")
        .await
        .expect_error(400, "invalid_parameter");
    node.get_as("/api/v1/events", As::Token("kgn_not_a_token"))
        .await
        .expect_error(401, "invalid_token");

    let mut anonymous = EventStream::open(&node, "/api/v1/events", As::Anonymous, None).await;
    let mut scoped =
        EventStream::open(&node, "/api/v1/events", As::Token(&closed_token), None).await;
    // A browser's EventSource cannot send headers: the token rides in the query.
    let response = node
        .client
        .get(node.url(&format!(
            "/api/v1/convergences/closed/events?access_token={closed_token}&types=artifact.created"
        )))
        .send()
        .await
        .unwrap();
    let mut closed_only = EventStream::from_response(response).await;
    for stream in [&mut anonymous, &mut scoped, &mut closed_only] {
        stream.until_ready().await;
    }

    let secret = node.artifact("closed", artifact("Secret plan")).await;
    let open = node.artifact("open", artifact("Open plan")).await;
    node.post(
        "/api/v1/relationships",
        json!({"source": open, "target": secret, "kind": "relates_to"}),
    )
    .await
    .expect(201);
    let marker = node.artifact("open", artifact("Marker")).await;

    let ids = |events: &[Event]| -> Vec<String> {
        events
            .iter()
            .map(|e| data(e)["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let seen = anonymous.take(2).await;
    assert_eq!(
        ids(&seen),
        [open.clone(), marker.clone()],
        "no private artifact, no edge into it"
    );
    let seen = scoped.take(4).await;
    assert_eq!(
        names(&seen),
        [
            "artifact.created",
            "artifact.created",
            "relationship.created",
            "artifact.created"
        ]
    );
    let seen = closed_only.take(1).await;
    assert_eq!(ids(&seen), [secret]);
    // The edge concerns the closed convergence too (its target is there) but is filtered out
    // by type; the next event the closed stream sees is a later write in it.
    let later = node.artifact("closed", artifact("Later")).await;
    assert_eq!(ids(&closed_only.take(1).await), [later]);
}

#[tokio::test]
async fn a_revoked_token_ends_its_streams() {
    let node = spawn_node().await;
    node.convergence("revocable", "private").await;
    let mut conn = node.database.connect().await;
    let slug = kgnode::domain::Slug::try_from("revocable".to_owned()).unwrap();
    let (id, token) = kgnode::auth::create_token(
        &mut conn,
        &kgnode::auth::TokenRequest::convergence(
            slug.clone(),
            kgnode::auth::TokenRole::Admin,
            "stream",
        ),
    )
    .await
    .unwrap();
    let mut stream = EventStream::open(
        &node,
        "/api/v1/convergences/revocable/events",
        As::Token(&token),
        None,
    )
    .await;
    stream.until_ready().await;
    kgnode::auth::revoke_token(&mut conn, id).await.unwrap();
    assert!(stream.ends().await, "the stream ends at its next heartbeat");
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_ended_and_others_are_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = spawn_node().await;
    node.convergence("busy", "public").await;
    node.settle().await;
    let mut fast = EventStream::open(&node, "/api/v1/events", As::Anonymous, None).await;
    fast.until_ready().await;
    // A reader that asks and then reads nothing, with a small receive window.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address: std::net::SocketAddr = format!("127.0.0.1:{}", node.port()).parse().unwrap();
    socket.connect(&address.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut slow = tokio::net::TcpStream::from_std(socket.into()).unwrap();
    slow.write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();

    // More than the kernel's socket buffers (up to 4 MiB for the sender) hold, and then more
    // than the ring.
    const WRITES: usize = 300;
    let body = "x".repeat(50_000);
    for n in 0..WRITES {
        let mut item = artifact(&format!("busy {n}"));
        item["body"] = Value::String(body.clone());
        node.artifact("busy", item).await;
        // The fast reader keeps up.
        let event = fast.next().await.expect("the fast stream goes on");
        assert_eq!(event.event, "artifact.created");
    }

    // The slow reader now reads what was sent to it: it ends, told why, well short of all.
    let mut received = Vec::new();
    let read_all = async {
        let mut buffer = [0u8; 65536];
        loop {
            match slow.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("the slow stream was ended");
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("too far behind"), "told why");
    let delivered = text.matches("event: artifact.created").count();
    assert!(delivered < WRITES, "ended before the end: {delivered}");
}

#[tokio::test]
async fn a_write_through_one_process_reaches_the_streams_of_another() {
    let node = spawn_node().await;
    node.convergence("shared", "public").await;
    let (sibling, _guard) = node.sibling().await;
    node.settle().await;
    let mut stream = EventStream::open(&node, "/api/v1/events", As::Anonymous, None).await;
    stream.until_ready().await;
    let response = node
        .client
        .post(format!("{sibling}/api/v1/convergences/shared/artifacts"))
        .bearer_auth(&node.admin_token)
        .json(&artifact("from the sibling"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].clone();
    let event = stream.next().await.unwrap();
    assert_eq!(data(&event)["id"], id);
}

#[tokio::test]
async fn stopping_ends_open_streams_at_once() {
    let mut node = spawn_node().await;
    let mut stream = EventStream::open(&node, "/api/v1/events", As::Anonymous, None).await;
    stream.until_ready().await;
    // A graceful stop would wait 30 s for open connections; the streams end first.
    tokio::time::timeout(Duration::from_secs(10), node.stop())
        .await
        .expect("the node stops without waiting for its streams");
    assert!(stream.ends().await);
}

#[tokio::test]
async fn sigterm_ends_open_streams_and_the_process() {
    let database = TestDatabase::new();
    database.create().await;
    let data_dir = std::env::temp_dir().join(format!("{}-sigterm", database.name));
    let mut process = NodeProcess::start(&database, &data_dir).await;
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/events", process.base))
        .send()
        .await
        .unwrap();
    let mut stream = EventStream::from_response(response).await;
    stream.until_ready().await;
    let exited = process.terminate().await;
    assert!(
        exited.is_some_and(|status| status.success()),
        "the process exits on SIGTERM: {exited:?}"
    );
    assert!(stream.ends().await);
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test]
async fn streams_beyond_the_limit_are_refused_with_503() {
    let database = TestDatabase::new();
    database.create().await;
    let data_dir = std::env::temp_dir().join(format!("{}-limit", database.name));
    let process = NodeProcess::start_with(
        &database,
        &data_dir,
        &[
            // A closed stream is noticed at its next write: a heartbeat each second.
            ("KGNODE_REALTIME__MAX_SUBSCRIBERS", "1"),
            ("KGNODE_REALTIME__HEARTBEAT_SECS", "1"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/events", process.base);
    let mut first = EventStream::from_response(client.get(&url).send().await.unwrap()).await;
    first.until_ready().await;
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_subscribers");
    // The slot is free again once the first stream is closed.
    drop(first);
    crate::harness::eventually("a free slot", || async {
        let response = client.get(&url).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    drop(process);
    let _ = std::fs::remove_dir_all(&data_dir);
}
