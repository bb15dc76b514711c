//! Benchmark of the in-memory graph at scale: load, memory, PageRank, neighbourhoods, paths.
//!
//! ```sh
//! KG_GRAPH_BENCH_NODES=1000000 cargo bench -p kg-graph --bench graph
//! ```
//!
//! Builds a deterministic synthetic graph of N artifacts (default 100,000) in 200 convergences
//! (one in ten private) and about 5N relationships: 70% inside the source's convergence, 30%
//! anywhere, targets skewed towards a few popular artifacts, 5% doubled by a parallel
//! relationship of another kind. Then times each operation and prints a report. Timings are
//! single runs or percentiles over many queries; nothing here asserts on time.

#![allow(missing_docs)]

use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use kg_graph::{
    Access, Artifact, ArtifactKind, Direction, ExportFormat, GraphStore, KnowledgeGraph, Mutation,
    NeighborhoodQuery, PageRankParams, PathQuery, Relationship, RelationshipKind,
    RelationshipKindSet, Visibility,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

const CONVERGENCES: usize = 200;
const QUERIES: usize = 1_000;

fn main() {
    let n: usize = std::env::var("KG_GRAPH_BENCH_NODES")
        .ok()
        .and_then(|value| value.replace('_', "").parse().ok())
        .unwrap_or(100_000);
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    println!(
        "kg-graph benchmark: {n} artifacts, ~{} relationships",
        5 * n
    );

    let rss_before = rss_bytes();
    let started = Instant::now();
    let (convergences, artifacts, relationships) = generate(&mut rng, n);
    println!(
        "generate input:             {:>9.0} ms ({} relationships)",
        ms(started.elapsed()),
        relationships.len()
    );

    let started = Instant::now();
    let mut graph = KnowledgeGraph::with_capacity(artifacts.len(), relationships.len());
    for (id, visibility) in &convergences {
        graph.upsert_convergence(*id, *visibility);
    }
    let ids: Vec<Uuid> = artifacts.iter().map(|a| a.id).collect();
    for artifact in artifacts {
        graph.upsert_artifact(artifact);
    }
    let nodes_loaded = started.elapsed();
    let edge_ids: Vec<Uuid> = relationships.iter().map(|r| r.id).collect();
    for relationship in relationships {
        if let Err(error) = graph.upsert_relationship(relationship) {
            panic!("synthetic relationship refused: {error}");
        }
    }
    let loaded = started.elapsed();
    let rss_after = rss_bytes();
    println!(
        "load (upserts, no lock):    {:>9.0} ms (artifacts {:.0} ms, relationships {:.0} ms) → {:.2} M rows/s",
        ms(loaded),
        ms(nodes_loaded),
        ms(loaded - nodes_loaded),
        (graph.artifact_count() + graph.relationship_count()) as f64 / loaded.as_secs_f64() / 1e6
    );
    let usage = graph.memory_usage();
    println!(
        "memory estimate:            {:>9.1} MiB total; {:.0} B/artifact, {:.0} B/relationship",
        mib(usage.total_bytes()),
        usage.bytes_per_node(),
        usage.bytes_per_edge()
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        // The inputs were consumed by the load; the id lists kept for the queries are not graph.
        let kept = (ids.capacity() + edge_ids.capacity()) * std::mem::size_of::<Uuid>();
        let growth = after.saturating_sub(before).saturating_sub(kept);
        println!(
            "resident set growth:        {:>9.1} MiB ({:.0} B/artifact+5 relationships; allocator's view)",
            mib(growth),
            growth as f64 / n as f64
        );
    }

    let store = GraphStore::from_graph(graph, Some(0));
    let public = Access::PUBLIC;

    // Whole-graph computations.
    let started = Instant::now();
    let snapshot = store.snapshot(&Access::All, None);
    let copy = started.elapsed();
    println!(
        "snapshot copy (read lock):  {:>9.1} ms ({} nodes, {} edges)",
        ms(copy),
        snapshot.node_count(),
        snapshot.edge_count()
    );
    // PageRank on that snapshot: the time includes building the CSR in-adjacency; "total"
    // adds the copy. networkx's stopping rule is `L1 change < n × tolerance`, so at this size
    // tolerance 1e-6 stops almost at once; `tolerance = 1e-6 / n` asks for L1 change < 1e-6.
    let mut runs: Vec<(bool, usize, Duration)> = Vec::new();
    for (label, tolerance, weighted) in [
        ("pagerank tol 1e-6", 1e-6, false),
        ("pagerank tol 1e-6 weighted", 1e-6, true),
        ("pagerank L1 < 1e-6", 1e-6 / n as f64, false),
        ("pagerank L1 < 1e-6 weighted", 1e-6 / n as f64, true),
    ] {
        let params = PageRankParams {
            tolerance,
            max_iterations: 1_000,
            weighted,
            ..PageRankParams::default()
        };
        let started = Instant::now();
        match snapshot.pagerank(&params) {
            Ok(ranks) => {
                let elapsed = started.elapsed();
                runs.push((weighted, ranks.iterations(), elapsed));
                println!(
                    "{label:<28}{:>9.0} ms compute, {:.0} ms total with the copy, {} iterations",
                    ms(elapsed),
                    ms(elapsed + copy),
                    ranks.iterations()
                );
            }
            Err(error) => println!("{label:<28} failed: {error}"),
        }
    }
    for weighted in [false, true] {
        let pair: Vec<&(bool, usize, Duration)> =
            runs.iter().filter(|run| run.0 == weighted).collect();
        if let [loose, strict] = pair[..]
            && strict.1 > loose.1
        {
            let per_iteration = (strict.2.saturating_sub(loose.2)) / (strict.1 - loose.1) as u32;
            let setup = loose.2.saturating_sub(per_iteration * loose.1 as u32);
            println!(
                "  {}: ~{:.1} ms per iteration, ~{:.0} ms CSR build",
                if weighted { "weighted" } else { "unweighted" },
                ms(per_iteration),
                ms(setup)
            );
        }
    }
    // End to end through the store, as a handler would call it (unweighted: no weights copied).
    for (label, tolerance, threads) in [
        ("store.pagerank tol 1e-6", 1e-6, 1),
        ("store.pagerank L1 < 1e-6", 1e-6 / n as f64, 1),
        ("  same, 2 threads", 1e-6 / n as f64, 2),
    ] {
        let params = PageRankParams {
            tolerance,
            max_iterations: 1_000,
            threads,
            ..PageRankParams::default()
        };
        let started = Instant::now();
        let outcome = store.pagerank(&Access::All, None, &params);
        let elapsed = started.elapsed();
        match outcome {
            Ok(ranks) => println!(
                "{label:<28}{:>9.0} ms end to end, {} iterations, top score {:.2e}",
                ms(elapsed),
                ranks.iterations(),
                ranks.top(1).first().map_or(0.0, |r| r.score)
            ),
            Err(error) => println!("{label:<28} failed: {error}"),
        }
    }
    let started = Instant::now();
    let degrees = store.degree_centrality(&Access::All, None);
    let top = degrees.top(10, kg_graph::DegreeOrder::In);
    println!(
        "degree centrality:          {:>9.0} ms (top in-degree {})",
        ms(started.elapsed()),
        top.first().map_or(0, |d| d.in_degree)
    );
    let started = Instant::now();
    let components = store.weakly_connected_components(&Access::All, None);
    println!(
        "weakly connected comps:     {:>9.0} ms ({} components, largest {})",
        ms(started.elapsed()),
        components.count(),
        components.sizes().next().unwrap_or(0)
    );
    // The export, with a writer applying empty batches meanwhile: its longest wait is how
    // long the export held the read lock (the copy; sorting and writing happen after).
    let exporting = std::sync::atomic::AtomicBool::new(true);
    let (export, export_copy, longest_wait) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut longest = Duration::ZERO;
            while exporting.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                store.apply(Vec::new(), None);
                longest = longest.max(started.elapsed());
                std::thread::sleep(Duration::from_micros(200));
            }
            longest
        });
        let started = Instant::now();
        let export = store.export(&public, None);
        let elapsed = started.elapsed();
        exporting.store(false, std::sync::atomic::Ordering::Relaxed);
        let longest = writer.join().unwrap_or_default();
        (export, elapsed, longest)
    });
    let started = Instant::now();
    let mut sink = BufWriter::new(CountingSink(0));
    if let Err(error) = export.write(ExportFormat::GraphMl, &mut sink) {
        panic!("export failed: {error}");
    }
    let written = sink.into_inner().map_or(0, |s| s.0);
    println!(
        "export public (GraphML):    {:>9.0} ms copy and sort + {:.0} ms write, {:.0} MiB; \
         a writer waited at most {:.0} ms",
        ms(export_copy),
        ms(started.elapsed()),
        mib(written),
        ms(longest_wait)
    );

    // Local queries, on what an anonymous caller sees.
    let visible: Vec<Uuid> = store.read_with(|g| {
        ids.iter()
            .copied()
            .filter(|id| g.artifact(&public, *id).is_some())
            .collect()
    });
    let pick = |rng: &mut ChaCha8Rng| visible[rng.random_range(0..visible.len())];
    for direction in [Direction::Out, Direction::Both] {
        for depth in 1..=3 {
            let mut times = Vec::with_capacity(QUERIES);
            let (mut sizes, mut truncated) = (0, 0);
            for _ in 0..QUERIES {
                let query = NeighborhoodQuery {
                    center: pick(&mut rng),
                    depth,
                    direction,
                    kinds: RelationshipKindSet::all(),
                    limit: 10_000,
                };
                let started = Instant::now();
                let result = store.neighborhood(&public, &query);
                times.push(started.elapsed());
                if let Ok(found) = result {
                    sizes += found.nodes.len();
                    truncated += usize::from(found.truncated);
                }
            }
            report(
                &format!("neighbourhood {depth}-hop {direction}"),
                &mut times,
                &format!(
                    "mean {:.0} nodes, {truncated} truncated at 10,000",
                    sizes as f64 / QUERIES as f64
                ),
            );
        }
    }
    for weighted in [false, true] {
        for direction in [Direction::Out, Direction::Both] {
            let mut times = Vec::with_capacity(QUERIES);
            let (mut found, mut hops) = (0, 0);
            for _ in 0..QUERIES {
                let query = PathQuery {
                    from: pick(&mut rng),
                    to: pick(&mut rng),
                    direction,
                    weighted,
                };
                let started = Instant::now();
                let result = store.shortest_path(&public, &query);
                times.push(started.elapsed());
                if let Ok(Some(path)) = result {
                    found += 1;
                    hops += path.hops;
                }
            }
            report(
                &format!(
                    "path {} {direction}",
                    if weighted { "weighted" } else { "hops" }
                ),
                &mut times,
                &format!(
                    "{found} found, mean {:.1} hops",
                    hops as f64 / found.max(1) as f64
                ),
            );
        }
    }

    // Write sections: a follower's batch of 1,000 changes on the full graph.
    let mut times = Vec::new();
    for round in 0..20u64 {
        let mut batch = Vec::with_capacity(1_000);
        for k in 0..500u64 {
            let id = Uuid::from_u64_pair(u64::MAX - round, k);
            batch.push(Mutation::UpsertArtifact(Artifact {
                id,
                convergence: convergences[0].0,
                kind: ArtifactKind::Idea,
                title: format!("fresh artifact {round}/{k}"),
            }));
            batch.push(Mutation::UpsertRelationship(Relationship {
                id: Uuid::from_u64_pair(u64::MAX - 1_000 - round, k),
                source: id,
                target: pick(&mut rng),
                kind: RelationshipKind::Supports,
                weight: 0.5,
            }));
        }
        let removal = Mutation::RemoveRelationship(edge_ids[rng.random_range(0..edge_ids.len())]);
        batch[999] = removal;
        let started = Instant::now();
        let outcome = store.apply(batch, Some(round as i64 + 1));
        times.push(started.elapsed());
        assert!(
            outcome.rejected.is_empty(),
            "{:?}",
            outcome.rejected.first()
        );
    }
    report("apply batch of 1,000", &mut times, "write-lock hold time");
}

