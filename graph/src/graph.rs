//! The graph itself: artifacts as nodes, relationships as edges, convergences as a small table.

use foldhash::{HashMap, HashMapExt, HashSet};
use petgraph::Direction as PgDirection;
use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;
use serde::Serialize;
use uuid::Uuid;

use crate::access::Access;
use crate::error::{Error, Result};
use crate::kinds::{ArtifactKind, Direction, RelationshipKind, Visibility};
use crate::memory::{MemoryUsage, heap_block, map_bytes};

/// An artifact as the graph stores it: what a query needs to filter and to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Its id.
    pub id: Uuid,
    /// The convergence it belongs to.
    pub convergence: Uuid,
    /// What it is.
    pub kind: ArtifactKind,
    /// Its title.
    pub title: String,
}

/// A relationship as the graph stores it (the change log's payload plus the row id).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relationship {
    /// Its id.
    pub id: Uuid,
    /// The artifact it starts at.
    pub source: Uuid,
    /// The artifact it points to.
    pub target: Uuid,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Strength in `(0, 1]`; a path pays `1 / weight` to cross it.
    pub weight: f64,
}

/// What a mutation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The entity was new.
    Inserted,
    /// The entity existed and now holds the new values.
    Updated,
    /// The entity was removed (for an artifact: with its relationships).
    Removed,
    /// Nothing to remove: the entity was not in the graph. Removals are idempotent, so a follower
    /// may replay them.
    Absent,
}

/// An artifact in a query result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeView {
    /// Its id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// The convergence it belongs to.
    pub convergence: Uuid,
}

/// A relationship in a query result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EdgeView {
    /// Its id.
    pub id: Uuid,
    /// The artifact it starts at.
    pub source: Uuid,
    /// The artifact it points to.
    pub target: Uuid,
    /// How the source relates to the target.
    pub kind: RelationshipKind,
    /// Strength in `(0, 1]`.
    pub weight: f64,
}

/// Node attributes. The convergence is an index into [`Convergences`] (4 bytes, not 16).
#[derive(Debug, Clone)]
pub(crate) struct NodeData {
    pub(crate) id: Uuid,
    pub(crate) title: Box<str>,
    pub(crate) convergence: u32,
    pub(crate) kind: ArtifactKind,
}

/// Edge attributes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EdgeData {
    pub(crate) id: Uuid,
    pub(crate) weight: f64,
    pub(crate) kind: RelationshipKind,
}

impl EdgeData {
    /// What a weighted path pays to cross this edge.
    pub(crate) fn cost(&self) -> f64 {
        1.0 / self.weight
    }
}

/// Known convergences, interned: artifacts refer to them by a dense `u32`. Entries are never
/// removed (convergences are few and are not deleted).
#[derive(Debug, Clone, Default)]
struct Convergences {
    ids: Vec<Uuid>,
    visibility: Vec<Option<Visibility>>,
    index: HashMap<Uuid, u32>,
}

impl Convergences {
    fn intern(&mut self, id: Uuid) -> u32 {
        if let Some(slot) = self.index.get(&id) {
            return *slot;
        }
        let slot = self.ids.len() as u32;
        self.ids.push(id);
        self.visibility.push(None);
        self.index.insert(id, slot);
        slot
    }
}

/// Which convergences one query may see, evaluated once per query (one flag per convergence).
#[derive(Debug, Clone)]
pub(crate) struct VisibleSet {
    by_convergence: Vec<bool>,
}

/// The in-memory knowledge graph: a petgraph [`StableDiGraph`] (indices stay valid across
/// removals) with maps from artifact and relationship ids to indices.
///
/// Artifacts of every convergence are stored; queries take an [`Access`] and see only the
/// subgraph induced by the artifacts it allows. Relationships may cross convergences; one is
/// visible when both of its endpoints are.
///
/// Parallel relationships (same source and target, different kinds) are kept as separate edges;
/// each algorithm documents how it counts them.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeGraph {
    pub(crate) graph: StableDiGraph<NodeData, EdgeData>,
    nodes: HashMap<Uuid, NodeIndex>,
    edges: HashMap<Uuid, EdgeIndex>,
    convergences: Convergences,
    /// Bytes the titles take on the heap (estimated allocation sizes), kept up to date.
    title_heap_bytes: usize,
}

