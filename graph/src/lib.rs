//! The in-memory knowledge graph of a kgnode, and the graph algorithms its API serves.
//!
//! Artifacts are nodes and relationships are directed, weighted, typed edges of a petgraph
//! [`StableDiGraph`](petgraph::stable_graph::StableDiGraph) (indices stay valid across
//! removals), with maps from artifact and relationship ids to indices. The crate is pure: no
//! I/O, no database, no async runtime. The node loads it from PostgreSQL, keeps it in step with
//! the change log through [`Mutation`]s, and serves queries from HTTP handlers.
//!
//! * [`KnowledgeGraph`]: the graph, its mutations ([`upsert_artifact`], [`remove_artifact`],
//!   [`upsert_relationship`], [`remove_relationship`], [`upsert_convergence`]) and queries.
//! * [`GraphStore`]: the graph shared between one writer and many readers. Writes take a short
//!   write section per batch; whole-graph computations copy a compact [`GraphSnapshot`] under
//!   the read lock and compute after releasing it, so readers never wait on a long write and
//!   writers never wait on a long computation (see [`GraphStore`] for the details).
//! * Every query takes an [`Access`]: it answers on the subgraph induced by the artifacts of
//!   the convergences the caller may read, as if nothing else existed.
//!
//! Queries:
//!
//! | query | algorithm |
//! |---|---|
//! | [`neighborhood`](KnowledgeGraph::neighborhood) | breadth-first, depth 1–4, direction, kind filter, limit |
//! | [`shortest_path`](KnowledgeGraph::shortest_path) | bidirectional BFS (hops) or bidirectional Dijkstra (cost `1 / weight`) |
//! | [`pagerank`](GraphSnapshot::pagerank) | power iteration over a CSR in-adjacency, networkx's definition and stopping rule |
//! | [`degree_centrality`](GraphSnapshot::degree_centrality) | in-, out- and total degree |
//! | [`weakly_connected_components`](GraphSnapshot::weakly_connected_components) | union–find, deterministic order, paginated |
//! | [`export`](KnowledgeGraph::export) | GraphML, node-link JSON, CSV |
//!
//! The test suite checks PageRank, path lengths and costs, and components against networkx run
//! on this crate's GraphML export.
//!
//! # Example
//!
//! ```
//! use kg_graph::{
//!     Access, Artifact, ArtifactKind, Direction, GraphStore, Mutation, NeighborhoodQuery,
//!     PageRankParams, PathQuery, Relationship, RelationshipKind, Visibility,
//! };
//! use uuid::Uuid;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let garden = Uuid::from_u128(1);
//! let [idea, question, answer] = [10, 11, 12].map(Uuid::from_u128);
//! let artifact = |id, kind, title: &str| {
//!     Mutation::UpsertArtifact(Artifact { id, convergence: garden, kind, title: title.into() })
//! };
//! let link = |id, source, target, kind, weight| {
//!     Mutation::UpsertRelationship(Relationship { id: Uuid::from_u128(id), source, target, kind, weight })
//! };
//!
//! let store = GraphStore::new();
//! let outcome = store.apply(
//!     vec![
//!         Mutation::UpsertConvergence { id: garden, visibility: Visibility::Public },
//!         artifact(idea, ArtifactKind::Idea, "Seed library"),
//!         artifact(question, ArtifactKind::Question, "Who waters it?"),
//!         artifact(answer, ArtifactKind::Decision, "A rota"),
//!         link(20, question, idea, RelationshipKind::RelatesTo, 0.5),
//!         link(21, answer, question, RelationshipKind::Answers, 1.0),
//!     ],
//!     Some(1), // the change-log sequence number this batch brings the graph to
//! );
//! assert!(outcome.rejected.is_empty());
//!
//! // Anyone may read a public convergence.
//! let reader = Access::PUBLIC;
//! let around = store.neighborhood(
//!     &reader,
//!     &NeighborhoodQuery { depth: 2, direction: Direction::In, ..NeighborhoodQuery::new(idea) },
//! )?;
//! assert_eq!(around.nodes.len(), 3);
//! assert_eq!(around.nodes[2].depth, 2);
//!
//! let path = store.shortest_path(&reader, &PathQuery::new(answer, idea))?;
//! assert_eq!(path.map(|p| (p.hops, p.cost)), Some((2, 3.0)));
//!
//! let ranks = store.pagerank(&reader, Some(garden), &PageRankParams::default())?;
//! assert_eq!(ranks.top(1)[0].id, idea);
//!
//! let mut graphml = Vec::new();
//! store.export(&reader, None).write(kg_graph::ExportFormat::GraphMl, &mut graphml)?;
//! assert!(graphml.starts_with(b"<?xml"));
//! # Ok(())
//! # }
//! ```
//!
//! [`upsert_artifact`]: KnowledgeGraph::upsert_artifact
//! [`remove_artifact`]: KnowledgeGraph::remove_artifact
//! [`upsert_relationship`]: KnowledgeGraph::upsert_relationship
//! [`remove_relationship`]: KnowledgeGraph::remove_relationship
//! [`upsert_convergence`]: KnowledgeGraph::upsert_convergence

mod access;
mod components;
mod degree;
mod error;
mod export;
mod graph;
mod kinds;
mod memory;
mod neighborhood;
mod pagerank;
mod path;
mod snapshot;
mod store;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

pub use access::Access;
pub use components::Components;
pub use degree::{DegreeOrder, DegreeScore, Degrees};
pub use error::{Error, Result};
pub use export::{Export, ExportFormat};
pub use graph::{Artifact, EdgeView, KnowledgeGraph, NodeView, Outcome, Relationship};
pub use kinds::{ArtifactKind, Direction, RelationshipKind, RelationshipKindSet, Visibility};
pub use memory::MemoryUsage;
pub use neighborhood::{MAX_DEPTH, Neighborhood, NeighborhoodQuery, ReachedNode};
pub use pagerank::{PageRank, PageRankParams, Ranked};
pub use path::{Path, PathQuery};
pub use snapshot::GraphSnapshot;
pub use store::{BatchOutcome, GraphStore, Mutation, Rejected};
