//! Breadth-first neighbourhoods.

use foldhash::{HashMap, HashMapExt};
use petgraph::Direction as PgDirection;
use petgraph::stable_graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::Serialize;
use uuid::Uuid;

use crate::access::Access;
use crate::error::{Error, Result};
use crate::graph::{EdgeView, KnowledgeGraph, NodeView};
use crate::kinds::{Direction, RelationshipKindSet};

/// The deepest neighbourhood a query may ask for.
pub const MAX_DEPTH: u8 = 4;

/// What a neighbourhood query asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeighborhoodQuery {
    /// The artifact at its centre.
    pub center: Uuid,
    /// How many steps away from the centre, `1..=`[`MAX_DEPTH`].
    pub depth: u8,
    /// Which way steps may follow relationships.
    pub direction: Direction,
    /// Which relationship kinds steps may follow (and the result's edges may have).
    pub kinds: RelationshipKindSet,
    /// At most this many artifacts, the centre included (at least 1).
    pub limit: usize,
}

impl NeighborhoodQuery {
    /// Depth 1, both directions, every kind, at most 100 artifacts.
    pub fn new(center: Uuid) -> Self {
        NeighborhoodQuery {
            center,
            depth: 1,
            direction: Direction::Both,
            kinds: RelationshipKindSet::all(),
            limit: 100,
        }
    }
}

/// An artifact reached by a neighbourhood query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReachedNode {
    /// The artifact.
    #[serde(flatten)]
    pub node: NodeView,
    /// Fewest steps from the centre (0 for the centre).
    pub depth: u8,
}

/// A neighbourhood: the reached artifacts and the relationships among them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neighborhood {
    /// Reached artifacts by depth, then by id; the centre first.
    pub nodes: Vec<ReachedNode>,
    /// Every visible relationship of an allowed kind whose endpoints are both in `nodes`,
    /// whichever its direction, by id.
    pub edges: Vec<EdgeView>,
    /// Whether `limit` cut the result short (more artifacts lay within `depth`).
    pub truncated: bool,
}

