//! A set of Prometheus metrics held in memory and rendered in the text exposition format.

use std::sync::{Arc, Weak};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

/// Upper bounds of the latency histograms' buckets, in seconds: from a cached read (a
/// millisecond) to a large import (tens of seconds).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often recorded latencies are folded into their histograms.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Where the `metrics` crate's API wants to know a metric was registered.
const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// Metrics by name and labels.
///
/// Each node keeps its own sets instead of installing the `metrics` crate's process-wide
/// recorder: the test harness runs many nodes in one process, and their counts must not mix.
/// Nothing the node depends on records through the `metrics` macros, so nothing is missed.
pub struct MetricSet(PrometheusRecorder);

impl MetricSet {
    /// An empty set; its histograms are rendered with [`LATENCY_BUCKETS`].
    pub fn new() -> Self {
        // `set_buckets` refuses only an empty list.
        let builder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        Self(builder.build_recorder())
    }

    /// Gives the metric `name` its `# HELP` line.
    pub fn describe(&self, name: &'static str, help: &'static str) {
        // The recorder keeps one description per name, whatever the metric's kind.
        self.0
            .describe_gauge(KeyName::from_const_str(name), None, help.into());
    }

    /// The counter `name` with `labels`, created at 0 when new.
    pub fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.0
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    /// The histogram `name` with `labels`.
    pub fn histogram(&self, name: &'static str, labels: Vec<Label>) -> Histogram {
        self.0
            .register_histogram(&Key::from_parts(name, labels), &METADATA)
    }

    /// Sets the gauge `name` with `labels` to `value`.
    pub fn set_gauge(&self, name: &'static str, labels: Vec<Label>, value: f64) {
        let gauge: Gauge = self
            .0
            .register_gauge(&Key::from_parts(name, labels), &METADATA);
        gauge.set(value);
    }

    /// Everything recorded, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.0.handle().render()
    }

    /// Folds the latencies recorded so far into their histograms every few seconds, so that
    /// they do not pile up in memory between scrapes (or when nothing scrapes). Ends once the
    /// set is dropped.
    pub fn keep_up(self: &Arc<Self>) {
        let set: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                ticks.tick().await;
                match set.upgrade() {
                    Some(set) => set.0.handle().run_upkeep(),
                    None => break,
                }
            }
        });
    }
}
