//! `spawn_node()`: a node in this process on a random port with its own database.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use diesel_async::{AsyncConnection, AsyncPgConnection};
use kgnode::auth::{TokenRequest, TokenRole, create_token};
use kgnode::config::Settings;
use kgnode::startup::Application;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use url::Url;

/// The PostgreSQL server tests create their databases on.
pub fn server_url() -> Url {
    let raw = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned());
    Url::parse(&raw).expect("DATABASE_URL must be a URL")
}

/// The URL of database `name` on the test server.
pub fn database_url(name: &str) -> String {
    let mut url = server_url();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A throwaway database, dropped (with its connections) when this value is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Names a new database; it is created by the node (or by [`TestDatabase::create`]).
    pub fn new() -> Self {
        let name = format!("kgtest_{}", uuid::Uuid::new_v4().simple());
        let url = database_url(&name);
        Self { name, url }
    }

    /// Creates the (empty) database now.
    pub async fn create(&self) {
        kgnode::db::ensure_database_exists(&self.url)
            .await
            .expect("create test database");
    }

    /// A fresh direct connection.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = server_url().to_string();
        let statement = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let outcome = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                use diesel_async::RunQueryDsl;
                let mut conn = AsyncPgConnection::establish(&admin).await?;
                diesel::sql_query(statement).execute(&mut conn).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(error)) = outcome {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

fn init_test_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let mut settings = Settings::defaults().expect("defaults").log;
            settings.filter = "info".into();
            kgnode::telemetry::init(&settings, std::io::stdout);
        }
    });
}

/// A running node. The server stops and the database is dropped when it goes out of scope.
pub struct TestNode {
    pub base: String,
    pub admin_token: String,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    pub data_dir: PathBuf,
    server: Option<RunningServer>,
    /// Changes to [`test_settings`] this node starts with (kept across restarts).
    configure: Configure,
}

/// Changes a test makes to a node's settings.
pub type Configure = Arc<dyn Fn(&mut Settings) + Send + Sync>;

/// The server task of a node and the handle that stops it.
struct RunningServer {
    handle: kgnode::startup::NodeHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    metrics_port: Option<u16>,
}

/// Settings for a test node on `port` with database `database`.
pub fn test_settings(database: &TestDatabase, port: u16, data_dir: &std::path::Path) -> Settings {
    let mut settings = Settings::defaults().expect("defaults");
    settings.database.url = SecretString::from(database.url.clone());
    settings.database.max_connections = 8;
    settings.http.bind = format!("127.0.0.1:{port}").parse().expect("address");
    settings.http.workers = 2;
    settings.http.body_timeout_secs = 1;
    settings.node.data_dir = data_dir.to_path_buf();
    settings.node.public_url = Url::parse(&format!("http://localhost:{port}")).expect("url");
    settings.search.writer_memory_mib = 20;
    settings.federation.allow_local_network = true;
    settings.federation.retry_base_ms = 100;
    settings.federation.retry_max_secs = 1;
    settings.federation.park_after_refusals = 3;
    settings.federation.poll_ms = 50;
    // Overlapping deliveries: activities may arrive out of order, the harder case for receivers.
    settings.federation.deliveries_in_flight = 4;
    // Revoked tokens end their streams at the next heartbeat; a small ring makes a slow reader
    // fall behind it quickly.
    settings.realtime.heartbeat_secs = 1;
    settings.realtime.buffer = 64;
    // Failed attempts retry within a second; three make a job fail for good.
    settings.jobs.backoff_base_ms = 50;
    settings.jobs.backoff_max_secs = 1;
    settings.jobs.max_attempts = 3;
    settings.jobs.poll_ms = 100;
    // Tests write far faster than people do; the rate-limit tests turn the limits on.
    settings.limits = kgnode::config::LimitSettings {
        anonymous_reads_per_minute: 0,
        anonymous_searches_per_minute: 0,
        reads_per_minute: 0,
        searches_per_minute: 0,
        writes_per_minute: 0,
        logins_per_minute_per_username: 0,
        logins_per_minute_per_ip: 0,
    };
    // Many nodes run at once: the metrics tests turn the listener on, on a free port.
    settings.metrics.bind = None;
    settings
}

/// Starts a node on `port` (0: a free one) with [`test_settings`] changed by `configure`;
/// returns its base URL and running server.
async fn start_on(
    database: &TestDatabase,
    data_dir: &std::path::Path,
    port: u16,
    configure: &Configure,
) -> (String, RunningServer) {
    init_test_logging();
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let port = listener.local_addr().expect("address").port();
    let mut settings = test_settings(database, port, data_dir);
    configure(&mut settings);
    let app = Application::build_on(settings, listener)
        .await
        .expect("node starts");
    let handle = app.handle();
    let metrics_port = app.metrics_port();
    let task = tokio::spawn(app.run_until_stopped());
    let base = format!("http://localhost:{port}");
    wait_until_ready(&base).await;
    (
        base,
        RunningServer {
            handle,
            task,
            metrics_port,
        },
    )
}