impl KnowledgeGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph with room for `artifacts` nodes and `relationships` edges (for a bulk load).
    pub fn with_capacity(artifacts: usize, relationships: usize) -> Self {
        KnowledgeGraph {
            graph: StableDiGraph::with_capacity(artifacts, relationships),
            nodes: HashMap::with_capacity(artifacts),
            edges: HashMap::with_capacity(relationships),
            convergences: Convergences::default(),
            title_heap_bytes: 0,
        }
    }

    /// Number of artifacts, visible or not.
    pub fn artifact_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Number of relationships, visible or not.
    pub fn relationship_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Number of convergences known (told about, or named by an artifact).
    pub fn convergence_count(&self) -> usize {
        self.convergences.ids.len()
    }

    /// Records a convergence's visibility (the change log's convergence rows). Until told, a
    /// convergence counts as private.
    pub fn upsert_convergence(&mut self, id: Uuid, visibility: Visibility) -> Outcome {
        let known = self.convergences.index.contains_key(&id);
        let slot = self.convergences.intern(id) as usize;
        let previous = self.convergences.visibility[slot].replace(visibility);
        if known && previous.is_some() {
            Outcome::Updated
        } else {
            Outcome::Inserted
        }
    }

    /// The visibility the graph was told for a convergence.
    pub fn convergence_visibility(&self, id: Uuid) -> Option<Visibility> {
        let slot = *self.convergences.index.get(&id)?;
        self.convergences.visibility[slot as usize]
    }

    /// Inserts an artifact or replaces its convergence, kind and title. Its relationships stay.
    pub fn upsert_artifact(&mut self, artifact: Artifact) -> Outcome {
        let convergence = self.convergences.intern(artifact.convergence);
        let title: Box<str> = artifact.title.into_boxed_str();
        self.title_heap_bytes += heap_block(title.len());
        let data = NodeData {
            id: artifact.id,
            title,
            convergence,
            kind: artifact.kind,
        };
        if let Some(node) = self.nodes.get(&artifact.id).copied()
            && let Some(slot) = self.graph.node_weight_mut(node)
        {
            let old = std::mem::replace(slot, data);
            self.title_heap_bytes -= heap_block(old.title.len());
            return Outcome::Updated;
        }
        let node = self.graph.add_node(data);
        self.nodes.insert(artifact.id, node);
        Outcome::Inserted
    }

    /// Removes an artifact and every relationship that touches it.
    pub fn remove_artifact(&mut self, id: Uuid) -> Outcome {
        let Some(node) = self.nodes.remove(&id) else {
            return Outcome::Absent;
        };
        let touching: Vec<Uuid> = self
            .graph
            .edges_directed(node, PgDirection::Outgoing)
            .chain(self.graph.edges_directed(node, PgDirection::Incoming))
            .map(|edge| edge.weight().id)
            .collect();
        for relationship in touching {
            self.edges.remove(&relationship);
        }
        if let Some(old) = self.graph.remove_node(node) {
            self.title_heap_bytes -= heap_block(old.title.len());
        }
        Outcome::Removed
    }

    /// Inserts a relationship or replaces its kind and weight (and endpoints, if they changed).
    ///
    /// Both endpoints must already be in the graph: otherwise [`Error::MissingEndpoint`] and the
    /// graph is unchanged (no relationship is held back waiting for its artifact). A weight
    /// outside `(0, 1]` is [`Error::InvalidWeight`]. Self-loops are accepted.
    pub fn upsert_relationship(&mut self, relationship: Relationship) -> Result<Outcome> {
        let Relationship {
            id,
            source,
            target,
            kind,
            weight,
        } = relationship;
        if !(weight > 0.0 && weight <= 1.0) {
            return Err(Error::InvalidWeight {
                relationship: id,
                weight,
            });
        }
        let endpoint = |artifact: Uuid| {
            self.nodes
                .get(&artifact)
                .copied()
                .ok_or(Error::MissingEndpoint {
                    relationship: id,
                    artifact,
                })
        };
        let (a, b) = (endpoint(source)?, endpoint(target)?);
        let data = EdgeData { id, weight, kind };
        if let Some(edge) = self.edges.get(&id).copied() {
            if self.graph.edge_endpoints(edge) == Some((a, b))
                && let Some(slot) = self.graph.edge_weight_mut(edge)
            {
                *slot = data;
                return Ok(Outcome::Updated);
            }
            self.graph.remove_edge(edge);
            let edge = self.graph.add_edge(a, b, data);
            self.edges.insert(id, edge);
            return Ok(Outcome::Updated);
        }
        let edge = self.graph.add_edge(a, b, data);
        self.edges.insert(id, edge);
        Ok(Outcome::Inserted)
    }

    /// Removes a relationship.
    pub fn remove_relationship(&mut self, id: Uuid) -> Outcome {
        match self.edges.remove(&id) {
            Some(edge) => {
                self.graph.remove_edge(edge);
                Outcome::Removed
            }
            None => Outcome::Absent,
        }
    }

    /// An artifact, if it is in the graph and `access` may see it.
    pub fn artifact(&self, access: &Access<'_>, id: Uuid) -> Option<NodeView> {
        let visible = self.visible_set(access, None);
        let node = self.visible_node(&visible, id).ok()?;
        Some(self.node_view(node))
    }

    /// A relationship, if it is in the graph and `access` may see both its endpoints.
    pub fn relationship(&self, access: &Access<'_>, id: Uuid) -> Option<EdgeView> {
        let visible = self.visible_set(access, None);
        let edge = *self.edges.get(&id)?;
        let (a, b) = self.graph.edge_endpoints(edge)?;
        if self.is_visible(&visible, a) && self.is_visible(&visible, b) {
            Some(self.edge_view(a, b, &self.graph[edge]))
        } else {
            None
        }
    }

    /// The relationships between artifacts of `ids` that `access` may see (both ends visible),
    /// grouped by source in the order of `ids`. Unknown or invisible ids are skipped: this
    /// draws "the edges among" a ranked list, for instance.
    pub fn edges_among(&self, access: &Access<'_>, ids: &[Uuid]) -> Vec<EdgeView> {
        let visible = self.visible_set(access, None);
        let members: HashSet<NodeIndex> = ids
            .iter()
            .filter_map(|id| self.visible_node(&visible, *id).ok())
            .collect();
        let mut edges = Vec::new();
        for id in ids {
            let Ok(source) = self.visible_node(&visible, *id) else {
                continue;
            };
            for edge in self.graph.edges_directed(source, PgDirection::Outgoing) {
                if members.contains(&edge.target()) {
                    edges.push(self.edge_view(source, edge.target(), edge.weight()));
                }
            }
        }
        edges
    }

    /// An estimate of the heap memory the graph holds, in total and per node and edge.
    pub fn memory_usage(&self) -> MemoryUsage {
        let (node_capacity, edge_capacity) = self.graph.capacity();
        let node_slot = std::mem::size_of::<petgraph::graph::Node<Option<NodeData>, u32>>();
        let edge_slot = std::mem::size_of::<petgraph::graph::Edge<Option<EdgeData>, u32>>();
        let node_bytes = node_capacity * node_slot
            + map_bytes::<Uuid, NodeIndex>(self.nodes.capacity())
            + self.title_heap_bytes;
        let edge_bytes =
            edge_capacity * edge_slot + map_bytes::<Uuid, EdgeIndex>(self.edges.capacity());
        let convergence_bytes = self.convergences.ids.capacity() * std::mem::size_of::<Uuid>()
            + self.convergences.visibility.capacity() * std::mem::size_of::<Option<Visibility>>()
            + map_bytes::<Uuid, u32>(self.convergences.index.capacity());
        MemoryUsage {
            artifacts: self.artifact_count(),
            relationships: self.relationship_count(),
            node_bytes,
            edge_bytes,
            convergence_bytes,
        }
    }

    /// Evaluates `access` (and an optional convergence to restrict to) once per convergence.
    pub(crate) fn visible_set(&self, access: &Access<'_>, scope: Option<Uuid>) -> VisibleSet {
        let table = &self.convergences;
        let by_convergence = table
            .ids
            .iter()
            .zip(&table.visibility)
            .map(|(id, visibility)| {
                scope.is_none_or(|only| only == *id) && access.allows(*id, *visibility)
            })
            .collect();
        VisibleSet { by_convergence }
    }

    /// Whether the node exists and its convergence is visible.
    pub(crate) fn is_visible(&self, visible: &VisibleSet, node: NodeIndex) -> bool {
        self.graph
            .node_weight(node)
            .is_some_and(|data| visible.by_convergence[data.convergence as usize])
    }

    /// The index of a visible artifact, or [`Error::ArtifactNotFound`].
    pub(crate) fn visible_node(&self, visible: &VisibleSet, id: Uuid) -> Result<NodeIndex> {
        match self.nodes.get(&id) {
            Some(node) if self.is_visible(visible, *node) => Ok(*node),
            _ => Err(Error::ArtifactNotFound(id)),
        }
    }

    /// The artifact id at a live node index.
    pub(crate) fn node_id(&self, node: NodeIndex) -> Uuid {
        self.graph[node].id
    }

    /// The id of an interned convergence.
    pub(crate) fn convergence_id(&self, slot: u32) -> Uuid {
        self.convergences.ids[slot as usize]
    }

    /// Bytes the titles take on the heap (an upper bound of their total length).
    pub(crate) fn title_heap_bytes(&self) -> usize {
        self.title_heap_bytes
    }

    /// The view of a live node.
    pub(crate) fn node_view(&self, node: NodeIndex) -> NodeView {
        let data = &self.graph[node];
        NodeView {
            id: data.id,
            title: data.title.to_string(),
            kind: data.kind,
            convergence: self.convergences.ids[data.convergence as usize],
        }
    }

    /// The view of an edge between two live nodes.
    pub(crate) fn edge_view(
        &self,
        source: NodeIndex,
        target: NodeIndex,
        data: &EdgeData,
    ) -> EdgeView {
        EdgeView {
            id: data.id,
            source: self.node_id(source),
            target: self.node_id(target),
            kind: data.kind,
            weight: data.weight,
        }
    }

    /// Calls `step(edge, neighbour, data)` for each edge one step from `node` in `direction`
    /// (for `Both`, outgoing then incoming edges; a self-loop is reported once per direction).
    pub(crate) fn for_each_step(
        &self,
        node: NodeIndex,
        direction: Direction,
        mut step: impl FnMut(EdgeIndex, NodeIndex, &EdgeData),
    ) {
        if direction != Direction::In {
            for edge in self.graph.edges_directed(node, PgDirection::Outgoing) {
                step(edge.id(), edge.target(), edge.weight());
            }
        }
        if direction != Direction::Out {
            for edge in self.graph.edges_directed(node, PgDirection::Incoming) {
                step(edge.id(), edge.source(), edge.weight());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::tests::{art, id, rel};

    #[test]
    fn edges_among_keeps_edges_with_both_ends_listed_and_visible() {
        let mut g = KnowledgeGraph::new();
        let (public, private) = (id(100), id(200));
        g.upsert_convergence(public, Visibility::Public);
        g.upsert_convergence(private, Visibility::Private);
        for n in 1..=3 {
            g.upsert_artifact(art(n, public, "p"));
        }
        g.upsert_artifact(art(4, private, "secret"));
        for (edge, a, b) in [(10, 1, 2), (11, 2, 3), (12, 3, 1), (13, 1, 4), (14, 4, 2)] {
            g.upsert_relationship(rel(edge, a, b, 1.0)).unwrap();
        }
        let ids = |edges: Vec<EdgeView>| {
            let mut ids: Vec<Uuid> = edges.iter().map(|e| e.id).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(g.edges_among(&Access::All, &[id(1), id(2)])), [id(10)]);
        assert_eq!(
            ids(g.edges_among(&Access::All, &[id(1), id(2), id(4)])),
            [id(10), id(13), id(14)]
        );
        assert_eq!(
            ids(g.edges_among(&Access::PUBLIC, &[id(1), id(2), id(4), id(99)])),
            [id(10)]
        );
    }

    #[test]
    fn upserts_and_removals_keep_maps_in_step() {
        let mut g = KnowledgeGraph::new();
        let c = id(100);
        assert_eq!(g.upsert_artifact(art(1, c, "one")), Outcome::Inserted);
        assert_eq!(g.upsert_artifact(art(2, c, "two")), Outcome::Inserted);
        assert_eq!(g.upsert_artifact(art(3, c, "three")), Outcome::Inserted);
        assert_eq!(
            g.upsert_relationship(rel(10, 1, 2, 0.5)).unwrap(),
            Outcome::Inserted
        );
        assert_eq!(
            g.upsert_relationship(rel(11, 2, 3, 1.0)).unwrap(),
            Outcome::Inserted
        );
        assert_eq!(
            g.upsert_relationship(rel(12, 3, 1, 0.25)).unwrap(),
            Outcome::Inserted
        );
        assert_eq!((g.artifact_count(), g.relationship_count()), (3, 3));

        // Update in place: title and weight change, nothing else.
        assert_eq!(g.upsert_artifact(art(2, c, "TWO")), Outcome::Updated);
        assert_eq!(g.artifact(&Access::All, id(2)).unwrap().title, "TWO");
        assert_eq!(
            g.upsert_relationship(rel(10, 1, 2, 0.75)).unwrap(),
            Outcome::Updated
        );
        assert_eq!(g.relationship(&Access::All, id(10)).unwrap().weight, 0.75);

        // Moving endpoints re-links the edge under the same id.
        assert_eq!(
            g.upsert_relationship(rel(10, 1, 3, 0.75)).unwrap(),
            Outcome::Updated
        );
        let moved = g.relationship(&Access::All, id(10)).unwrap();
        assert_eq!((moved.source, moved.target), (id(1), id(3)));
        assert_eq!(g.relationship_count(), 3);

        // Removing an artifact removes its edges from the graph and from the id map.
        assert_eq!(g.remove_artifact(id(3)), Outcome::Removed);
        assert_eq!((g.artifact_count(), g.relationship_count()), (2, 0));
        for edge in [10, 11, 12] {
            assert!(g.relationship(&Access::All, id(edge)).is_none());
            assert_eq!(g.remove_relationship(id(edge)), Outcome::Absent);
        }
        assert_eq!(g.remove_artifact(id(3)), Outcome::Absent);

        // A re-inserted artifact may reuse the freed slot; old relationships do not come back.
        assert_eq!(g.upsert_artifact(art(3, c, "again")), Outcome::Inserted);
        assert_eq!(g.relationship_count(), 0);
        assert_eq!(
            g.upsert_relationship(rel(13, 2, 3, 1.0)).unwrap(),
            Outcome::Inserted
        );
        assert_eq!(g.remove_relationship(id(13)), Outcome::Removed);
        assert_eq!(g.relationship_count(), 0);
    }

    #[test]
    fn rejected_relationships_change_nothing() {
        let mut g = KnowledgeGraph::new();
        g.upsert_artifact(art(1, id(100), "one"));
        assert_eq!(
            g.upsert_relationship(rel(10, 1, 2, 0.5)),
            Err(Error::MissingEndpoint {
                relationship: id(10),
                artifact: id(2)
            })
        );
        assert_eq!(
            g.upsert_relationship(rel(10, 9, 1, 0.5)),
            Err(Error::MissingEndpoint {
                relationship: id(10),
                artifact: id(9)
            })
        );
        for weight in [0.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                g.upsert_relationship(rel(10, 1, 1, weight)),
                Err(Error::InvalidWeight { .. })
            ));
        }
        assert_eq!(g.relationship_count(), 0);
        // A self-loop is accepted.
        assert_eq!(
            g.upsert_relationship(rel(11, 1, 1, 1.0)).unwrap(),
            Outcome::Inserted
        );
    }

    #[test]
    fn visibility_follows_the_convergence_table() {
        let mut g = KnowledgeGraph::new();
        let (public, private) = (id(100), id(200));
        g.upsert_artifact(art(1, public, "p"));
        g.upsert_artifact(art(2, private, "q"));
        g.upsert_relationship(rel(10, 1, 2, 1.0)).unwrap();
        // Not told yet: both count as private.
        assert!(g.artifact(&Access::PUBLIC, id(1)).is_none());
        assert_eq!(
            g.upsert_convergence(public, Visibility::Public),
            Outcome::Inserted
        );
        assert_eq!(
            g.upsert_convergence(private, Visibility::Private),
            Outcome::Inserted
        );
        assert_eq!(
            g.upsert_convergence(private, Visibility::Private),
            Outcome::Updated
        );
        assert_eq!(g.convergence_visibility(public), Some(Visibility::Public));
        assert_eq!(g.convergence_count(), 2);
        assert!(g.artifact(&Access::PUBLIC, id(1)).is_some());
        assert!(g.artifact(&Access::PUBLIC, id(2)).is_none());
        assert!(g.relationship(&Access::PUBLIC, id(10)).is_none());
        assert!(g.artifact(&Access::PublicAnd(&[private]), id(2)).is_some());
        assert!(g.relationship(&Access::All, id(10)).is_some());
        // Making it public opens it.
        g.upsert_convergence(private, Visibility::Public);
        assert!(g.relationship(&Access::PUBLIC, id(10)).is_some());
    }

    #[test]
    fn memory_usage_counts_nodes_edges_and_titles() {
        let mut g = KnowledgeGraph::new();
        let empty = g.memory_usage();
        assert_eq!(empty.total_bytes(), 0);
        for n in 1..=100 {
            g.upsert_artifact(art(n, id(1000), "a title of some forty characters, or so"));
        }
        for n in 1..100 {
            g.upsert_relationship(rel(1000 + n, n, n + 1, 0.5)).unwrap();
        }
        let usage = g.memory_usage();
        assert_eq!((usage.artifacts, usage.relationships), (100, 99));
        // Slot + index entry + title block, at least.
        assert!(usage.bytes_per_node() > 40.0 + 20.0 + 40.0, "{usage:?}");
        assert!(usage.bytes_per_edge() > 48.0 + 20.0, "{usage:?}");
        assert!(usage.total_bytes() >= usage.node_bytes + usage.edge_bytes);
        let titles_before = g.title_heap_bytes;
        g.remove_artifact(id(1));
        assert!(g.title_heap_bytes < titles_before);
    }
}
