//! `kgnode export` and `kgnode import`: the API's export and import, straight on the database,
//! with progress on the terminal.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use crate::auth::Caller;
use crate::config::Settings;
use crate::db;
use crate::domain::Slug;
use crate::portability::read::{read_document, read_ndjson};
use crate::service::export::{ExportFormat, export};
use crate::service::import::{ImportOptions, ImportReport, import};

use super::CliError;

/// Parses `--format`.
pub fn parse_format(value: &str) -> Result<ExportFormat, String> {
    match value {
        "jsonld" => Ok(ExportFormat::Jsonld),
        "ndjson" => Ok(ExportFormat::Ndjson),
        other => Err(format!("'{other}' is neither jsonld nor ndjson")),
    }
}

fn progress(template: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Writes the export of `slug` to `out_file`, or to `out` when none is given.
pub async fn export_command(
    settings: &Settings,
    slug: &str,
    format: ExportFormat,
    out_file: Option<&Path>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let pool = db::connect(&settings.database)?;
    let caller = Caller::system();
    let conn = pool.get().await.map_err(crate::error::Error::from)?;
    let mut chunks =
        std::pin::pin!(export(conn, caller, slug, format, &settings.node.public_url).await?);
    let mut file = out_file.map(std::fs::File::create).transpose()?;
    let bar = progress("{spinner} {bytes} written ({bytes_per_sec}, {elapsed})");
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        match file.as_mut() {
            Some(file) => file.write_all(&chunk)?,
            None => out.write_all(&chunk)?,
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    if let Some(path) = out_file {
        eprintln!("exported '{slug}' to {}", path.display());
    }
    Ok(())
}

/// Imports `path` (NDJSON for `.ndjson`/`.jsonl` files, else a JSON-LD document).
pub async fn import_command(
    settings: &Settings,
    path: &PathBuf,
    into: Option<String>,
    dry_run: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let into = into.map(Slug::try_from).transpose()?;
    let bytes = std::fs::read(path)?;
    let is_ndjson = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("ndjson" | "jsonl")
    );
    let file = if is_ndjson {
        read_ndjson(&bytes)?
    } else {
        read_document(&bytes)?
    };
    let bar = progress(&format!(
        "{{spinner}} importing {} artifacts and {} relationships ({{elapsed}})",
        file.artifacts.len(),
        file.relationships.len()
    ));
    let pool = db::connect(&settings.database)?;
    let mut conn = pool.get().await.map_err(crate::error::Error::from)?;
    let caller = Caller::system();
    let report = import(&mut conn, &caller, file, ImportOptions { into, dry_run }).await?;
    bar.finish_and_clear();
    describe(&report, out)?;
    Ok(())
}

fn describe(report: &ImportReport, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
    let verb = if report.dry_run {
        "would import"
    } else {
        "imported"
    };
    let created = if report.convergence_created {
        " (created)"
    } else {
        ""
    };
    writeln!(out, "{verb} into '{}'{created}", report.convergence)?;
    let (a, r) = (&report.artifacts, &report.relationships);
    writeln!(
        out,
        "artifacts: {} created, {} updated, {} unchanged",
        a.created, a.updated, a.unchanged
    )?;
    writeln!(
        out,
        "relationships: {} created, {} unchanged",
        r.created, r.unchanged
    )?;
    for skipped in &report.skipped {
        writeln!(out, "skipped {}: {}", skipped.item, skipped.reason)?;
    }
    for unresolved in &report.unresolved {
        writeln!(
            out,
            "not stored {}: {} is neither in the file nor on this node",
            unresolved.relationship, unresolved.end
        )?;
    }
    Ok(())
}
