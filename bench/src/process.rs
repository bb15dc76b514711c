//! The node under test as a `kgnode serve` process of its own, so that its memory and CPU time
//! are measured apart from the benchmark's clients.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::BenchError;

/// `sysconf(_SC_CLK_TCK)`, the unit of `/proc/{pid}/stat` CPU times: 100 on every Linux
/// architecture the node runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// How long the node may take to log its address and become ready.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `kgnode serve`, stopped with SIGTERM when dropped.
pub(crate) struct NodeProcess {
    child: Child,
    /// `http://localhost:{port}/api/v1`.
    pub(crate) api: String,
    data_dir: PathBuf,
}

impl NodeProcess {
    /// Starts the `kgnode` binary built next to this one on `database_url`, with a fresh data
    /// directory, and waits until `/readyz` answers 200. With `cpus` (a `taskset` list such as
    /// `0`), it runs on those cores only.
    pub(crate) async fn start(
        database_url: &str,
        data_dir: PathBuf,
        env: &[(&str, String)],
        cpus: Option<&str>,
    ) -> Result<Self, BenchError> {
        let binary = std::env::current_exe()?
            .parent()
            .map(|dir| dir.join("kgnode"))
            .filter(|path| path.exists())
            .ok_or_else(|| {
                BenchError::NodeProcess(
                    "no kgnode binary beside kgnode-bench: run `cargo build --release -p kgnode`"
                        .into(),
                )
            })?;
        // taskset executes the node in its own place: the child's id is the node's.
        let mut command = match cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", cpus]).arg(binary);
                taskset
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            .env("DATABASE_URL", database_url)
            .env("KGNODE_LOG__FORMAT", "json")
            .env("KGNODE_LOG__FILTER", "warn,kgnode::startup=info")
            .env("KGNODE_METRICS__BIND", "")
            .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| BenchError::NodeProcess("no stderr".into()))?;
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        // Reads the log until the listening line, then drains it so the node never blocks.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if parsed["fields"]["message"] == "kgnode listening"
                    && let Some(address) = parsed["fields"]["address"].as_str()
                {
                    let _ = address_tx.send(address.to_owned());
                } else if parsed["level"] == "ERROR" || parsed["level"] == "WARN" {
                    eprintln!("node: {line}");
                }
            }
        });
        let address = tokio::task::spawn_blocking(move || address_rx.recv_timeout(START_TIMEOUT))
            .await
            .map_err(|error| BenchError::NodeProcess(error.to_string()))?
            .map_err(|_| BenchError::NodeProcess("the node did not log its address".into()))?;
        let port = address.rsplit(':').next().unwrap_or_default().to_owned();
        let node = Self {
            child,
            api: format!("http://localhost:{port}/api/v1"),
            data_dir,
        };
        node.wait_until_ready().await?;
        Ok(node)
    }

    async fn wait_until_ready(&self) -> Result<(), BenchError> {
        let client = reqwest::Client::new();
        let readyz = self.api.replace("/api/v1", "/readyz");
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Ok(response) = client.get(&readyz).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BenchError::NotReady(START_TIMEOUT))
    }

    /// Its resident memory, from `/proc/{pid}/status`.
    pub(crate) fn resident_bytes(&self) -> Result<u64, BenchError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
            .ok_or_else(|| BenchError::NodeProcess("no VmRSS in /proc status".into()))
    }

    /// CPU time it has used so far, user and system, from `/proc/{pid}/stat`.
    pub(crate) fn cpu_seconds(&self) -> Result<f64, BenchError> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which is in parentheses and may hold spaces): utime
        // and stime are the 12th and 13th of them, in clock ticks.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |index: usize| {
            fields
                .get(index)
                .and_then(|value| value.parse::<u64>().ok())
                .ok_or_else(|| BenchError::NodeProcess("no CPU times in /proc stat".into()))
        };
        Ok((ticks(11)? + ticks(12)?) as f64 / CLOCK_TICKS_PER_SECOND)
    }

    /// Stops it with SIGTERM, waits for it and removes its data directory.
    pub(crate) fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        crate::common::remove_dir(self.data_dir.clone());
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}
