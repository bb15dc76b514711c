//! Structured logs with `tracing`: every request runs in a span carrying its request id, and the
//! span's close event reports its latency.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber writing to `sink`. `RUST_LOG`, when set, replaces the configured
/// filter. Installing twice (tests) keeps the first subscriber.
pub fn init<W>(settings: &LogSettings, sink: W)
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink)
        .with_span_events(FmtSpan::CLOSE);
    let installed = match settings.format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // An error here only means a subscriber is already installed, which is fine.
    drop(installed);
}
