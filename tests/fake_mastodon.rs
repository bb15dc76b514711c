//! A stand-in for a Mastodon server on loopback: one `Person` actor (`alice`) with its own RSA
//! key, served the way Mastodon serves it, an inbox that records every activity it accepts (and
//! answers with scripted error statuses first, when told to), and signed sending and fetching through the activitypub_federation crate — the same
//! HTTP-signature code other fediverse servers interoperate with.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use activitypub_federation::activity_sending::SendActivityTask;
use activitypub_federation::config::{Data, FederationConfig};
use activitypub_federation::http_signatures::generate_actor_keypair;
use activitypub_federation::traits::{Activity, Actor, Object};
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

/// The fake server; stopped when dropped.
pub struct FakeMastodon {
    pub base: String,
    alice: Alice,
    received: Arc<Mutex<Vec<Value>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
    handle: actix_web::dev::ServerHandle,
    config: FederationConfig<()>,
}

/// Alice, with her key pair.
#[derive(Debug, Clone)]
struct Alice {
    id: Url,
    inbox: Url,
    public_key_pem: String,
    private_key_pem: String,
}

#[async_trait::async_trait]
impl Object for Alice {
    type DataType = ();
    type Kind = Value;
    type Error = activitypub_federation::error::Error;

    fn id(&self) -> &Url {
        &self.id
    }

    async fn read_from_id(_: Url, _: &Data<()>) -> Result<Option<Self>, Self::Error> {
        Ok(None)
    }

    async fn into_json(self, _: &Data<()>) -> Result<Value, Self::Error> {
        Err(Self::Error::NotFound)
    }

    async fn verify(_: &Value, _: &Url, _: &Data<()>) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn from_json(_: Value, _: &Data<()>) -> Result<Self, Self::Error> {
        Err(Self::Error::NotFound)
    }
}

impl Actor for Alice {
    fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    fn private_key_pem(&self) -> Option<String> {
        Some(self.private_key_pem.clone())
    }

    fn inbox(&self) -> Url {
        self.inbox.clone()
    }
}

/// An activity as raw JSON, for sending.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Raw {
    json: Value,
    #[serde(skip)]
    id: Url,
    #[serde(skip)]
    actor: Url,
}

#[async_trait::async_trait]
impl Activity for Raw {
    type DataType = ();
    type Error = activitypub_federation::error::Error;

    fn id(&self) -> &Url {
        &self.id
    }

    fn actor(&self) -> &Url {
        &self.actor
    }

    async fn verify(&self, _: &Data<()>) -> Result<(), Self::Error> {
        Ok(())
    }

    async fn receive(self, _: &Data<()>) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl FakeMastodon {
    /// Starts the server on a free port of localhost.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let base = format!("http://localhost:{port}");
        let keys = tokio::task::spawn_blocking(generate_actor_keypair)
            .await
            .expect("join")
            .expect("keys");
        let alice = Alice {
            id: Url::parse(&format!("{base}/users/alice")).expect("url"),
            inbox: Url::parse(&format!("{base}/users/alice/inbox")).expect("url"),
            public_key_pem: keys.public_key,
            private_key_pem: keys.private_key,
        };
        let document = person_document(&base, &alice.public_key_pem);
        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let answers: Arc<Mutex<VecDeque<u16>>> = Arc::default();
        let inbox_log = received.clone();
        let scripted = answers.clone();
        let server = HttpServer::new(move || {
            let document = document.clone();
            let log = inbox_log.clone();
            let scripted = scripted.clone();
            let record = move |body: web::Bytes| {
                let log = log.clone();
                let next = scripted.lock().expect("answers").pop_front();
                async move {
                    if let Some(status) = next {
                        let status = actix_web::http::StatusCode::from_u16(status).expect("status");
                        return HttpResponse::build(status)
                            .json(json!({"error": format!("scripted answer {status}")}));
                    }
                    if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                        log.lock().expect("log").push(value);
                    }
                    HttpResponse::Accepted().finish()
                }
            };
            App::new()
                .route(
                    "/users/alice",
                    web::get().to(move || {
                        let document = document.clone();
                        async move {
                            HttpResponse::Ok()
                                .content_type("application/activity+json; charset=utf-8")
                                .body(document.to_string())
                        }
                    }),
                )
                .route("/users/alice/inbox", web::post().to(record.clone()))
                .route("/inbox", web::post().to(record))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        let config = FederationConfig::builder()
            .domain(format!("localhost:{port}"))
            .app_data(())
            .debug(true)
            .allow_http_urls(true)
            .signed_fetch_actor(&alice)
            .build()
            .await
            .expect("federation config");
        FakeMastodon {
            base,
            alice,
            received,
            answers,
            handle,
            config,
        }
    }

    /// Alice's actor URL.
    pub fn alice(&self) -> &Url {
        &self.alice.id
    }

    /// Signs `activity` as Alice (HTTP signature with digest) and posts it to `inbox`.
    pub async fn send(&self, activity: Value, inbox: &str) {
        let alice = &self.alice;
        let raw = Raw {
            id: Url::parse(activity["id"].as_str().expect("id")).expect("url"),
            actor: alice.id.clone(),
            json: activity,
        };
        let data = self.config.to_request_data();
        let tasks =
            SendActivityTask::prepare(&raw, alice, vec![Url::parse(inbox).expect("url")], &data)
                .await
                .expect("prepare");
        for task in tasks {
            task.sign_and_send(&data).await.expect("sent and accepted");
        }
    }

    /// Fetches `url` as Mastodon does with authorized fetch: a signed GET, no Digest header.
    pub async fn signed_get(&self, url: &str) -> Value {
        let data = self.config.to_request_data();
        activitypub_federation::fetch::fetch_object_http::<(), Value>(
            &Url::parse(url).expect("url"),
            &data,
        )
        .await
        .expect("signed fetch")
        .object
    }

    /// Makes the inboxes answer the next deliveries with `statuses`, one each, in order, before
    /// they accept again.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.answers
            .lock()
            .expect("answers")
            .extend(statuses.iter().copied());
    }

