//! `kgnode-bench portability`: a convergence of `--artifacts` synthetic artifacts, COPY-loaded,
//! exported through the node's export (JSON-LD, in process, to a file) and imported into a
//! fresh database through the node's import; next to `pg_dump -Fc` of the same tables and the
//! COPY load of the same rows, in the same run. Rates count artifacts plus relationships per
//! second; memory is this process's resident set, sampled every 20 ms, above what it was
//! before each phase.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt;
use kgnode::auth::Caller;
use kgnode::service::export::{ExportFormat, export};
use kgnode::service::import::{ImportOptions, import};
use serde::Serialize;

use crate::common::{
    BenchError, DatasetArgs, SLUG, Server, ServerArgs, mebibytes, print_report, quotient,
    resident_bytes,
};
use crate::copy::load_with_copy;

/// Options of `portability`.
#[derive(Debug, Args)]
pub(crate) struct PortabilityArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// One timed phase.
#[derive(Debug, Serialize)]
struct Rate {
    seconds: f64,
    /// Artifacts plus relationships per second.
    objects_per_second: f64,
    /// Resident-set growth during the phase, MiB.
    rss_growth_mib: f64,
}

#[derive(Debug, Serialize)]
struct PortabilityReport {
    artifacts: usize,
    relationships: u64,
    export_bytes: u64,
    copy_load: Rate,
    pg_dump: Rate,
    export: Rate,
    import: Rate,
    export_vs_pg_dump: f64,
    import_vs_copy: f64,
}

impl fmt::Display for PortabilityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} artifacts, {} relationships; export {:.1} MiB",
            self.artifacts,
            self.relationships,
            mebibytes(self.export_bytes)
        )?;
        for (name, rate) in [
            ("COPY load", &self.copy_load),
            ("pg_dump -Fc", &self.pg_dump),
            ("export (JSON-LD)", &self.export),
            ("import (JSON-LD)", &self.import),
        ] {
            writeln!(
                f,
                "{name:<18} {:>8.2} s  {:>10.0} objects/s  RSS +{:.1} MiB",
                rate.seconds, rate.objects_per_second, rate.rss_growth_mib
            )?;
        }
        writeln!(
            f,
            "export / pg_dump {:.2}x, import / COPY {:.2}x",
            self.export_vs_pg_dump, self.import_vs_copy
        )
    }
}

/// Samples the resident set until stopped; answers the peak above the start.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    start: u64,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let start = resident_bytes();
        let peak = Arc::new(AtomicU64::new(start));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(resident_bytes(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Self {
            stop,
            peak,
            start,
            thread,
        }
    }

    fn finish(self, elapsed: Duration, objects: f64) -> Rate {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let growth = self.peak.load(Ordering::Relaxed).saturating_sub(self.start);
        rate(elapsed, objects, growth)
    }
}

fn rate(elapsed: Duration, objects: f64, growth: u64) -> Rate {
    Rate {
        seconds: elapsed.as_secs_f64(),
        objects_per_second: quotient(objects, elapsed.as_secs_f64()),
        rss_growth_mib: mebibytes(growth),
    }
}

pub(crate) async fn portability_command(args: PortabilityArgs) -> Result<(), BenchError> {
    let server = Server::new(&args.server.database_url)?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (source, target) = (
        format!("kgbench_export_{run}"),
        format!("kgbench_import_{run}"),
    );
    let outcome = bench(&args, &server, &source, &target).await;
    if !args.server.keep {
        server.drop_database(&source).await?;
        server.drop_database(&target).await?;
    }
    print_report(&outcome?, args.json)
}

async fn bench(
    args: &PortabilityArgs,
    server: &Server,
    source: &str,
    target: &str,
) -> Result<PortabilityReport, BenchError> {
    let config = args.dataset.config();
    for database in [source, target] {
        server.create_database(database).await?;
        kgnode::db::run_pending(&server.database_url(database)).await?;
    }
    let sampler = RssSampler::start();
    let started = Instant::now();
    let (pass, _) = load_with_copy(&config, 1000, server, source, &mut |_| {}).await?;
    let objects = config.artifacts as f64 + pass.relationships as f64;
    let copy_load = sampler.finish(started.elapsed(), objects);

    let dump = std::env::temp_dir().join(format!("{source}.dump"));
    let started = Instant::now();
    let status = std::process::Command::new("pg_dump")
        .args([
            "-Fc",
            "-t",
            "convergences",
            "-t",
            "artifacts",
            "-t",
            "artifact_dimensions",
        ])
        .args(["-t", "artifact_relationships", "-f"])
        .arg(&dump)
        .arg(server.database_url(source))
        .status()?;
    let pg_dump = rate(started.elapsed(), objects, 0);
    std::fs::remove_file(&dump)?;
    if !status.success() {
        return Err(BenchError::NodeProcess(format!("pg_dump failed: {status}")));
    }

    let file = std::env::temp_dir().join(format!("{source}.jsonld"));
    let caller = Caller::system();
    let base = url::Url::parse("http://localhost:8080")?;
    let pool = pool(server, source)?;
    let sampler = RssSampler::start();
    let started = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    let conn = pool.get().await.map_err(kgnode::error::Error::from)?;
    let mut chunks =
        std::pin::pin!(export(conn, caller.clone(), SLUG, ExportFormat::Jsonld, &base).await?);
    let mut export_bytes = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        export_bytes += chunk.len() as u64;
        out.write_all(&chunk)?;
    }
    out.flush()?;
    let export = sampler.finish(started.elapsed(), objects);

    let pool = self::pool(server, target)?;
    let sampler = RssSampler::start();
    let started = Instant::now();
    let bytes = std::fs::read(&file)?;
    let parsed = kgnode::portability::read::read_document(&bytes)?;
    drop(bytes);
    let mut conn = pool.get().await.map_err(kgnode::error::Error::from)?;
    let report = import(&mut conn, &caller, parsed, ImportOptions::default()).await?;
    let import = sampler.finish(started.elapsed(), objects);
    std::fs::remove_file(&file)?;
    if report.artifacts.created != config.artifacts as u64 {
        return Err(BenchError::NodeProcess(format!(
            "the import created {} of {} artifacts",
            report.artifacts.created, config.artifacts
        )));
    }
    Ok(PortabilityReport {
        artifacts: config.artifacts,
        relationships: pass.relationships,
        export_bytes,
        export_vs_pg_dump: quotient(export.objects_per_second, pg_dump.objects_per_second),
        import_vs_copy: quotient(import.objects_per_second, copy_load.objects_per_second),
        copy_load,
        pg_dump,
        export,
        import,
    })
}

/// A small node pool on `database`.
fn pool(server: &Server, database: &str) -> Result<kgnode::db::DbPool, BenchError> {
    let mut settings = kgnode::config::Settings::defaults()?.database;
    settings.url = secrecy::SecretString::from(server.database_url(database));
    settings.max_connections = 4;
    Ok(kgnode::db::connect(&settings)?)
}
