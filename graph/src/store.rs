//! The shared, concurrently readable graph: short write sections, computations off the lock.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use uuid::Uuid;

use crate::access::Access;
use crate::components::Components;
use crate::degree::Degrees;
use crate::error::{Error, Result};
use crate::export::{Export, ExportCopy};
use crate::graph::{Artifact, EdgeView, KnowledgeGraph, NodeView, Outcome, Relationship};
use crate::kinds::Visibility;
use crate::memory::MemoryUsage;
use crate::neighborhood::{Neighborhood, NeighborhoodQuery};
use crate::pagerank::{PageRank, PageRankParams};
use crate::path::{Path, PathQuery};
use crate::snapshot::GraphSnapshot;

/// One change to apply, as a change-log follower decodes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// A convergence was created or its visibility changed.
    UpsertConvergence {
        /// Its id.
        id: Uuid,
        /// Its (new) visibility.
        visibility: Visibility,
    },
    /// An artifact was created or changed.
    UpsertArtifact(Artifact),
    /// An artifact was deleted (its relationships go with it).
    RemoveArtifact(Uuid),
    /// A relationship was created or changed.
    UpsertRelationship(Relationship),
    /// A relationship was deleted.
    RemoveRelationship(Uuid),
}

impl KnowledgeGraph {
    /// Applies one mutation.
    pub fn apply(&mut self, mutation: Mutation) -> Result<Outcome> {
        Ok(match mutation {
            Mutation::UpsertConvergence { id, visibility } => {
                self.upsert_convergence(id, visibility)
            }
            Mutation::UpsertArtifact(artifact) => self.upsert_artifact(artifact),
            Mutation::RemoveArtifact(id) => self.remove_artifact(id),
            Mutation::UpsertRelationship(relationship) => {
                return self.upsert_relationship(relationship);
            }
            Mutation::RemoveRelationship(id) => self.remove_relationship(id),
        })
    }
}

/// A mutation of a batch that was refused (the rest of the batch was applied).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Its position in the batch.
    pub index: usize,
    /// Why.
    pub error: Error,
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchOutcome {
    /// Mutations applied (including idempotent removals of absent entities).
    pub applied: usize,
    /// Mutations refused, in batch order.
    pub rejected: Vec<Rejected>,
}

/// The graph shared between one writer (the change-log follower) and many readers (HTTP
/// handlers).
///
/// # Concurrency
///
/// The graph sits behind a [`std::sync::RwLock`]. The rule is that no lock is held for long:
///
/// * **Writes** take the write lock once per batch ([`GraphStore::apply`]); a mutation is a few
///   hash-map and adjacency-list operations (about a microsecond), so a batch of a thousand
///   changes holds the lock for about a millisecond. A bulk load builds a [`KnowledgeGraph`]
///   without any lock and installs it with [`GraphStore::replace`], which moves it in (a few
///   hundred bytes of container headers) and drops the old graph after releasing the lock.
/// * **Local reads** ([`neighborhood`](GraphStore::neighborhood),
///   [`shortest_path`](GraphStore::shortest_path)) run under the read lock; they touch only the
///   part of the graph they explore (bidirectional searches keep even long paths to a small
///   part of it): well under a millisecond typically, tens of milliseconds for the largest
///   3-hop neighbourhoods and weighted paths at a million artifacts.
/// * **Whole-graph computations** ([`pagerank`](GraphStore::pagerank),
///   [`degree_centrality`](GraphStore::degree_centrality),
///   [`weakly_connected_components`](GraphStore::weakly_connected_components)) copy a compact
///   [`GraphSnapshot`] (ids and an edge list) under the read lock, release it, and compute on
///   the copy (building the CSR and iterating happen outside). [`export`](GraphStore::export)
///   likewise copies what it will write (fixed-size records and one arena of titles, into
///   buffers allocated and mapped before it takes the lock) and builds, sorts and writes the
///   export outside. The copy is one sequential pass over the node and edge slots: about
///   0.1 s at a million artifacts and five million relationships, for a snapshot and for an
///   export alike (`cargo bench -p kg-graph` reports a writer's longest wait during an
///   export). A writer waits at most
///   for one copy, never for an iteration, a sort or serialisation; callers that recompute
///   often can cache results under [`generation`](GraphStore::generation).
///
/// `std`'s lock on Linux prefers writers: once a writer waits, new readers queue behind it, so
/// a reader can wait for at most one copy plus one batch. Immutable snapshots swapped
/// atomically (arc-swap) would spare readers even that, but need either a full copy of the
/// graph per batch (hundreds of megabytes at a million artifacts) or two copies kept in step
/// (left-right), doubling memory; this trade-off keeps one graph.
///
/// A mutation validates its input before it changes anything, and what follows cannot fail
/// short of running out of memory (which aborts), so a panicking writer cannot leave the graph
/// half-changed: a poisoned lock is recovered rather than propagated.
#[derive(Debug, Default)]
pub struct GraphStore {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    graph: KnowledgeGraph,
    applied_seq: Option<i64>,
    generation: u64,
}

