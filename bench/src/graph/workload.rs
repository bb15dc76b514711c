//! The graph workload: neighbourhood centres and path pairs, drawn with a fixed seed.

use crate::synthetic::SyntheticArtifact;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use uuid::Uuid;

use super::{GraphArgs, QuerySet, Way};

/// ChaCha stream of the graph workload; the generator's streams have top bytes 0 to 2, the
/// search workload's 0xFE and 0xFF.
const GRAPH_STREAM: u64 = 0xFD << 56;
/// Deepest neighbourhood measured.
const DEPTHS: std::ops::RangeInclusive<u8> = 1..=3;
/// Steps of the random walk that picks a near path's target.
const WALK_STEPS: std::ops::RangeInclusive<usize> = 2..=4;

/// A kind of query, measured separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum QueryKind {
    /// `GET /graph/neighborhood/{id}?depth=&direction=&limit=`.
    Neighborhood {
        /// Steps from the centre.
        depth: u8,
        /// Which way.
        direction: Way,
    },
    /// `GET /graph/path?direction=out` to the end of a short random walk along relationships.
    PathNear,
    /// `GET /graph/path?direction=out` between two artifacts drawn independently.
    PathRandom,
}

impl QueryKind {
    pub(crate) fn label(self) -> String {
        match self {
            QueryKind::Neighborhood { depth, direction } => {
                format!("{depth}-hop neighbourhood, {}", direction.as_str())
            }
            QueryKind::PathNear => "shortest path, near (2-4 step walk)".to_owned(),
            QueryKind::PathRandom => "shortest path, random pair".to_owned(),
        }
    }
}

/// One query, in both sides' terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GraphQuery {
    /// The artifacts within `depth` steps of `center`.
    Neighborhood {
        center: Uuid,
        depth: u8,
        direction: Way,
    },
    /// A fewest-hops path following relationships source to target.
    Path { from: Uuid, to: Uuid },
}

/// The generated relationships by source, in generator order (CSR over artifact indices).
pub(crate) struct Adjacency {
    offsets: Vec<u32>,
    targets: Vec<u32>,
}

impl Adjacency {
    pub(crate) fn with_capacity(artifacts: usize) -> Self {
        let mut offsets = Vec::with_capacity(artifacts + 1);
        offsets.push(0);
        Self {
            offsets,
            targets: Vec::new(),
        }
    }

    /// Records the relationships of the next artifact (artifacts come in index order).
    pub(crate) fn observe(&mut self, artifact: &SyntheticArtifact) {
        self.targets
            .extend(artifact.relationships.iter().map(|r| r.target as u32));
        self.offsets.push(self.targets.len() as u32);
    }

    fn artifacts(&self) -> usize {
        self.offsets.len() - 1
    }

    fn out(&self, source: usize) -> &[u32] {
        let start = self.offsets[source] as usize;
        let end = self.offsets[source + 1] as usize;
        &self.targets[start..end]
    }

    /// Every relationship as `(source, target)` indices, by source.
    pub(crate) fn edges(&self) -> Vec<(u32, u32)> {
        let mut edges = Vec::with_capacity(self.targets.len());
        for source in 0..self.artifacts() {
            edges.extend(self.out(source).iter().map(|t| (source as u32, *t)));
        }
        edges
    }
}

/// Draws `warmup + queries` queries of each kind: neighbourhood centres uniformly among all
/// artifacts, for each direction and depth 1 to 3; near paths from a uniformly drawn artifact
/// with relationships to the end of a random walk of 2 to 4 steps along them (the walk stops
/// early at an artifact without any); random paths from an artifact of the newer half to any
/// older one (relationships point from newer to older artifacts).
pub(crate) fn build_workload(
    args: &GraphArgs,
    seed: u64,
    adjacency: &Adjacency,
    ids: &[Uuid],
) -> Vec<QuerySet> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(GRAPH_STREAM);
    let n = adjacency.artifacts().min(ids.len());
    let total = args.warmup + args.queries;
    let mut sets = Vec::new();
    let mut push = |kind: QueryKind, mut queries: Vec<GraphQuery>| {
        let measured = queries.split_off(args.warmup.min(queries.len()));
        sets.push(QuerySet {
            kind,
            warmup: queries,
            measured,
        });
    };
    for &direction in &args.directions {
        for depth in DEPTHS {
            let queries = (0..total)
                .map(|_| GraphQuery::Neighborhood {
                    center: ids[rng.random_range(0..n)],
                    depth,
                    direction,
                })
                .collect();
            push(QueryKind::Neighborhood { depth, direction }, queries);
        }
    }
    let near = (0..total)
        .map(|_| {
            let mut from = rng.random_range(1..n);
            for _ in 0..64 {
                if !adjacency.out(from).is_empty() {
                    break;
                }
                from = rng.random_range(1..n);
            }
            let mut at = from;
            for _ in 0..rng.random_range(WALK_STEPS) {
                let out = adjacency.out(at);
                if out.is_empty() {
                    break;
                }
                at = out[rng.random_range(0..out.len())] as usize;
            }
            GraphQuery::Path {
                from: ids[from],
                to: ids[at],
            }
        })
        .collect();
    push(QueryKind::PathNear, near);
    let random = (0..total)
        .map(|_| {
            let from = rng.random_range(n / 2..n).max(1);
            let to = rng.random_range(0..from);
            GraphQuery::Path {
                from: ids[from],
                to: ids[to],
            }
        })
        .collect();
    push(QueryKind::PathRandom, random);
    sets
}
