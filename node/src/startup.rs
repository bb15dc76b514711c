//! Start-up: prepare the database, build the HTTP server, run it.

use std::net::TcpListener;
use std::sync::Arc;

use activitypub_federation::config::FederationConfig;
use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Compress, ErrorHandlers};
use actix_web::{App, HttpMessage, HttpServer, web};
use kg_graph::GraphStore;
use kg_search::SearchIndex;
use secrecy::ExposeSecret;
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa::OpenApi;

use crate::api::{self, NodeInfo};
use crate::auth::PasswordHashing;
use crate::cluster::Singletons;
use crate::config::{JobSettings, Settings};
use crate::db::{self, DbPool, ReadRouter};
use crate::extraction::ExtractionHandler;
use crate::federating::delivery::start_delivery;
use crate::federating::outgoing::start_outgoing;
use crate::federating::{self, FederationContext, FederationError, federation_config};
use crate::graphing::{GraphingError, start_graph};
use crate::indexing::{IndexingError, SearchReadiness, start_search};
use crate::jobs::start_jobs;
use crate::limits::RateLimits;
use crate::realtime::{self, EventHub, RealtimeError, start_hub};
use crate::telemetry::RedactingRootSpan;
use crate::workers::{Projections, Worker};

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be reached, created or pooled.
    #[error(transparent)]
    Database(#[from] db::ConnectError),
    /// Migrations failed.
    #[error(transparent)]
    Migration(#[from] db::MigrationError),
    /// The search index could not be opened or its follower started.
    #[error(transparent)]
    Indexing(#[from] IndexingError),
    /// The graph projection could not be started.
    #[error(transparent)]
    Graphing(#[from] GraphingError),
    /// The event-stream hub could not be started.
    #[error(transparent)]
    Realtime(#[from] RealtimeError),
    /// Federation could not be set up (keys, HTTP client).
    #[error(transparent)]
    Federation(#[from] FederationError),
    /// The extractor could not be set up (its API key file, its HTTP client).
    #[error(transparent)]
    Extraction(#[from] crate::extraction::OpenAiSetupError),
    /// `[accounts]` has argon2 parameters out of range.
    #[error(transparent)]
    Accounts(#[from] crate::auth::PasswordError),
    /// `http.cors_origins` holds something that is not an origin.
    #[error(transparent)]
    Cors(#[from] api::InvalidOrigin),
    /// The listen address could not be bound.
    #[error("cannot listen on {address} (http.bind): {source}")]
    Bind {
        /// The configured address.
        address: std::net::SocketAddr,
        /// Why (in use, not permitted, ...).
        source: std::io::Error,
    },
    /// The data directory could not be created.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A node ready to serve: bound to its port, database prepared.
pub struct Application {
    port: u16,
    server: Server,
    pool: DbPool,
    search: Worker,
    graph: Worker,
    realtime: Worker,
    extraction: Worker,
    hub: EventHub,
    federation: Vec<Worker>,
    replicas: Option<Worker>,
}

/// Stops a running node: its event streams at once (they would hold a graceful stop up until
/// its timeout), then the server.
#[derive(Clone)]
pub struct NodeHandle {
    server: ServerHandle,
    hub: EventHub,
}

impl NodeHandle {
    /// Ends the event streams and stops the server; `graceful` lets requests in flight finish.
    /// The server is told at once; the future resolves when it has stopped.
    pub fn stop(&self, graceful: bool) -> impl std::future::Future<Output = ()> + use<> {
        self.hub.close();
        self.server.stop(graceful)
    }
}

impl Application {
    /// Creates the data directory, creates and migrates the database as configured, binds the
    /// configured address and builds the server (which starts when awaited).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let address = settings.http.bind;
        let listener =
            TcpListener::bind(address).map_err(|source| StartupError::Bind { address, source })?;
        Self::build_on(settings, listener).await
    }

    /// Like [`Application::build`], on a listener the caller has bound already (so that it can
    /// know the port before the node starts).
    pub async fn build_on(settings: Settings, listener: TcpListener) -> Result<Self, StartupError> {
        api::check_origins(&settings.http.cors_origins)?;
        let accounts = api::Accounts {
            settings: settings.accounts.clone(),
            hashing: PasswordHashing::new(&settings.accounts)?,
        };
        std::fs::create_dir_all(&settings.node.data_dir)?;
        let url = settings.database.url.expose_secret().to_owned();
        if settings.database.create_if_missing && db::ensure_database_exists(&url).await? {
            tracing::info!("created the database");
        }
        if settings.database.migrate_on_start {
            let applied = db::run_pending(&url).await?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied migrations");
            }
        }
        let pool = db::connect(&settings.database)?;
        let router = ReadRouter::new(pool.clone(), &settings.database)?;
        let replicas = db::start_replica_monitor(&router, &url)?;
        let address = listener.local_addr()?;
        let node = NodeInfo {
            public_url: settings.node.public_url.clone(),
            expected_migrations: db::embedded_versions(),
        };
        let (index, readiness, search) = start_search(&settings).await?;
        let (store, graph) = start_graph(&settings)?;
        let (hub, realtime) = start_hub(&settings, pool.clone()).await?;
        let language =
            kg_search::parse_language(&settings.search.language).map_err(IndexingError::Search)?;
        let extraction = start_jobs(
            &settings,
            ExtractionHandler::new(&settings.extraction, index.clone(), language)?,
        )?;
        let mut projections = Projections::default();
        let mut singletons = Singletons::default();
        projections.add("search", &search);
        projections.add("graph", &graph);
        projections.add("realtime", &realtime);
        let (federation_config, federation) = if settings.federation.enabled {
            let context = FederationContext::new(pool.clone(), &settings);
            let config = federation_config(context).await?;
            let (outgoing, ownership) = start_outgoing(&settings)?;
            projections.add_singleton("federation", &outgoing, &ownership);
            singletons.add("federation_outbox", &ownership);
            (Some(config), vec![outgoing, start_delivery(&settings)?])
        } else {
            (None, Vec::new())
        };
        let state = ServedState {
            pool: pool.clone(),
            router,
            node,
            index,
            readiness,
            store,
            projections,
            singletons,
            jobs: settings.jobs.clone(),
            hub: hub.clone(),
            federation: federation_config,
            accounts,
        };
        let server = serve(listener, state, &settings)?;
        tracing::info!(%address, "kgnode listening");
        Ok(Self {
            port: address.port(),
            server,
            pool,
            search,
            graph,
            realtime,
            extraction,
            hub,
            federation,
            replicas,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's connection pool.
    pub fn pool(&self) -> DbPool {
        self.pool.clone()
    }

    /// A handle that stops the node.
    pub fn handle(&self) -> NodeHandle {
        NodeHandle {
            server: self.server.handle(),
            hub: self.hub.clone(),
        }
    }

    /// Serves until the node is stopped (Ctrl-C, SIGTERM or a handle), then stops the
    /// workers and waits for them.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.handle();
        let signals = tokio::spawn(async move {
            wait_for_stop_signal().await;
            tracing::info!("stopping: ending event streams, finishing requests in flight");
            handle.stop(true).await;
        });
        let served = self.server.await;
        signals.abort();
        self.search.stop().await;
        self.graph.stop().await;
        self.realtime.stop().await;
        self.extraction.stop().await;
        for follower in self.federation {
            follower.stop().await;
        }
        if let Some(monitor) = self.replicas {
            monitor.stop().await;
        }
        served
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The server's own signal handling is off, because
/// a graceful stop must first end the event streams.
async fn wait_for_stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch SIGTERM; only Ctrl-C stops the node");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// What the HTTP handlers share.
struct ServedState {
    pool: DbPool,
    router: ReadRouter,
    node: NodeInfo,
    index: SearchIndex,
    readiness: SearchReadiness,
    store: Arc<GraphStore>,
    projections: Projections,
    singletons: Singletons,
    jobs: JobSettings,
    hub: EventHub,
    federation: Option<FederationConfig<FederationContext>>,
    accounts: api::Accounts,
}

fn serve(
    listener: TcpListener,
    state: ServedState,
    settings: &Settings,
) -> std::io::Result<Server> {
    let pool = web::Data::new(state.pool);
    let router = web::Data::new(state.router);
    let index = web::Data::new(state.index);
    let readiness = web::Data::new(state.readiness);
    let store = web::Data::from(state.store);
    let node = web::Data::new(state.node);
    let projections = web::Data::new(state.projections);
    let singletons = web::Data::new(state.singletons);
    let hub = web::Data::new(state.hub);
    let jobs = web::Data::new(state.jobs);
    let federation = state.federation;
    let accounts = web::Data::new(state.accounts);
    let limits = web::Data::new(RateLimits::new(
        &settings.limits,
        settings.http.trusted_proxies.clone(),
    ));
    let slugs = web::Data::new(api::SlugCache::default());
    let http = settings.http.clone();
    let max_inbox_bytes = settings.federation.max_inbox_bytes;
    let federation = federation.map(web::Data::new);
    let mut server = HttpServer::new(move || {
        let http = http.clone();
        let federation = federation.clone();
        App::new()
            .wrap(ErrorHandlers::new().default_handler(api::json_error_fallback))
            .wrap(Compress::default())
            .wrap_fn(|req, srv| {
                let request_id = req.extensions().get::<RequestId>().copied();
                let response = srv.call(req);
                async move {
                    let mut response = response.await?;
                    if let Some(id) = request_id
                        && let Ok(value) = HeaderValue::from_str(&id.to_string())
                    {
                        response
                            .headers_mut()
                            .insert(HeaderName::from_static("x-request-id"), value);
                    }
                    Ok(response)
                }
            })
            .wrap(TracingLogger::<RedactingRootSpan>::new())
            .app_data(pool.clone())
            .app_data(router.clone())
            .app_data(node.clone())
            .app_data(slugs.clone())
            .app_data(index.clone())
            .app_data(readiness.clone())
            .app_data(store.clone())
            .app_data(projections.clone())
            .app_data(singletons.clone())
            .app_data(hub.clone())
            .app_data(jobs.clone())
            .app_data(accounts.clone())
            .app_data(limits.clone())
            .configure(move |cfg| {
                if let Some(federation) = federation {
                    cfg.app_data(federation);
                    cfg.configure(|cfg| federating::routes::configure(cfg, max_inbox_bytes));
                }
                let events = api::ApiExtension {
                    routes: realtime::configure,
                    openapi: realtime::EventsDoc::openapi(),
                };
                api::configure(cfg, &http, events);
            })
            .configure(crate::explorer::configure)
            .default_service(web::to(api::route_not_found))
    });
    // Answers are written in several pieces (headers, then the chunks of a compressed body):
    // with Nagle's algorithm a later piece waits for the client's delayed ACK of the first,
    // about 40 ms on every compressed answer of a keep-alive connection.
    server = server.tcp_nodelay(true).disable_signals();
    if settings.http.workers > 0 {
        server = server.workers(settings.http.workers);
    }
    Ok(server.listen(listener)?.run())
}
