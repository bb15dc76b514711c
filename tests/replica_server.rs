//! A real PostgreSQL streaming replica of the test server: `pg_basebackup -R` of the whole
//! cluster into a temporary directory, started with `pg_ctl` on a free port, stopped and removed
//! when dropped (or, for the one shared by the test binary, by a watchdog once the binary has
//! exited).
//!
//! The test server needs `replication` lines in its `pg_hba.conf` for 127.0.0.1 (`.ci/run`
//! adds them). PostgreSQL refuses to run as root, so as root the tools run as `postgres`.
//! Databases that tests create on the primary appear on the replica once it has replayed their
//! creation; dropped ones disappear the same way.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use url::Url;

use crate::harness::{eventually, server_url};

/// A running replica; stopped and its directory removed on drop.
pub struct ReplicaServer {
    dir: PathBuf,
    port: u16,
    tools: Tools,
    watchdog: Child,
}

/// The replica every test of this binary may share: started on first use (a base backup costs
/// seconds), stopped by its watchdog after the binary ends. Tests that pause its replay hold
/// [`replay_lock`] meanwhile.
pub async fn shared_replica() -> &'static ReplicaServer {
    static SHARED: OnceLock<ReplicaServer> = OnceLock::new();
    tokio::task::spawn_blocking(|| SHARED.get_or_init(ReplicaServer::start))
        .await
        .expect("replica start-up thread")
}

/// Held by a test that pauses the shared replica's replay, or that needs it to keep replaying.
pub async fn replay_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The PostgreSQL programs of the test server's version, run as `postgres` when we are root.
#[derive(Clone)]
struct Tools {
    bin: PathBuf,
    as_postgres: bool,
}

impl Tools {
    fn find() -> Self {
        let version = psql(&server_url(), "SHOW server_version_num");
        let major = version.trim().parse::<u32>().expect("server_version_num") / 10_000;
        let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
        let bin = if debian.join("pg_ctl").exists() {
            debian
        } else {
            PathBuf::new()
        };
        let as_postgres = std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0);
        Self { bin, as_postgres }
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// The shell words that stop the server in `data` at once.
    fn stop_words(&self, data: &Path) -> String {
        let prefix = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{prefix}'{}' -D '{}' -m immediate -w stop",
            self.bin.join("pg_ctl").display(),
            data.display()
        )
    }
}

