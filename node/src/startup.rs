//! Start-up: prepare the database, build the HTTP server, run it; and the graceful stop.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

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
use crate::auth::{CredentialCache, PasswordHashing};
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
use crate::metrics::{HttpMetrics, InFlight, MetricsSources, serve_metrics};
use crate::realtime::{self, EventHub, RealtimeError, start_hub};
use crate::telemetry::RedactingRootSpan;
use crate::workers::{Projections, Stopper, Worker};

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
    /// A listen address could not be bound.
    #[error("cannot listen on {address} ({setting}): {source}")]
    Bind {
        /// The setting that names it (`http.bind`, `metrics.bind`).
        setting: &'static str,
        /// The configured address.
        address: SocketAddr,
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
    metrics: Option<(u16, Server)>,
    pool: DbPool,
    /// The change log's projections and the delivery queue, by what the logs call them.
    background: Vec<(&'static str, Worker)>,
    jobs: Worker,
    hub: EventHub,
    in_flight: InFlight,
    grace: Duration,
    /// Listens for credential changes; ends with the node.
    credentials: AbortOnDrop,
    /// Watches the read replicas, when there are any.
    replicas: Option<Worker>,
}

/// A task aborted when its handle is dropped, so that a node dropped without
/// [`Application::run_until_stopped`] leaves nothing running.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Stops a running node: its event streams at once (they would hold a graceful stop up until
/// its timeout), its job workers (they finish their jobs meanwhile, see `jobs::runner`), then
/// the servers.
#[derive(Clone)]
pub struct NodeHandle {
    server: ServerHandle,
    metrics: Option<ServerHandle>,
    hub: EventHub,
    jobs: Stopper,
    in_flight: InFlight,
    grace: Duration,
}

impl NodeHandle {
    /// Ends the event streams, tells the job workers to stop, and stops the servers:
    /// `graceful` stops accepting connections and lets requests in flight finish (for up to
    /// `http.shutdown_grace_secs`). The servers are told at once; the future resolves when
    /// they have stopped.
    pub fn stop(&self, graceful: bool) -> impl std::future::Future<Output = ()> + use<> {
        if graceful {
            tracing::info!(
                in_flight = self.in_flight.count(),
                grace_secs = self.grace.as_secs(),
                "stopping: no new connections; waiting for requests in flight"
            );
        }
        self.hub.close();
        self.jobs.stop();
        let metrics = self.metrics.as_ref().map(|metrics| metrics.stop(graceful));
        let api = self.server.stop(graceful);
        async move {
            api.await;
            if let Some(metrics) = metrics {
                metrics.await;
            }
        }
    }
}

/// Binds `address`, naming `setting` when it cannot.
fn bind(setting: &'static str, address: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(address).map_err(|source| StartupError::Bind {
        setting,
        address,
        source,
    })
}