    /// Everything the inboxes received so far.
    fn received(&self) -> Vec<Value> {
        self.received.lock().expect("log").clone()
    }

    /// The names of the Articles announced to the inboxes so far, in order of arrival.
    pub fn announced_names(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|activity| activity["type"] == "Announce")
            .filter_map(|activity| activity["object"]["object"]["name"].as_str())
            .map(str::to_owned)
            .collect()
    }

    /// The ids of the objects whose `Create` was announced to the inboxes, once per arrival.
    pub fn announced_creates(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|activity| {
                activity["type"] == "Announce" && activity["object"]["type"] == "Create"
            })
            .filter_map(|activity| activity["object"]["object"]["id"].as_str())
            .map(str::to_owned)
            .collect()
    }

    /// The ids of every activity the inboxes received, once per arrival.
    pub fn received_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter_map(|activity| activity["id"].as_str())
            .map(str::to_owned)
            .collect()
    }

    /// The activity of type `kind` about the activity `object` (its `object`, embedded or by
    /// id, has that id), once the inboxes received one.
    pub async fn received_about(&self, kind: &str, object: &str) -> Value {
        crate::harness::eventually(&format!("an {kind} of {object} to reach Alice"), || async {
            self.received().into_iter().find(|activity| {
                activity["type"] == kind
                    && (activity["object"]["id"] == object || activity["object"] == object)
            })
        })
        .await
    }

    /// The first activity of type `kind` the inboxes received, once there is one.
    pub async fn first_received(&self, kind: &str) -> Value {
        crate::harness::eventually(&format!("an {kind} to reach Alice"), || async {
            self.received()
                .into_iter()
                .find(|activity| activity["type"] == kind)
        })
        .await
    }
}

impl Drop for FakeMastodon {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Alice's actor document, shaped like `fixtures/mastodon_person.json` of the federation crate
/// (a real Mastodon actor) with this server's URLs and key.
fn person_document(base: &str, public_key_pem: &str) -> Value {
    let mut document: Value =
        serde_json::from_str(include_str!("../federation/fixtures/mastodon_person.json"))
            .expect("fixture");
    let alice = format!("{base}/users/alice");
    document["id"] = json!(alice);
    document["preferredUsername"] = json!("alice");
    document["inbox"] = json!(format!("{alice}/inbox"));
    document["outbox"] = json!(format!("{alice}/outbox"));
    document["followers"] = json!(format!("{alice}/followers"));
    document["following"] = json!(format!("{alice}/following"));
    document["url"] = json!(format!("{base}/@alice"));
    document["endpoints"]["sharedInbox"] = json!(format!("{base}/inbox"));
    document["publicKey"] = json!({
        "id": format!("{alice}#main-key"),
        "owner": alice,
        "publicKeyPem": public_key_pem,
    });
    document
}
