//! The `kgnode` command line.

mod accounts;
mod portability;

pub use accounts::{ParticipantAction, TokenAction};

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::ExposeSecret;

use crate::auth::TokenError;
use crate::config::{Overrides, Settings, SettingsError};
use crate::db::{self, ConnectError, MigrationError};
use crate::domain::InvalidValue;
use crate::federating::admin::follow_remote;
use crate::federating::{FederationContext, FederationError, federation_config};
use crate::indexing::{IndexingError, index_settings, reindex, verify_index};
use crate::jobs::JobState;
use crate::service::jobs as job_service;
use crate::startup::{Application, StartupError};
use crate::telemetry;

/// A federated knowledge-graph node.
#[derive(Debug, Parser)]
#[command(name = "kgnode", version, about)]
pub struct Cli {
    /// A settings file layered over the defaults (see config/example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// PostgreSQL connection URL.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, global = true, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Directory for node-local state (search index, keys).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Base URL under which the node is reachable.
    #[arg(long, global = true, value_name = "URL")]
    pub public_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node: create and migrate the database as configured, then serve HTTP.
    Serve,
    /// Manage the database schema.
    Migrate {
        /// What to do; `run` when omitted.
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Rebuild the search index from PostgreSQL and swap it in atomically (stop the node
    /// first).
    Reindex,
    /// Inspect the search index.
    Index {
        /// What to do.
        #[command(subcommand)]
        action: IndexAction,
    },
    /// Follow a remote public convergence (its actor URL, e.g. https://peer/c/slug, or
    /// slug@peer); the running node then receives its artifacts and relationships.
    Follow {
        /// The remote convergence.
        target: String,
    },
    /// Manage service tokens.
    Token {
        /// What to do.
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Manage participants' accounts.
    Participant {
        /// What to do.
        #[command(subcommand)]
        action: ParticipantAction,
    },
    /// Write a convergence out as JSON-LD with every field (to standard output without
    /// --out).
    Export {
        /// The convergence's slug.
        #[arg(long)]
        convergence: String,
        /// `jsonld` (one document) or `ndjson` (one object per line).
        #[arg(long, default_value = "jsonld", value_parser = portability::parse_format)]
        format: crate::service::export::ExportFormat,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Import an export file (`.ndjson`/`.jsonl`: NDJSON; else JSON-LD) in one transaction;
    /// importing the same file again changes nothing.
    Import {
        /// The export file.
        file: PathBuf,
        /// Import into this convergence (created when missing) instead of the file's.
        #[arg(long = "as", value_name = "SLUG")]
        into: Option<String>,
        /// Check and count everything, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Inspect and manage the job queue (extractions).
    Jobs {
        /// What to do.
        #[command(subcommand)]
        action: JobsAction,
    },
}

/// Job-queue actions.
#[derive(Debug, Subcommand)]
pub enum JobsAction {
    /// List jobs, newest first, with counts per state.
    List {
        /// Only jobs in this state (queued, running, succeeded, failed).
        #[arg(long)]
        state: Option<String>,
        /// Most jobs listed.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Queue a failed job again with fresh attempts.
    Retry {
        /// The job's id.
        id: uuid::Uuid,
    },
    /// Discard a job that is not running (its unfinished contribution fails).
    Discard {
        /// The job's id.
        id: uuid::Uuid,
    },
}

/// Schema actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Run,
    /// Revert the most recent migrations.
    Revert {
        /// How many to revert.
        #[arg(long, default_value_t = 1, conflicts_with = "all")]
        steps: usize,
        /// Revert all of them (drops every table of the node).
        #[arg(long)]
        all: bool,
        /// Confirm: reverting drops the tables and columns those migrations made, with their
        /// data. Nothing is reverted without it.
        #[arg(long)]
        yes: bool,
    },
    /// List applied and pending migrations.
    Status,
}

/// Search index actions.
#[derive(Debug, Subcommand)]
pub enum IndexAction {
    /// Compare the index with PostgreSQL (ids and versions); exit non-zero and list the
    /// differences if there are any.
    Verify,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Settings could not be loaded.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The node could not start or stopped with an error.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// The database could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A migration failed.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// A token could not be created.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The search index could not be rebuilt or read.
    #[error(transparent)]
    Indexing(#[from] IndexingError),
    /// The search index differs from PostgreSQL.
    #[error("the search index differs from PostgreSQL in {0} artifact(s)")]
    IndexDiffers(usize),
    /// An argument is invalid.
    #[error(transparent)]
    Argument(#[from] InvalidValue),
    /// Federation failed (the remote convergence could not be fetched, say).
    #[error(transparent)]
    Federation(#[from] FederationError),
    /// An operation on the node's data was refused or failed.
    #[error(transparent)]
    Node(#[from] crate::error::Error),
    /// Serving failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

impl Cli {
    fn overrides(&self) -> Overrides {
        Overrides {
            database_url: self.database_url.clone(),
            bind: self.bind.clone(),
            data_dir: self.data_dir.clone(),
            public_url: self.public_url.clone(),
        }
    }
}

/// Runs a parsed command line, writing its report to `out` (standard output for the binary).
pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref(), &cli.overrides())?;
    telemetry::init(&settings.log, std::io::stderr);
    let url = settings.database.url.expose_secret().to_owned();
    match cli.command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Migrate { action } => {
            migrate(&url, action.unwrap_or(MigrateAction::Run), out).await?;
        }
        Command::Follow { target } => {
            let context = FederationContext::connect(&settings)?;
            let config = federation_config(context).await?;
            let (follow, created) = follow_remote(
                &config.to_request_data(),
                &crate::auth::Caller::system(),
                &target,
            )
            .await?;
            let verb = if created {
                "now following"
            } else {
                "already following"
            };
            writeln!(
                out,
                "{verb} {} as convergence '{}' ({})",
                follow.group_url, follow.convergence, follow.state
            )?;
        }
        Command::Reindex => {
            let engine = index_settings(&settings.search).map_err(IndexingError::from)?;
            let mut conn = db::establish(&url).await.map_err(ConnectError::from)?;
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} artifacts ({per_sec}, {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let progress = |written: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(written);
            };
            let position = reindex(&mut conn, &settings.node.data_dir, engine, &progress).await?;
            bar.finish();
            writeln!(
                out,
                "search index rebuilt at change-log position {position}"
            )?;
        }
        Command::Index {
            action: IndexAction::Verify,
        } => {
            let engine = index_settings(&settings.search).map_err(IndexingError::from)?;
            let mut conn = db::establish(&url).await.map_err(ConnectError::from)?;
            let differences = verify_index(&mut conn, &settings.node.data_dir, engine).await?;
            for difference in &differences {
                writeln!(out, "{difference}")?;
            }
            if !differences.is_empty() {
                return Err(CliError::IndexDiffers(differences.len()));
            }
            writeln!(out, "the search index matches PostgreSQL")?;
        }
        Command::Export {
            convergence,
            format,
            out: file,
        } => {
            portability::export_command(&settings, &convergence, format, file.as_deref(), out)
                .await?
        }
        Command::Import {
            file,
            into,
            dry_run,
        } => portability::import_command(&settings, &file, into, dry_run, out).await?,
        Command::Token { action } => accounts::token(&settings, action, out).await?,
        Command::Participant { action } => {
            let stdin = std::io::stdin();
            accounts::participant(&settings, action, &mut stdin.lock(), out).await?
        }
        Command::Jobs { action } => jobs(&url, action, out).await?,
    }
    Ok(())
}

async fn jobs(url: &str, action: JobsAction, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let mut conn = db::establish(url).await.map_err(ConnectError::from)?;
    match action {
        JobsAction::List { state, limit } => {
            let state = state
                .map(|name| {
                    JobState::parse(&name)
                        .ok_or_else(|| InvalidValue(format!("unknown job state '{name}'")))
                })
                .transpose()?;
            for (state, count) in job_service::counts(&mut conn).await? {
                write!(out, "{}: {count}  ", state.as_str())?;
            }
            writeln!(out)?;
            for job in
                job_service::list(&mut conn, state, None, None, limit.clamp(1, 10_000)).await?
            {
                writeln!(
                    out,
                    "{}  {}  {}  attempt {}/{}  {}",
                    job.id,
                    job.kind,
                    job.state,
                    job.attempts,
                    job.max_attempts,
                    job.last_error.unwrap_or_default()
                )?;
            }
        }
        JobsAction::Retry { id } => {
            job_service::retry(&mut conn, &crate::auth::Caller::system(), id).await?;
            writeln!(out, "queued job {id} again")?;
        }
        JobsAction::Discard { id } => {
            job_service::discard(&mut conn, &crate::auth::Caller::system(), id).await?;
            writeln!(out, "discarded job {id}")?;
        }
    }
    Ok(())
}

async fn migrate(
    url: &str,
    action: MigrateAction,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    match action {
        MigrateAction::Run => {
            db::ensure_database_exists(url).await?;
            let applied = db::run_pending(url).await?;
            writeln!(out, "applied {} migration(s): {applied:?}", applied.len())?;
        }
        MigrateAction::Revert { steps, all, yes } => {
            if !yes {
                let what = if all {
                    "every migration (drops every table of the node and all its data)".to_owned()
                } else {
                    format!("{steps} migration(s) (drops what they created, with its data)")
                };
                return Err(InvalidValue(format!(
                    "this would revert {what}: add --yes to confirm"
                ))
                .into());
            }
            let reverted = db::revert(url, if all { None } else { Some(steps) }).await?;
            writeln!(
                out,
                "reverted {} migration(s): {reverted:?}",
                reverted.len()
            )?;
        }
        MigrateAction::Status => {
            let mut conn = db::establish(url).await.map_err(ConnectError::from)?;
            let applied = db::applied_versions(&mut conn)
                .await
                .map_err(ConnectError::from)?;
            for version in db::embedded_versions() {
                let state = if applied.contains(&version) {
                    "applied"
                } else {
                    "pending"
                };
                writeln!(out, "{version}  {state}")?;
            }
        }
    }
    Ok(())
}