impl KnowledgeGraph {
    /// The artifacts within `query.depth` steps of `query.center`, breadth first, on the
    /// subgraph `access` may see.
    ///
    /// A step follows one visible relationship of an allowed kind in `query.direction`. Each
    /// artifact gets its fewest-steps depth. When more artifacts are in reach than `limit`
    /// allows, the shallowest are kept, and within the depth where the cut falls, the smallest
    /// ids (so the answer does not depend on insertion order).
    ///
    /// Errors: [`Error::InvalidDepth`], [`Error::InvalidLimit`], and
    /// [`Error::ArtifactNotFound`] when the centre is absent or not visible.
    pub fn neighborhood(
        &self,
        access: &Access<'_>,
        query: &NeighborhoodQuery,
    ) -> Result<Neighborhood> {
        if !(1..=MAX_DEPTH).contains(&query.depth) {
            return Err(Error::InvalidDepth(query.depth));
        }
        if query.limit == 0 {
            return Err(Error::InvalidLimit);
        }
        let visible = self.visible_set(access, None);
        let center = self.visible_node(&visible, query.center)?;

        let mut depth_of: HashMap<NodeIndex, u8> = HashMap::new();
        depth_of.insert(center, 0);
        let mut order = vec![center];
        let mut frontier = vec![center];
        let mut truncated = false;
        for depth in 1..=query.depth {
            let mut next = Vec::new();
            for &node in &frontier {
                self.for_each_step(node, query.direction, |_, neighbour, data| {
                    if query.kinds.contains(data.kind)
                        && !depth_of.contains_key(&neighbour)
                        && self.is_visible(&visible, neighbour)
                    {
                        depth_of.insert(neighbour, depth);
                        next.push(neighbour);
                    }
                });
            }
            if next.is_empty() {
                break;
            }
            let room = query.limit - order.len();
            if next.len() > room {
                next.sort_unstable_by_key(|node| self.node_id(*node));
                for dropped in next.drain(room..) {
                    depth_of.remove(&dropped);
                }
                truncated = true;
            }
            order.extend_from_slice(&next);
            frontier = next;
            if truncated {
                break;
            }
        }

        let mut edges = Vec::new();
        for &node in &order {
            for edge in self.graph.edges_directed(node, PgDirection::Outgoing) {
                if query.kinds.contains(edge.weight().kind) && depth_of.contains_key(&edge.target())
                {
                    edges.push(self.edge_view(node, edge.target(), edge.weight()));
                }
            }
        }
        edges.sort_unstable_by_key(|edge| edge.id.as_u128());

        // Sorted as small keys (ids are unique), then turned into views in that order.
        let mut keyed: Vec<(u8, u128, NodeIndex)> = order
            .iter()
            .map(|&node| {
                let depth = depth_of.get(&node).copied().unwrap_or_default();
                (depth, self.node_id(node).as_u128(), node)
            })
            .collect();
        keyed.sort_unstable();
        let nodes = keyed
            .into_iter()
            .map(|(depth, _, node)| ReachedNode {
                node: self.node_view(node),
                depth,
            })
            .collect();
        Ok(Neighborhood {
            nodes,
            edges,
            truncated,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::kinds::{RelationshipKind, Visibility};
    use crate::tests::{art, id, rel_kind};

    /// ```text
    ///   5 ──answers──► 1 ──supports──► 2 ──extends──► 3 ──relates_to──► 4
    ///                  │ ▲
    ///          supports│ └──depends_on── 7 (isolated from the rest otherwise)
    ///                  ▼
    ///                  6 (private convergence)
    /// ```
    fn fixture() -> KnowledgeGraph {
        let mut g = KnowledgeGraph::new();
        let (public, private) = (id(100), id(200));
        g.upsert_convergence(public, Visibility::Public);
        g.upsert_convergence(private, Visibility::Private);
        for n in [1, 2, 3, 4, 5, 7] {
            g.upsert_artifact(art(n, public, &format!("node {n}")));
        }
        g.upsert_artifact(art(6, private, "secret"));
        use RelationshipKind::*;
        for (edge, a, b, kind) in [
            (10, 1, 2, Supports),
            (11, 2, 3, Extends),
            (12, 3, 4, RelatesTo),
            (13, 5, 1, Answers),
            (14, 1, 6, Supports),
            (15, 7, 1, DependsOn),
        ] {
            g.upsert_relationship(rel_kind(edge, a, b, kind, 1.0))
                .unwrap();
        }
        g
    }

    fn reached(n: &Neighborhood) -> Vec<(u128, u8)> {
        n.nodes
            .iter()
            .map(|r| (r.node.id.as_u128(), r.depth))
            .collect()
    }

    fn edge_ids(n: &Neighborhood) -> Vec<u128> {
        n.edges.iter().map(|e| e.id.as_u128()).collect()
    }

    fn query(center: u128, depth: u8, direction: Direction) -> NeighborhoodQuery {
        NeighborhoodQuery {
            depth,
            direction,
            ..NeighborhoodQuery::new(id(center))
        }
    }

    #[test]
    fn depth_and_direction() {
        let g = fixture();
        let out1 = g
            .neighborhood(&Access::PUBLIC, &query(1, 1, Direction::Out))
            .unwrap();
        assert_eq!(reached(&out1), vec![(1, 0), (2, 1)]);
        assert_eq!(edge_ids(&out1), vec![10]);
        assert!(!out1.truncated);

        let out3 = g
            .neighborhood(&Access::PUBLIC, &query(1, 3, Direction::Out))
            .unwrap();
        assert_eq!(reached(&out3), vec![(1, 0), (2, 1), (3, 2), (4, 3)]);
        assert_eq!(edge_ids(&out3), vec![10, 11, 12]);

        let in2 = g
            .neighborhood(&Access::PUBLIC, &query(2, 2, Direction::In))
            .unwrap();
        assert_eq!(reached(&in2), vec![(2, 0), (1, 1), (5, 2), (7, 2)]);
        assert_eq!(edge_ids(&in2), vec![10, 13, 15]);

        let both2 = g
            .neighborhood(&Access::PUBLIC, &query(2, 2, Direction::Both))
            .unwrap();
        assert_eq!(
            reached(&both2),
            vec![(2, 0), (1, 1), (3, 1), (4, 2), (5, 2), (7, 2)]
        );
        assert_eq!(edge_ids(&both2), vec![10, 11, 12, 13, 15]);
        assert_eq!(both2.nodes[0].node.title, "node 2");
    }

    #[test]
    fn kinds_filter_steps_and_edges() {
        let g = fixture();
        let q = NeighborhoodQuery {
            kinds: [RelationshipKind::Supports, RelationshipKind::Extends]
                .into_iter()
                .collect(),
            ..query(1, 4, Direction::Both)
        };
        let n = g.neighborhood(&Access::PUBLIC, &q).unwrap();
        assert_eq!(reached(&n), vec![(1, 0), (2, 1), (3, 2)]);
        assert_eq!(edge_ids(&n), vec![10, 11]);
    }

    #[test]
    fn visibility_excludes_private_artifacts_and_their_edges() {
        let g = fixture();
        let public = g
            .neighborhood(&Access::PUBLIC, &query(1, 1, Direction::Out))
            .unwrap();
        assert!(!reached(&public).contains(&(6, 1)));
        let all = g
            .neighborhood(&Access::All, &query(1, 1, Direction::Out))
            .unwrap();
        assert_eq!(reached(&all), vec![(1, 0), (2, 1), (6, 1)]);
        assert_eq!(edge_ids(&all), vec![10, 14]);
        assert_eq!(all.nodes[2].node.convergence, id(200));
        let granted = [id(200)];
        let own = g
            .neighborhood(&Access::PublicAnd(&granted), &query(6, 1, Direction::In))
            .unwrap();
        assert_eq!(reached(&own), vec![(6, 0), (1, 1)]);
        // A private centre looks exactly like a missing one.
        assert_eq!(
            g.neighborhood(&Access::PUBLIC, &query(6, 1, Direction::Both)),
            Err(Error::ArtifactNotFound(id(6)))
        );
        assert_eq!(
            g.neighborhood(&Access::PUBLIC, &query(99, 1, Direction::Both)),
            Err(Error::ArtifactNotFound(id(99)))
        );
    }

    #[test]
    fn limit_keeps_the_shallowest_then_smallest_ids() {
        let g = fixture();
        let q = NeighborhoodQuery {
            limit: 3,
            ..query(2, 2, Direction::Both)
        };
        let n = g.neighborhood(&Access::PUBLIC, &q).unwrap();
        assert_eq!(reached(&n), vec![(2, 0), (1, 1), (3, 1)]);
        assert!(n.truncated);
        let q = NeighborhoodQuery {
            limit: 4,
            ..query(2, 2, Direction::Both)
        };
        let n = g.neighborhood(&Access::PUBLIC, &q).unwrap();
        assert_eq!(reached(&n), vec![(2, 0), (1, 1), (3, 1), (4, 2)]);
        assert!(n.truncated);
        // Exactly full, with nothing further in reach: not truncated.
        let q = NeighborhoodQuery {
            limit: 2,
            ..query(1, 4, Direction::Out)
        };
        let n = g.neighborhood(&Access::PUBLIC, &q).unwrap();
        assert!(n.truncated, "3 and 4 lie within depth 4");
        let q = NeighborhoodQuery {
            limit: 4,
            ..query(1, 4, Direction::Out)
        };
        assert!(!g.neighborhood(&Access::PUBLIC, &q).unwrap().truncated);
    }

    #[test]
    fn parameters_are_checked() {
        let g = fixture();
        assert_eq!(
            g.neighborhood(&Access::All, &query(1, 0, Direction::Out)),
            Err(Error::InvalidDepth(0))
        );
        assert_eq!(
            g.neighborhood(&Access::All, &query(1, 5, Direction::Out)),
            Err(Error::InvalidDepth(5))
        );
        let q = NeighborhoodQuery {
            limit: 0,
            ..query(1, 1, Direction::Out)
        };
        assert_eq!(g.neighborhood(&Access::All, &q), Err(Error::InvalidLimit));
    }
}