impl GraphStore {
    /// A store holding an empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `graph`, which reflects the change log up to `applied_seq`.
    pub fn from_graph(graph: KnowledgeGraph, applied_seq: Option<i64>) -> Self {
        GraphStore {
            state: RwLock::new(State {
                graph,
                applied_seq,
                generation: 0,
            }),
        }
    }

    /// Applies a batch in one write section. A refused mutation is reported and skipped; the
    /// others apply. With `seq`, records that the graph now reflects the change log up to it.
    pub fn apply(&self, batch: Vec<Mutation>, seq: Option<i64>) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut state = self.write();
        for (index, mutation) in batch.into_iter().enumerate() {
            match state.graph.apply(mutation) {
                Ok(_) => outcome.applied += 1,
                Err(error) => outcome.rejected.push(Rejected { index, error }),
            }
        }
        if seq.is_some() {
            state.applied_seq = seq;
        }
        state.generation += 1;
        outcome
    }

    /// Installs a whole graph (a bulk load built off-lock) reflecting the log up to `seq`.
    pub fn replace(&self, graph: KnowledgeGraph, applied_seq: Option<i64>) {
        let old = {
            let mut state = self.write();
            let generation = state.generation + 1;
            std::mem::replace(
                &mut *state,
                State {
                    graph,
                    applied_seq,
                    generation,
                },
            )
        };
        drop(old);
    }

    /// A counter that changes with every [`apply`](GraphStore::apply) and
    /// [`replace`](GraphStore::replace): whole-graph results (PageRank, components) can be
    /// cached under `(generation, access, convergence)` and reused while it stays the same.
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    /// The change-log sequence number the graph reflects, if one was recorded.
    pub fn applied_seq(&self) -> Option<i64> {
        self.read().applied_seq
    }

    /// Runs `f` on the graph under the read lock. Keep `f` short: writers wait for it.
    pub fn read_with<R>(&self, f: impl FnOnce(&KnowledgeGraph) -> R) -> R {
        f(&self.read().graph)
    }

    /// See [`KnowledgeGraph::neighborhood`]; runs under the read lock.
    pub fn neighborhood(
        &self,
        access: &Access<'_>,
        query: &NeighborhoodQuery,
    ) -> Result<Neighborhood> {
        self.read().graph.neighborhood(access, query)
    }

    /// The visible artifacts of `ids` and the relationships among them (see
    /// [`KnowledgeGraph::edges_among`]), under one read lock.
    pub fn subgraph(&self, access: &Access<'_>, ids: &[Uuid]) -> (Vec<NodeView>, Vec<EdgeView>) {
        let state = self.read();
        let nodes = ids
            .iter()
            .filter_map(|id| state.graph.artifact(access, *id))
            .collect();
        (nodes, state.graph.edges_among(access, ids))
    }

    /// See [`KnowledgeGraph::shortest_path`]; runs under the read lock.
    pub fn shortest_path(&self, access: &Access<'_>, query: &PathQuery) -> Result<Option<Path>> {
        self.read().graph.shortest_path(access, query)
    }

    /// A [`GraphSnapshot`] copied under the read lock, to run several computations on.
    pub fn snapshot(&self, access: &Access<'_>, convergence: Option<Uuid>) -> GraphSnapshot {
        self.read().graph.snapshot(access, convergence)
    }

    /// See [`GraphSnapshot::pagerank`]; iterates after the lock is released.
    pub fn pagerank(
        &self,
        access: &Access<'_>,
        convergence: Option<Uuid>,
        params: &PageRankParams,
    ) -> Result<PageRank> {
        let snapshot = self
            .read()
            .graph
            .snapshot_with(access, convergence, params.weighted);
        snapshot.pagerank(params)
    }

    /// See [`GraphSnapshot::degree_centrality`]; counts after the lock is released.
    pub fn degree_centrality(&self, access: &Access<'_>, convergence: Option<Uuid>) -> Degrees {
        let snapshot = self.read().graph.snapshot_with(access, convergence, false);
        snapshot.degree_centrality()
    }

    /// See [`GraphSnapshot::weakly_connected_components`]; computed after the lock is released.
    pub fn weakly_connected_components(
        &self,
        access: &Access<'_>,
        convergence: Option<Uuid>,
    ) -> Components {
        let snapshot = self.read().graph.snapshot_with(access, convergence, false);
        snapshot.weakly_connected_components()
    }

    /// See [`KnowledgeGraph::export`]; the copy is taken under the read lock, sorted after.
    pub fn export(&self, access: &Access<'_>, convergence: Option<Uuid>) -> Export {
        // Allocate and map the buffers before taking the lock for the copy; if the graph grew
        // in between, they grow under the lock (correct, only slower).
        let (nodes, title_bytes, edges) = self.read().graph.export_sizes();
        let mut copy = ExportCopy::prefaulted(nodes, title_bytes, edges);
        self.read()
            .graph
            .export_into(access, convergence, &mut copy);
        copy.into_export()
    }

    /// See [`KnowledgeGraph::memory_usage`].
    pub fn memory_usage(&self) -> MemoryUsage {
        self.read().graph.memory_usage()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::kinds::ArtifactKind;
    use crate::tests::{art, id, rel};

    #[test]
    fn batches_apply_and_report_refusals() {
        let store = GraphStore::new();
        let c = id(100);
        let outcome = store.apply(
            vec![
                Mutation::UpsertConvergence {
                    id: c,
                    visibility: Visibility::Public,
                },
                Mutation::UpsertArtifact(art(1, c, "one")),
                Mutation::UpsertRelationship(rel(10, 1, 2, 1.0)),
                Mutation::UpsertArtifact(art(2, c, "two")),
                Mutation::UpsertRelationship(rel(10, 1, 2, 1.0)),
                Mutation::RemoveRelationship(id(99)),
            ],
            Some(7),
        );
        assert_eq!(outcome.applied, 5);
        assert_eq!(
            outcome.rejected,
            vec![Rejected {
                index: 2,
                error: Error::MissingEndpoint {
                    relationship: id(10),
                    artifact: id(2)
                }
            }]
        );
        assert_eq!(store.applied_seq(), Some(7));
        assert_eq!(store.generation(), 1);
        let path = store
            .shortest_path(&Access::PUBLIC, &PathQuery::new(id(1), id(2)))
            .unwrap()
            .unwrap();
        assert_eq!(path.hops, 1);

        store.apply(vec![Mutation::RemoveArtifact(id(2))], None);
        assert_eq!(store.applied_seq(), Some(7));
        assert_eq!(
            store.read_with(|g| (g.artifact_count(), g.relationship_count())),
            (1, 0)
        );

        let mut fresh = KnowledgeGraph::new();
        fresh.upsert_artifact(Artifact {
            id: id(5),
            convergence: c,
            kind: ArtifactKind::Claim,
            title: "five".into(),
        });
        store.replace(fresh, Some(42));
        assert_eq!(store.applied_seq(), Some(42));
        assert_eq!(store.generation(), 3);
        assert_eq!(store.read_with(KnowledgeGraph::artifact_count), 1);
        assert_eq!(store.memory_usage().artifacts, 1);
        assert_eq!(store.export(&Access::All, None).nodes().len(), 1);
        assert_eq!(store.snapshot(&Access::All, None).node_count(), 1);
        assert_eq!(
            store
                .weakly_connected_components(&Access::All, None)
                .count(),
            1
        );
        assert_eq!(store.degree_centrality(&Access::All, None).len(), 1);
        assert_eq!(
            store
                .pagerank(&Access::All, None, &PageRankParams::default())
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store.neighborhood(&Access::PUBLIC, &NeighborhoodQuery::new(id(5))),
            Err(Error::ArtifactNotFound(id(5))),
            "convergence visibility was not part of the replacement graph"
        );
    }

    /// Readers on other threads see a consistent graph while a writer applies batches: every
    /// batch adds a node and an edge to it, so a reader always finds edges = nodes - 1.
    #[test]
    fn readers_and_a_writer_run_concurrently() {
        let store = Arc::new(GraphStore::new());
        let c = id(1);
        store.apply(
            vec![
                Mutation::UpsertConvergence {
                    id: c,
                    visibility: Visibility::Public,
                },
                Mutation::UpsertArtifact(art(1000, c, "root")),
            ],
            Some(0),
        );
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (store, done) = (Arc::clone(&store), Arc::clone(&done));
                std::thread::spawn(move || {
                    let mut reads = 0;
                    while !done.load(Ordering::Relaxed) || reads == 0 {
                        let snapshot = store.snapshot(&Access::PUBLIC, None);
                        assert_eq!(snapshot.edge_count() + 1, snapshot.node_count());
                        let components = store.weakly_connected_components(&Access::PUBLIC, None);
                        assert_eq!(components.count(), 1);
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for n in 1..=300u128 {
            let outcome = store.apply(
                vec![
                    Mutation::UpsertArtifact(art(1000 + n, c, "leaf")),
                    Mutation::UpsertRelationship(rel(5000 + n, 1000 + n, 1000, 1.0)),
                ],
                Some(n as i64),
            );
            assert!(outcome.rejected.is_empty());
        }
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
        assert_eq!(store.applied_seq(), Some(300));
        assert_eq!(
            store
                .degree_centrality(&Access::PUBLIC, None)
                .top(1, crate::DegreeOrder::In)[0]
                .in_degree,
            300
        );
    }
}