/// Waits until `/readyz` answers 200 (the graph is loaded).
async fn wait_until_ready(base: &str) {
    let client = reqwest::Client::new();
    let ready = format!("{base}/readyz");
    eventually("the node to be ready", || async {
        let response = client.get(&ready).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
}

/// Starts a node with a fresh database and a node-wide token.
pub async fn spawn_node() -> TestNode {
    spawn_node_with(|_| {}).await
}

/// [`spawn_node`] with [`test_settings`] changed by `configure`.
pub async fn spawn_node_with(
    configure: impl Fn(&mut Settings) + Send + Sync + 'static,
) -> TestNode {
    let configure: Configure = Arc::new(configure);
    let database = TestDatabase::new();
    let data_dir = std::env::temp_dir().join(&database.name);
    let (base, server) = start_on(&database, &data_dir, 0, &configure).await;
    let mut conn = database.connect().await;
    let (_, admin_token) = create_token(&mut conn, &TokenRequest::node_admin("tests"))
        .await
        .expect("token");
    TestNode {
        base,
        admin_token,
        client: reqwest::Client::new(),
        database,
        data_dir,
        server: Some(server),
        configure,
    }
}

impl TestNode {
    /// Starts another node on the same database, with a data directory of its own.
    pub async fn sibling(&self) -> (String, RunningServerGuard) {
        let data_dir = std::env::temp_dir().join(format!(
            "{}-{}",
            self.database.name,
            uuid::Uuid::new_v4().simple()
        ));
        let (base, server) = start_on(&self.database, &data_dir, 0, &self.configure).await;
        (
            base,
            RunningServerGuard {
                server: Some(server),
                data_dir,
            },
        )
    }

    /// Stops the node and waits until its followers have stopped.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    /// `/metrics` on the node's metrics listener (which its settings must turn on).
    pub fn metrics_url(&self) -> String {
        let port = self
            .server
            .as_ref()
            .and_then(|server| server.metrics_port)
            .expect("metrics.bind is set and the node runs");
        format!("http://127.0.0.1:{port}/metrics")
    }

    /// The port the node listens on (kept across restarts: its URL is its identity).
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("the base URL names a port")
    }

    /// Stops the node (if running) and starts it again on the same port, database and data
    /// directory.
    pub async fn restart(&mut self) {
        let port = self.port();
        self.stop().await;
        let (base, server) = start_on(&self.database, &self.data_dir, port, &self.configure).await;
        self.base = base;
        self.server = Some(server);
    }
}

impl RunningServer {
    async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// A sibling node; stopped (and its data directory removed) when dropped or stopped.
pub struct RunningServerGuard {
    server: Option<RunningServer>,
    data_dir: PathBuf,
}

impl RunningServerGuard {
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }
}

impl Drop for RunningServerGuard {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server.handle.stop(false));
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server.handle.stop(false));
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A response: status, headers and the JSON body (Null when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self
    }

    /// Asserts an error response of the one shape, with this status and code.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        let reply = self.expect(status);
        assert_eq!(reply.body["error"]["code"], code, "body: {}", reply.body);
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error message missing: {}",
            reply.body
        );
        reply
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("id in body").to_owned()
    }
}

/// Who sends a request.
#[derive(Clone, Copy)]
pub enum As<'a> {
    Anonymous,
    Admin,
    Token(&'a str),
}

impl TestNode {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        who: As<'_>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        request = match who {
            As::Anonymous => request,
            As::Admin => request.bearer_auth(&self.admin_token),
            As::Token(token) => request.bearer_auth(token),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        reply(request).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, As::Anonymous, None).await
    }

    pub async fn get_as(&self, path: &str, who: As<'_>) -> Reply {
        self.send(Method::GET, path, who, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, As::Admin, Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, As::Admin, Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, As::Admin, None).await
    }

    /// Creates a convergence with the admin token.
    pub async fn convergence(&self, slug: &str, visibility: &str) -> Value {
        self.post(
            "/api/v1/convergences",
            serde_json::json!({"slug": slug, "name": slug, "visibility": visibility}),
        )
        .await
        .expect(201)
        .body
    }

    /// Creates an artifact with the admin token; returns its id.
    pub async fn artifact(&self, slug: &str, body: Value) -> String {
        self.post(&format!("/api/v1/convergences/{slug}/artifacts"), body)
            .await
            .expect(201)
            .id()
    }

    /// Creates a token for one convergence.
    pub async fn convergence_token(&self, slug: &str) -> String {
        let mut conn = self.database.connect().await;
        let slug = kgnode::domain::Slug::try_from(slug.to_owned()).expect("slug");
        create_token(
            &mut conn,
            &TokenRequest::convergence(slug, TokenRole::Admin, "tests"),
        )
        .await
        .expect("token")
        .1
    }

    /// Counts rows of a table, straight from the database.
    /// Waits until every projection of the change log (search, graph, federation) has applied
    /// the log's head as it is now: everything written so far is searchable, in the graph and,
    /// where followed, queued for delivery.
    pub async fn settle(&self) {
        let state = self
            .get_as("/api/v1/admin/projections", As::Admin)
            .await
            .expect(200);
        let head = state.body["log_head"].as_i64().expect("log_head");
        eventually("every projection to apply the log's head", || async {
            let state = self
                .get_as("/api/v1/admin/projections", As::Admin)
                .await
                .expect(200);
            let projections = state.body["projections"].as_array()?.clone();
            projections
                .iter()
                .all(|projection| projection["applied"].as_i64().is_some_and(|at| at >= head))
                .then_some(())
        })
        .await;
    }

    pub async fn count(&self, table: &str) -> i64 {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.database.connect().await;
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(&mut conn)
            .await
            .expect("count")
            .n
    }
}

