//! Compact copies of a visible subgraph, for whole-graph computations.

use petgraph::stable_graph::NodeIndex;
use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};
use uuid::Uuid;

use crate::access::Access;
use crate::error::{Error, Result};
use crate::graph::KnowledgeGraph;

/// A compact copy of the subgraph induced by the artifacts a caller may see (optionally only
/// one convergence's): artifact ids and an edge list over dense `u32` indices.
///
/// Taking it is one pass over the node slots and one over the edge slots (about 28 bytes per
/// visible relationship, 16 per artifact); PageRank, degrees and components then run on the
/// copy. [`GraphStore`](crate::GraphStore) takes it under its read lock and computes after
/// releasing the lock, so writers wait only for the copy, never for the computation.
#[derive(Debug, Clone, Default)]
pub struct GraphSnapshot {
    /// Dense index → artifact id (in slot order, not sorted).
    pub(crate) ids: Vec<Uuid>,
    /// (source, target) per relationship, as dense indices; parallel edges kept.
    pub(crate) edges: Vec<(u32, u32)>,
    /// Weight per relationship, parallel to `edges` (empty in a crate-internal snapshot taken
    /// for an unweighted computation).
    pub(crate) weights: Vec<f64>,
}

impl GraphSnapshot {
    /// Number of artifacts in the snapshot.
    pub fn node_count(&self) -> usize {
        self.ids.len()
    }

    /// Number of relationships in the snapshot (parallel ones counted separately).
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Artifact ids by dense index.
    pub fn ids(&self) -> &[Uuid] {
        &self.ids
    }

    /// A snapshot made from parts (benchmarks, tools): `ids` by dense index, `edges` as
    /// `(source, target)` dense indices, and one weight per edge, or none (then every edge
    /// weighs 1).
    ///
    /// Errors: [`Error::InvalidSnapshot`] when an edge names an index past `ids` or the
    /// weights do not match the edges.
    pub fn from_edges(ids: Vec<Uuid>, edges: Vec<(u32, u32)>, weights: Vec<f64>) -> Result<Self> {
        let n = ids.len();
        let in_range = |&(a, b): &(u32, u32)| (a as usize) < n && (b as usize) < n;
        if !edges.iter().all(in_range) || !(weights.is_empty() || weights.len() == edges.len()) {
            return Err(Error::InvalidSnapshot);
        }
        let weights = if weights.is_empty() {
            vec![1.0; edges.len()]
        } else {
            weights
        };
        Ok(GraphSnapshot {
            ids,
            edges,
            weights,
        })
    }
}

impl KnowledgeGraph {
    /// Copies the subgraph induced by the artifacts `access` may see, restricted to
    /// `convergence` when given (relationships leaving it are then left out).
    pub fn snapshot(&self, access: &Access<'_>, convergence: Option<Uuid>) -> GraphSnapshot {
        self.snapshot_with(access, convergence, true)
    }

    /// [`snapshot`](KnowledgeGraph::snapshot), copying weights only when `weights` (less to copy
    /// under a read lock). A snapshot without weights must not feed a weighted computation;
    /// only this crate makes one.
    pub(crate) fn snapshot_with(
        &self,
        access: &Access<'_>,
        convergence: Option<Uuid>,
        weights: bool,
    ) -> GraphSnapshot {
        let visible = self.visible_set(access, convergence);
        let mut dense = vec![u32::MAX; self.graph.node_bound()];
        let mut ids = Vec::with_capacity(self.graph.node_count());
        for (slot, index) in dense.iter_mut().enumerate() {
            let node = NodeIndex::new(slot);
            if self.is_visible(&visible, node) {
                *index = ids.len() as u32;
                ids.push(self.node_id(node));
            }
        }
        let mut edges = Vec::with_capacity(self.graph.edge_count());
        let mut copied = Vec::with_capacity(if weights { self.graph.edge_count() } else { 0 });
        for edge in self.graph.edge_references() {
            let (a, b) = (dense[edge.source().index()], dense[edge.target().index()]);
            if a != u32::MAX && b != u32::MAX {
                edges.push((a, b));
                if weights {
                    copied.push(edge.weight().weight);
                }
            }
        }
        GraphSnapshot {
            ids,
            edges,
            weights: copied,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::kinds::Visibility;
    use crate::tests::{art, id, rel};

    #[test]
    fn snapshot_is_the_induced_subgraph() {
        let mut g = KnowledgeGraph::new();
        let (a, b) = (id(100), id(200));
        g.upsert_convergence(a, Visibility::Public);
        g.upsert_convergence(b, Visibility::Private);
        g.upsert_artifact(art(1, a, "1"));
        g.upsert_artifact(art(2, a, "2"));
        g.upsert_artifact(art(3, b, "3"));
        g.upsert_relationship(rel(10, 1, 2, 0.5)).unwrap();
        g.upsert_relationship(rel(11, 2, 3, 0.5)).unwrap();
        g.upsert_relationship(rel(12, 3, 1, 0.5)).unwrap();
        let all = g.snapshot(&Access::All, None);
        assert_eq!((all.node_count(), all.edge_count()), (3, 3));
        let public = g.snapshot(&Access::PUBLIC, None);
        assert_eq!((public.node_count(), public.edge_count()), (2, 1));
        let only_b = g.snapshot(&Access::All, Some(b));
        assert_eq!((only_b.node_count(), only_b.edge_count()), (1, 0));
        assert_eq!(only_b.ids(), &[id(3)]);
        // The private convergence, asked for without access: empty.
        let denied = g.snapshot(&Access::PUBLIC, Some(b));
        assert_eq!((denied.node_count(), denied.edge_count()), (0, 0));
        // Made from parts, it computes the same.
        let parts = GraphSnapshot::from_edges(all.ids.clone(), all.edges.clone(), Vec::new());
        let parts = parts.unwrap();
        assert_eq!(parts.weights, vec![1.0; 3]);
        let params = crate::PageRankParams::default();
        assert_eq!(parts.pagerank(&params), all.pagerank(&params));
        assert_eq!(
            GraphSnapshot::from_edges(vec![id(1)], vec![(0, 1)], Vec::new()).unwrap_err(),
            Error::InvalidSnapshot
        );
        assert_eq!(
            GraphSnapshot::from_edges(vec![id(1)], vec![(0, 0)], vec![0.5, 0.5]).unwrap_err(),
            Error::InvalidSnapshot
        );
        // Removal leaves a vacant slot that the snapshot skips.
        g.remove_artifact(id(1));
        let after = g.snapshot(&Access::All, None);
        assert_eq!((after.node_count(), after.edge_count()), (2, 1));
    }
}