/// Runs one query with `psql` and returns its unaligned output.
fn psql(url: &Url, query: &str) -> String {
    let output = Command::new("psql")
        .arg(url.as_str())
        .args(["-tAXc", query])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "psql {query}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn run(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl ReplicaServer {
    /// Takes a base backup of the test server and starts it as a hot standby streaming from it;
    /// returns once it accepts connections and is in recovery. Blocking.
    pub fn start() -> Self {
        let tools = Tools::find();
        let dir = std::env::temp_dir().join(format!("kgreplica-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).expect("replica directory");
        if tools.as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(&dir);
            run(chown, "chown the replica directory");
        }
        let data = dir.join("data");
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 \"$0\" 2>/dev/null; do sleep 1; done; {} >/dev/null 2>&1; rm -rf '{}'",
                tools.stop_words(&data),
                dir.display()
            ))
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("watchdog starts");
        let primary = server_url();
        let mut backup = tools.command("pg_basebackup");
        backup
            .arg("-D")
            .arg(&data)
            .args(["-h", primary.host_str().unwrap_or("127.0.0.1")])
            .args(["-p", &primary.port().unwrap_or(5432).to_string()])
            .args(["-U", primary.username()])
            // Write recovery settings, stream the WAL it needs, checkpoint at once, skip fsync.
            .args(["-R", "-X", "stream", "-c", "fast", "-N"]);
        run(
            backup,
            "pg_basebackup (needs a replication line in pg_hba.conf)",
        );
        let port = free_port();
        // A hot standby needs these at least as high as on the primary.
        let inherited = psql(
            &primary,
            "SELECT string_agg(name || ' = ' || setting, E'\\n') FROM pg_settings WHERE name IN \
             ('max_connections', 'max_worker_processes', 'max_wal_senders', \
              'max_prepared_transactions', 'max_locks_per_transaction')",
        );
        let settings = format!(
            "\n{inherited}\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nhot_standby = on\nhot_standby_feedback = on\n\
             shared_buffers = 32MB\nfsync = off\n",
            dir.display()
        );
        // Debian keeps the configuration outside the data directory: give the copy its own.
        // The settings go last in postgresql.auto.conf, after what the primary's ALTER SYSTEM
        // and pg_basebackup -R wrote, so they win.
        let mut auto = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.auto.conf"))
            .expect("postgresql.auto.conf");
        std::io::Write::write_all(&mut auto, settings.as_bytes()).expect("replica settings");
        for (file, contents) in [
            ("postgresql.conf", ""),
            ("pg_ident.conf", ""),
            (
                "pg_hba.conf",
                "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            ),
        ] {
            std::fs::write(data.join(file), contents).expect("replica configuration");
        }
        if tools.as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("-R").arg("postgres:postgres").arg(&dir);
            run(chown, "chown the replica's files");
        }
        let mut start = tools.command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "start"]);
        run(start, "pg_ctl start (the replica)");
        let replica = Self {
            dir,
            port,
            tools,
            watchdog,
        };
        let in_recovery = psql(&replica.url_of("postgres"), "SELECT pg_is_in_recovery()");
        assert_eq!(in_recovery.trim(), "t", "the replica is a standby");
        replica
    }

    fn url_of(&self, database: &str) -> Url {
        let mut url = server_url();
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.port)).expect("port");
        url.set_path(&format!("/{database}"));
        url
    }

    /// The replica's URL for the database that `primary_url` names.
    pub fn url_for(&self, primary_url: &str) -> String {
        let primary = Url::parse(primary_url).expect("primary URL");
        self.url_of(primary.path().trim_start_matches('/'))
            .to_string()
    }

    /// Runs `statement` on the replica (as the server's superuser).
    pub async fn execute(&self, statement: &str) {
        let mut conn = AsyncPgConnection::establish(self.url_of("postgres").as_str())
            .await
            .expect("connect to the replica");
        diesel::sql_query(statement)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{statement} on the replica: {error}"));
    }

    /// Stops replaying the primary's WAL (it keeps receiving it), so reads on the replica see
    /// the past, until the guard is dropped.
    pub async fn pause_replay(&self) -> PausedReplay<'_> {
        self.execute("SELECT pg_wal_replay_pause()").await;
        eventually("the replica's replay to pause", || async {
            let mut conn = AsyncPgConnection::establish(self.url_of("postgres").as_str())
                .await
                .ok()?;
            #[derive(diesel::QueryableByName)]
            struct State {
                #[diesel(sql_type = diesel::sql_types::Text)]
                state: String,
            }
            let state: State = diesel::sql_query("SELECT pg_get_wal_replay_pause_state() AS state")
                .get_result(&mut conn)
                .await
                .ok()?;
            (state.state == "paused").then_some(())
        })
        .await;
        PausedReplay(self)
    }

    /// Stops the server now (its directory stays until drop).
    pub fn stop(&self) {
        let mut stop = Command::new("sh");
        stop.arg("-c")
            .arg(self.tools.stop_words(&self.dir.join("data")));
        run(stop, "pg_ctl stop (the replica)");
    }
}

impl Drop for ReplicaServer {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} >/dev/null 2>&1",
                self.tools.stop_words(&self.dir.join("data"))
            ))
            .status();
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A replica whose replay is paused; it replays again when this is dropped (also when the test
/// fails, so that the next test finds it replaying).
pub struct PausedReplay<'a>(&'a ReplicaServer);

impl Drop for PausedReplay<'_> {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(self.0.url_of("postgres").as_str())
            .args(["-qtAXc", "SELECT pg_wal_replay_resume()"])
            .stdout(Stdio::null())
            .status();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