/// Sends a prepared request and decodes the reply.
pub async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body read");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// Polls `probe` until it yields a value; fails the test after 30 s. For effects that follow a
/// write asynchronously (the search index, the graph).
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The `kgnode` binary that `cargo test --workspace` builds next to this test binary (see
/// `node/tests/binary.rs`).
pub fn kgnode_binary() -> PathBuf {
    let test_binary = std::env::current_exe().expect("test binary path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = profile_dir.join("kgnode");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        binary.display()
    );
    binary
}

/// The settings that turn every rate limit off, as environment variables.
const UNLIMITED: [&str; 7] = [
    "KGNODE_LIMITS__ANONYMOUS_READS_PER_MINUTE",
    "KGNODE_LIMITS__ANONYMOUS_SEARCHES_PER_MINUTE",
    "KGNODE_LIMITS__READS_PER_MINUTE",
    "KGNODE_LIMITS__SEARCHES_PER_MINUTE",
    "KGNODE_LIMITS__WRITES_PER_MINUTE",
    "KGNODE_LIMITS__LOGINS_PER_MINUTE_PER_USERNAME",
    "KGNODE_LIMITS__LOGINS_PER_MINUTE_PER_IP",
];

/// A `kgnode serve` process, killed when dropped.
pub struct NodeProcess {
    pub base: String,
    /// `/metrics` on its metrics listener (on a free port unless the test sets
    /// `KGNODE_METRICS__BIND`).
    pub metrics_url: Option<String>,
    child: std::process::Child,
    /// Its log, one JSON object per line.
    log: Arc<std::sync::Mutex<Vec<Value>>>,
}

impl NodeProcess {
    /// Starts `kgnode serve` on a port it picks itself (it binds port 0 and logs the address,
    /// which is read from its log), with `database` and `data_dir`, and waits until it is ready.
    /// Its metrics listener also takes a free port.
    pub async fn start(database: &TestDatabase, data_dir: &std::path::Path) -> Self {
        Self::start_with(database, data_dir, &[]).await
    }

    /// [`NodeProcess::start`] with more environment variables (settings).
    pub async fn start_with(
        database: &TestDatabase,
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        use std::io::BufRead;
        let log = if std::env::var_os("TEST_LOG").is_some() {
            "info"
        } else {
            "error,kgnode::startup=info"
        };
        let mut child = std::process::Command::new(kgnode_binary())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("DATABASE_URL", &database.url)
            .env("KGNODE_LOG__FILTER", log)
            .env("KGNODE_LOG__FORMAT", "json")
            .env("KGNODE_SEARCH__WRITER_MEMORY_MIB", "20")
            .envs(UNLIMITED.iter().map(|name| (*name, "0")))
            .env("KGNODE_METRICS__BIND", "127.0.0.1:0")
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kgnode starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let log: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
        let kept = log.clone();
        // Keeps the log, tells the listening line, and drains the pipe so that the child never
        // blocks on it.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
                if parsed["fields"]["message"] == "kgnode listening"
                    && let Some(address) = parsed["fields"]["address"].as_str()
                {
                    let _ = address_tx.send(address.to_owned());
                }
                kept.lock().expect("log").push(parsed);
            }
        });
        let address = tokio::task::spawn_blocking(move || {
            address_rx.recv_timeout(std::time::Duration::from_secs(120))
        })
        .await
        .expect("log reader")
        .expect("kgnode logs the address it listens on");
        let port = address.rsplit(':').next().expect("a port").to_owned();
        let base = format!("http://localhost:{port}");
        let mut process = Self {
            base,
            metrics_url: None,
            child,
            log,
        };
        // Logged before the API's listening line.
        process.metrics_url = process
            .logged("metrics listening")
            .first()
            .and_then(|line| line["fields"]["address"].as_str())
            .map(|address| format!("http://{address}/metrics"));
        wait_until_ready(&process.base).await;
        process
    }

    /// The lines logged so far with this message.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|line| line["fields"]["message"] == message)
            .cloned()
            .collect()
    }

    /// Sends SIGTERM, as a service manager stopping the node would, and waits (up to 20 s)
    /// for the process to exit; its exit status, `None` when it did not exit.
    pub async fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|status| status.success());
        assert!(sent, "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        None
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
