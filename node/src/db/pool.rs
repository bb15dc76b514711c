//! The async connection pool (deadpool through diesel-async; no libpq).

use std::time::Duration;

use diesel::ConnectionResult;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use secrecy::ExposeSecret;
use url::Url;

use crate::config::DatabaseSettings;

/// A pool of PostgreSQL connections.
pub type DbPool = Pool<AsyncPgConnection>;

/// A connection checked out of the pool.
pub type DbConn = Object<AsyncPgConnection>;

/// Why the database could not be reached or prepared.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a valid PostgreSQL URL.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The server refused or could not be reached.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connection(#[from] diesel::ConnectionError),
    /// A statement failed.
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    /// The pool could not be built.
    #[error("cannot build the connection pool: {0}")]
    Pool(#[from] diesel_async::pooled_connection::deadpool::BuildError),
}

/// Opens one of the node's connections, with PostgreSQL's JIT compiler off for it.
///
/// Every statement the node runs is short, but a few (the delivery queue's claim, correlated
/// `EXISTS` over a growing table) have large estimated costs, and PostgreSQL then spends
/// hundreds of milliseconds JIT-compiling a query that runs in a fraction of one.
pub async fn establish(url: &str) -> ConnectionResult<AsyncPgConnection> {
    let mut conn = match AsyncPgConnection::establish(url).await {
        Ok(conn) => conn,
        Err(error) => return Err(explain_connection_error(url, error).await),
    };
    diesel::sql_query("SET jit = off")
        .execute(&mut conn)
        .await
        .map_err(|error| diesel::ConnectionError::BadConnection(error.to_string()))?;
    Ok(conn)
}

/// Names the server (never the password) and the cause in a failed connection's error.
/// diesel-async reports a refused or unresolvable server only as "error connecting to server",
/// so a plain TCP connection to the same address is tried to tell which.
async fn explain_connection_error(
    url: &str,
    error: diesel::ConnectionError,
) -> diesel::ConnectionError {
    let parsed = Url::parse(url).ok();
    let host = parsed
        .as_ref()
        .and_then(|url| url.host_str().map(str::to_owned))
        .filter(|host| !host.is_empty());
    let port = parsed.as_ref().and_then(Url::port).unwrap_or(5432);
    let database = parsed
        .as_ref()
        .map(|url| url.path().trim_start_matches('/').to_owned())
        .unwrap_or_default();
    let user = parsed
        .as_ref()
        .map(|url| url.username().to_owned())
        .unwrap_or_default();
    let Some(host) = host else {
        return diesel::ConnectionError::BadConnection(format!(
            "PostgreSQL on the local socket (database '{database}', user '{user}'): {error}"
        ));
    };
    let cause = match tokio::net::TcpStream::connect((host.as_str(), port)).await {
        Ok(_) => error.to_string(),
        Err(io) => io.to_string(),
    };
    diesel::ConnectionError::BadConnection(format!(
        "PostgreSQL at {host}:{port} (database '{database}', user '{user}'): {cause}"
    ))
}

/// Builds the pool of the primary. Connections are opened lazily, on first use, by
/// [`establish`], on the runtime that builds the pool (see [`connect_to`]).
///
/// Each connection is driven by a task on the runtime it was opened on, and it closes when
/// that runtime ends. The HTTP server's pool is shared by its workers, each a runtime of its
/// own that ends once *its* requests are done during a graceful stop: a connection opened on
/// one worker and checked out by another would close under that other worker's request in
/// flight (`connection closed`, answered 500). So connections are opened on the runtime that
/// built the pool, which outlives the server (the process's main runtime, or a background
/// worker's own); a pool built outside any runtime opens them where they are first needed.
pub fn connect(settings: &DatabaseSettings) -> Result<DbPool, ConnectError> {
    connect_to(
        settings.url.expose_secret(),
        settings.max_connections,
        Duration::from_secs(settings.acquire_timeout_secs),
    )
}

/// Builds a pool of up to `size` connections to `url`, waiting at most `timeout` for one (to be
/// returned or opened).
pub(crate) fn connect_to(
    url: &str,
    size: usize,
    timeout: Duration,
) -> Result<DbPool, ConnectError> {
    let mut config = ManagerConfig::default();
    let driver = tokio::runtime::Handle::try_current().ok();
    config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        match driver.clone() {
            Some(runtime) => Box::pin(async move {
                runtime
                    .spawn(async move { establish(&url).await })
                    .await
                    .map_err(|error| diesel::ConnectionError::BadConnection(error.to_string()))?
            }),
            None => Box::pin(async move { establish(&url).await }),
        }
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .build()?)
}

/// Creates the database named in `url` when it does not exist, connecting to the server's
/// `postgres` maintenance database to do so. Returns true when it created one.
pub async fn ensure_database_exists(url: &str) -> Result<bool, ConnectError> {
    let mut parsed = Url::parse(url).map_err(|e| ConnectError::InvalidUrl(e.to_string()))?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty() || name == "postgres" {
        return Ok(false);
    }
    if establish(url).await.is_ok() {
        return Ok(false);
    }
    parsed.set_path("/postgres");
    let mut admin = establish(parsed.as_str()).await?;
    #[derive(diesel::QueryableByName)]
    struct Existing {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let existing: Existing =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(&name)
            .get_result(&mut admin)
            .await?;
    if existing.exists {
        return Ok(false);
    }
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    diesel::sql_query(format!("CREATE DATABASE {quoted}"))
        .execute(&mut admin)
        .await?;
    Ok(true)
}