impl Application {
    /// Creates the data directory, creates and migrates the database as configured, binds the
    /// configured address and builds the server (which starts when awaited).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let listener = bind("http.bind", settings.http.bind)?;
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
        let mut background = vec![
            ("search projection", search),
            ("graph projection", graph),
            ("event-stream projection", realtime),
        ];
        let federation_config = if settings.federation.enabled {
            let context = FederationContext::new(pool.clone(), &settings);
            let config = federation_config(context).await?;
            let (outgoing, ownership) = start_outgoing(&settings)?;
            projections.add_singleton("federation", &outgoing, &ownership);
            singletons.add("federation_outbox", &ownership);
            background.push(("federation projection", outgoing));
            background.push(("federation delivery", start_delivery(&settings)?));
            Some(config)
        } else {
            None
        };
        let http_metrics = HttpMetrics::start(settings.metrics.bind.is_some());
        let metrics = match settings.metrics.bind {
            Some(metrics_address) => {
                let listener = bind("metrics.bind", metrics_address)?;
                let metrics_address = listener.local_addr()?;
                let sources = MetricsSources {
                    pool: pool.clone(),
                    projections: projections.clone(),
                    hub: hub.clone(),
                    index: index.clone(),
                    store: store.clone(),
                    http: http_metrics.clone(),
                };
                let server = serve_metrics(listener, sources)?;
                tracing::info!(address = %metrics_address, "metrics listening");
                Some((metrics_address.port(), server))
            }
            None => None,
        };
        let in_flight = http_metrics.in_flight();
        let credentials = CredentialCache::new();
        let listener_task = AbortOnDrop(tokio::spawn(credentials.clone().listen(url.clone())));
        let state = ServedState {
            pool: pool.clone(),
            router,
            singletons,
            node,
            index,
            readiness,
            store,
            projections,
            jobs: settings.jobs.clone(),
            hub: hub.clone(),
            federation: federation_config,
            accounts,
            metrics: http_metrics,
            credentials,
        };
        let server = serve(listener, state, &settings)?;
        tracing::info!(%address, "kgnode listening");
        Ok(Self {
            port: address.port(),
            server,
            metrics,
            pool,
            background,
            jobs: extraction,
            hub,
            in_flight,
            grace: Duration::from_secs(settings.http.shutdown_grace_secs),
            credentials: listener_task,
            replicas,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, when `metrics.bind` names one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The node's connection pool.
    pub fn pool(&self) -> DbPool {
        self.pool.clone()
    }

    /// A handle that stops the node.
    pub fn handle(&self) -> NodeHandle {
        NodeHandle {
            server: self.server.handle(),
            metrics: self.metrics.as_ref().map(|(_, server)| server.handle()),
            hub: self.hub.clone(),
            jobs: self.jobs.stopper(),
            in_flight: self.in_flight.clone(),
            grace: self.grace,
        }
    }

    /// Serves until the node is stopped (SIGTERM, SIGINT or a handle; see [`NodeHandle::stop`]),
    /// then stops the projections, each after the batch it is applying (a whole number of
    /// transactions), and waits for the job workers.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.handle();
        let signals = tokio::spawn(async move {
            wait_for_stop_signal().await;
            handle.stop(true).await;
        });
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let served = self.server.await;
        signals.abort();
        match self.in_flight.count() {
            0 => tracing::info!("stopped HTTP server: no request in flight"),
            cut_off => tracing::warn!(
                cut_off,
                "stopped HTTP server: requests still in flight after the grace time were cut off"
            ),
        }
        if let Some((handle, server)) = metrics {
            // Already told when stopped through a handle; not when the API's server failed.
            handle.stop(false).await;
            let _ = server.await;
        }
        for (name, worker) in self.background {
            let progress = worker.progress();
            worker.stop().await;
            tracing::info!(applied = progress.applied(), "stopped {name}");
        }
        self.jobs.stop().await;
        if let Some(monitor) = self.replicas {
            monitor.stop().await;
        }
        drop(self.credentials);
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
    singletons: Singletons,
    node: NodeInfo,
    index: SearchIndex,
    readiness: SearchReadiness,
    store: Arc<GraphStore>,
    projections: Projections,
    jobs: JobSettings,
    hub: EventHub,
    federation: Option<FederationConfig<FederationContext>>,
    accounts: api::Accounts,
    metrics: HttpMetrics,
    credentials: CredentialCache,
}

fn serve(
    listener: TcpListener,
    state: ServedState,
    settings: &Settings,
) -> std::io::Result<Server> {
    let pool = web::Data::new(state.pool);
    let router = web::Data::new(state.router);
    let singletons = web::Data::new(state.singletons);
    let index = web::Data::new(state.index);
    let readiness = web::Data::new(state.readiness);
    let store = web::Data::from(state.store);
    let node = web::Data::new(state.node);
    let projections = web::Data::new(state.projections);
    let hub = web::Data::new(state.hub);
    let jobs = web::Data::new(state.jobs);
    let federation = state.federation;
    let accounts = web::Data::new(state.accounts);
    let credentials = web::Data::new(state.credentials);
    let limits = web::Data::new(RateLimits::new(
        &settings.limits,
        settings.http.trusted_proxies.clone(),
    ));
    let slugs = web::Data::new(api::SlugCache::default());
    let http = settings.http.clone();
    let max_inbox_bytes = settings.federation.max_inbox_bytes;
    let federation = federation.map(web::Data::new);
    let metrics = state.metrics;
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
            .wrap(metrics.clone())
            .app_data(pool.clone())
            .app_data(router.clone())
            .app_data(singletons.clone())
            .app_data(node.clone())
            .app_data(slugs.clone())
            .app_data(index.clone())
            .app_data(readiness.clone())
            .app_data(store.clone())
            .app_data(projections.clone())
            .app_data(hub.clone())
            .app_data(jobs.clone())
            .app_data(accounts.clone())
            .app_data(limits.clone())
            .app_data(credentials.clone())
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
    server = server
        .tcp_nodelay(true)
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_grace_secs);
    if settings.http.workers > 0 {
        server = server.workers(settings.http.workers);
    }
    Ok(server.listen(listener)?.run())
}