fn report(label: &str, times: &mut [Duration], note: &str) {
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<28}p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  ({note})",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0))
    );
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The process's resident set size (Linux), for comparison with the estimate.
fn rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Counts bytes written and discards them.
struct CountingSink(usize);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Input = (Vec<(Uuid, Visibility)>, Vec<Artifact>, Vec<Relationship>);

fn generate(rng: &mut ChaCha8Rng, n: usize) -> Input {
    // UUIDv7-like ids, as the node makes them: a millisecond timestamp, then random bits.
    let mut millis = 1_767_225_600_000u64;
    let mut v7 = |rng: &mut ChaCha8Rng| {
        millis += rng.random_range(0..3);
        uuid::Builder::from_unix_timestamp_millis(millis, &rng.random()).into_uuid()
    };
    let convergences: Vec<(Uuid, Visibility)> = (0..CONVERGENCES)
        .map(|c| {
            let visibility = if c % 10 == 9 {
                Visibility::Private
            } else {
                Visibility::Public
            };
            (v7(rng), visibility)
        })
        .collect();
    const WORDS: [&str; 12] = [
        "garden", "seed", "library", "water", "rota", "north", "lot", "compost", "solar", "market",
        "council", "bike",
    ];
    let block = n.div_ceil(CONVERGENCES).max(1);
    let artifacts: Vec<Artifact> = (0..n)
        .map(|i| {
            let words: Vec<&str> = (0..rng.random_range(3..8))
                .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                .collect();
            Artifact {
                id: v7(rng),
                convergence: convergences[i / block].0,
                kind: ArtifactKind::ALL[rng.random_range(0..ArtifactKind::ALL.len())],
                title: format!("Artifact {i}: {}", words.join(" ")),
            }
        })
        .collect();
    let target_edges = 5 * n;
    let mut relationships = Vec::with_capacity(target_edges + target_edges / 16);
    while relationships.len() < target_edges && n > 1 {
        let source = rng.random_range(0..n);
        let u: f64 = rng.random();
        let target = if rng.random_bool(0.7) {
            let start = (source / block) * block;
            let len = block.min(n - start);
            start + ((u * u) * len as f64) as usize
        } else if rng.random_bool(0.5) {
            ((u * u * u) * n as f64) as usize
        } else {
            rng.random_range(0..n)
        };
        if source == target {
            continue;
        }
        let kind = rng.random_range(0..RelationshipKind::ALL.len());
        let copies = if rng.random_bool(0.05) { 2 } else { 1 };
        for copy in 0..copies {
            relationships.push(Relationship {
                id: v7(rng),
                source: artifacts[source].id,
                target: artifacts[target].id,
                kind: RelationshipKind::ALL[(kind + copy * 3) % RelationshipKind::ALL.len()],
                weight: rng.random_range(1..=1000) as f64 / 1000.0,
            });
        }
    }
    (convergences, artifacts, relationships)
}
