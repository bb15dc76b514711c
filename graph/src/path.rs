//! Shortest paths: bidirectional breadth-first search (fewest hops) and bidirectional Dijkstra
//! (least total cost, an edge costing `1 / weight`).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use foldhash::{HashMap, HashMapExt};
use petgraph::stable_graph::NodeIndex;
use serde::Serialize;
use uuid::Uuid;

use crate::access::Access;
use crate::error::Result;
use crate::graph::{EdgeView, KnowledgeGraph, NodeView, VisibleSet};
use crate::kinds::Direction;

/// What a shortest-path query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathQuery {
    /// Where the path starts.
    pub from: Uuid,
    /// Where it ends.
    pub to: Uuid,
    /// `Out` follows relationships source → target, `In` target → source, `Both` either way.
    pub direction: Direction,
    /// `false`: fewest hops. `true`: least total cost, an edge costing `1 / weight`.
    pub weighted: bool,
}

impl PathQuery {
    /// Unweighted, following relationships source → target.
    pub fn new(from: Uuid, to: Uuid) -> Self {
        PathQuery {
            from,
            to,
            direction: Direction::Out,
            weighted: false,
        }
    }
}

/// A shortest path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Path {
    /// The artifacts along the path, `from` first, `to` last.
    pub nodes: Vec<NodeView>,
    /// The relationships crossed, in order (each keeps its own source and target, so with
    /// `In` or `Both` an edge may point against the walk). Between two consecutive artifacts
    /// with several usable relationships, the heaviest is named (then the smallest id).
    pub edges: Vec<EdgeView>,
    /// Number of relationships crossed.
    pub hops: usize,
    /// Sum of `1 / weight` over `edges`, added up from `from` to `to`.
    pub cost: f64,
}

impl KnowledgeGraph {
    /// A shortest path between two artifacts on the subgraph `access` may see, or `None` when
    /// `to` cannot be reached from `from`.
    ///
    /// Unweighted: fewest hops, by a bidirectional breadth-first search. Weighted: least sum of
    /// `1 / weight`, by a bidirectional Dijkstra (parallel relationships: the cheapest counts).
    /// When several paths are shortest, one of them is returned. A path from an artifact to
    /// itself has no edges.
    ///
    /// Errors: [`Error::ArtifactNotFound`](crate::Error::ArtifactNotFound) when either end is
    /// absent or not visible.
    pub fn shortest_path(&self, access: &Access<'_>, query: &PathQuery) -> Result<Option<Path>> {
        let visible = self.visible_set(access, None);
        let from = self.visible_node(&visible, query.from)?;
        let to = self.visible_node(&visible, query.to)?;
        let route = if query.weighted {
            self.dijkstra_route(&visible, from, to, query.direction)
        } else {
            self.bfs_route(&visible, from, to, query.direction)
        };
        Ok(route.map(|nodes| self.path_along(&nodes, query.direction)))
    }

    /// Node sequence of a fewest-hops path. Expands, level by level, whichever side has the
    /// smaller frontier; the first node discovered by both sides lies on a shortest path
    /// (before it, the two visited sets were disjoint, so no shorter path exists).
    fn bfs_route(
        &self,
        visible: &VisibleSet,
        from: NodeIndex,
        to: NodeIndex,
        direction: Direction,
    ) -> Option<Vec<NodeIndex>> {
        if from == to {
            return Some(vec![from]);
        }
        let mut sides = [
            Side::new(from, direction),
            Side::new(to, direction.reversed()),
        ];
        loop {
            let [forward, backward] = &sides;
            if forward.frontier.is_empty() || backward.frontier.is_empty() {
                return None;
            }
            let turn = usize::from(backward.frontier.len() < forward.frontier.len());
            let [first, second] = &mut sides;
            let (side, other) = if turn == 0 {
                (first, &*second)
            } else {
                (second, &*first)
            };
            let mut next = Vec::new();
            let mut meeting = None;
            for &node in &side.frontier {
                self.for_each_step(node, side.direction, |_, neighbour, _| {
                    if meeting.is_some()
                        || side.parent.contains_key(&neighbour)
                        || !self.is_visible(visible, neighbour)
                    {
                        return;
                    }
                    side.parent.insert(neighbour, node);
                    if other.parent.contains_key(&neighbour) {
                        meeting = Some(neighbour);
                    }
                    next.push(neighbour);
                });
                if meeting.is_some() {
                    break;
                }
            }
            if let Some(meeting) = meeting {
                return Some(join(&sides[0].parent, &sides[1].parent, meeting));
            }
            side.frontier = next;
        }
    }

    /// Node sequence of a least-cost path. Settles, each round, one node of the side with the
    /// smaller heap, and stops once the two sides' smallest tentative distances add up to at
    /// least the best meeting found (the standard stopping rule of bidirectional Dijkstra).
    fn dijkstra_route(
        &self,
        visible: &VisibleSet,
        from: NodeIndex,
        to: NodeIndex,
        direction: Direction,
    ) -> Option<Vec<NodeIndex>> {
        if from == to {
            return Some(vec![from]);
        }
        let mut sides = [
            WeightedSide::new(from, direction),
            WeightedSide::new(to, direction.reversed()),
        ];
        let mut best = f64::INFINITY;
        let mut meeting = None;
        while let (Some(top0), Some(top1)) = (sides[0].peek(), sides[1].peek()) {
            if top0 + top1 >= best {
                break;
            }
            // Grow the side with the smaller heap (its frontier): any alternation is correct
            // under the stopping rule, and balanced searches touch fewer nodes.
            let turn = usize::from(sides[1].heap.len() < sides[0].heap.len());
            let [first, second] = &mut sides;
            let (side, other) = if turn == 0 {
                (first, &*second)
            } else {
                (second, &*first)
            };
            let Some((distance, node)) = side.pop() else {
                break;
            };
            self.for_each_step(node, side.direction, |_, neighbour, data| {
                if !self.is_visible(visible, neighbour) {
                    return;
                }
                let candidate = distance + data.cost();
                let label = side.labels.entry(neighbour).or_insert(Label {
                    distance: f64::INFINITY,
                    parent: node,
                    settled: false,
                });
                if label.settled || candidate >= label.distance {
                    return;
                }
                label.distance = candidate;
                label.parent = node;
                side.heap.push(Reverse((Cost(candidate), neighbour)));
                if let Some(there) = other.labels.get(&neighbour)
                    && candidate + there.distance < best
                {
                    best = candidate + there.distance;
                    meeting = Some(neighbour);
                }
            });
        }
        let meeting = meeting?;
        Some(join(&sides[0].parents(), &sides[1].parents(), meeting))
    }

    /// Turns a node sequence into a [`Path`], naming the heaviest usable edge at each step.
    fn path_along(&self, nodes: &[NodeIndex], direction: Direction) -> Path {
        let mut edges = Vec::with_capacity(nodes.len().saturating_sub(1));
        for pair in nodes.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let mut chosen = None;
            self.for_each_step(a, direction, |edge, neighbour, data| {
                if neighbour != b {
                    return;
                }
                let better =
                    chosen.is_none_or(|(_, weight, id)| match data.weight.total_cmp(&weight) {
                        Ordering::Greater => true,
                        Ordering::Equal => data.id < id,
                        Ordering::Less => false,
                    });
                if better {
                    chosen = Some((edge, data.weight, data.id));
                }
            });
            if let Some((edge, _, _)) = chosen
                && let Some((source, target)) = self.graph.edge_endpoints(edge)
            {
                edges.push(self.edge_view(source, target, &self.graph[edge]));
            }
        }
        let cost = edges.iter().fold(0.0, |sum, edge| sum + 1.0 / edge.weight);
        Path {
            nodes: nodes.iter().map(|node| self.node_view(*node)).collect(),
            hops: edges.len(),
            edges,
            cost,
        }
    }
}

/// One end of a bidirectional breadth-first search.
struct Side {
    direction: Direction,
    /// Node → the node it was discovered from (the root maps to itself).
    parent: HashMap<NodeIndex, NodeIndex>,
    frontier: Vec<NodeIndex>,
}

impl Side {
    fn new(root: NodeIndex, direction: Direction) -> Self {
        let mut parent = HashMap::new();
        parent.insert(root, root);
        Side {
            direction,
            parent,
            frontier: vec![root],
        }
    }
}

/// A path cost, ordered totally (costs are positive and finite).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cost(f64);

impl Eq for Cost {}

impl PartialOrd for Cost {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cost {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// What one side of a bidirectional Dijkstra knows of a node.
#[derive(Debug, Clone, Copy)]
struct Label {
    /// Best known distance from the side's root.
    distance: f64,
    /// The node it was reached from (the root: itself).
    parent: NodeIndex,
    /// Whether `distance` is final.
    settled: bool,
}

/// One end of a bidirectional Dijkstra.
struct WeightedSide {
    direction: Direction,
    labels: HashMap<NodeIndex, Label>,
    heap: BinaryHeap<Reverse<(Cost, NodeIndex)>>,
}

impl WeightedSide {
    fn new(root: NodeIndex, direction: Direction) -> Self {
        let mut labels = HashMap::new();
        labels.insert(
            root,
            Label {
                distance: 0.0,
                parent: root,
                settled: false,
            },
        );
        WeightedSide {
            direction,
            labels,
            heap: BinaryHeap::from([Reverse((Cost(0.0), root))]),
        }
    }

    /// Drops stale heap entries; the smallest tentative distance left.
    fn peek(&mut self) -> Option<f64> {
        while let Some(Reverse((Cost(distance), node))) = self.heap.peek().copied() {
            if self.labels.get(&node).is_some_and(|label| label.settled) {
                self.heap.pop();
            } else {
                return Some(distance);
            }
        }
        None
    }

    /// Settles the closest unsettled node.
    fn pop(&mut self) -> Option<(f64, NodeIndex)> {
        self.peek()?;
        let Reverse((Cost(distance), node)) = self.heap.pop()?;
        if let Some(label) = self.labels.get_mut(&node) {
            label.settled = true;
        }
        Some((distance, node))
    }

    fn parents(&self) -> HashMap<NodeIndex, NodeIndex> {
        self.labels
            .iter()
            .map(|(node, label)| (*node, label.parent))
            .collect()
    }
}

/// The node sequence root → meeting → other root from the two sides' parent maps.
fn join(
    forward: &HashMap<NodeIndex, NodeIndex>,
    backward: &HashMap<NodeIndex, NodeIndex>,
    meeting: NodeIndex,
) -> Vec<NodeIndex> {
    let walk = |parents: &HashMap<NodeIndex, NodeIndex>| {
        let mut chain = vec![meeting];
        let mut node = meeting;
        while let Some(&parent) = parents.get(&node) {
            if parent == node {
                break;
            }
            chain.push(parent);
            node = parent;
        }
        chain
    };
    let mut nodes = walk(forward);
    nodes.reverse();
    nodes.extend(walk(backward).into_iter().skip(1));
    nodes
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::kinds::Visibility;
    use crate::tests::{art, id, rel};

    /// ```text
    ///        ┌──0.25──► 4 ──────────────────┐          (1 → 4 → 5: 2 hops, cost 4 + 1)
    ///        │                              ▼
    ///   1 ──1.0──► 2 ──1.0──► 3 ──1.0──► 5 ◄── 6 (private) ◄── 1 (1.0, 1.0)
    ///                                  (1→2→3→5: 3 hops, cost 3)
    ///   7 ──0.5──► 8      9 (isolated)
    /// ```
    fn fixture() -> KnowledgeGraph {
        let mut g = KnowledgeGraph::new();
        let (public, private) = (id(100), id(200));
        g.upsert_convergence(public, Visibility::Public);
        g.upsert_convergence(private, Visibility::Private);
        for n in [1, 2, 3, 4, 5, 7, 8, 9] {
            g.upsert_artifact(art(n, public, &format!("node {n}")));
        }
        g.upsert_artifact(art(6, private, "secret"));
        for (edge, a, b, w) in [
            (10, 1, 2, 1.0),
            (11, 2, 3, 1.0),
            (12, 3, 5, 1.0),
            (13, 1, 4, 0.25),
            (14, 4, 5, 1.0),
            (15, 1, 6, 1.0),
            (16, 6, 5, 1.0),
            (17, 7, 8, 0.5),
        ] {
            g.upsert_relationship(rel(edge, a, b, w)).unwrap();
        }
        g
    }

    fn ids(path: &Path) -> (Vec<u128>, Vec<u128>) {
        (
            path.nodes.iter().map(|n| n.id.as_u128()).collect(),
            path.edges.iter().map(|e| e.id.as_u128()).collect(),
        )
    }

    fn query(from: u128, to: u128, direction: Direction, weighted: bool) -> PathQuery {
        PathQuery {
            from: id(from),
            to: id(to),
            direction,
            weighted,
        }
    }

    #[test]
    fn fewest_hops_and_least_cost_differ() {
        let g = fixture();
        let hops = g
            .shortest_path(&Access::PUBLIC, &query(1, 5, Direction::Out, false))
            .unwrap()
            .unwrap();
        assert_eq!(ids(&hops), (vec![1, 4, 5], vec![13, 14]));
        assert_eq!((hops.hops, hops.cost), (2, 5.0));
        let cheap = g
            .shortest_path(&Access::PUBLIC, &query(1, 5, Direction::Out, true))
            .unwrap()
            .unwrap();
        assert_eq!(ids(&cheap), (vec![1, 2, 3, 5], vec![10, 11, 12]));
        assert_eq!((cheap.hops, cheap.cost), (3, 3.0));
    }

    #[test]
    fn visibility_changes_the_answer() {
        let g = fixture();
        // With the private artifact, 1 → 6 → 5 costs 2.
        let all = g
            .shortest_path(&Access::All, &query(1, 5, Direction::Out, true))
            .unwrap()
            .unwrap();
        assert_eq!(ids(&all), (vec![1, 6, 5], vec![15, 16]));
        assert_eq!(all.cost, 2.0);
        assert_eq!(
            g.shortest_path(&Access::PUBLIC, &query(1, 6, Direction::Out, false)),
            Err(Error::ArtifactNotFound(id(6)))
        );
    }

    #[test]
    fn directions() {
        let g = fixture();
        for weighted in [false, true] {
            assert!(
                g.shortest_path(&Access::PUBLIC, &query(5, 1, Direction::Out, weighted))
                    .unwrap()
                    .is_none()
            );
            let back = g
                .shortest_path(&Access::PUBLIC, &query(5, 1, Direction::In, weighted))
                .unwrap()
                .unwrap();
            assert_eq!(back.nodes.first().unwrap().id, id(5));
            assert_eq!(back.nodes.last().unwrap().id, id(1));
            // Edges keep their own orientation.
            assert_eq!(back.edges.last().unwrap().source, id(1));
            // 2 reaches 4 only undirected.
            assert!(
                g.shortest_path(&Access::PUBLIC, &query(2, 4, Direction::Out, weighted))
                    .unwrap()
                    .is_none()
            );
            let undirected = g
                .shortest_path(&Access::PUBLIC, &query(2, 4, Direction::Both, weighted))
                .unwrap()
                .unwrap();
            if weighted {
                // 2 → 3 → 5 ← 4 costs 3; 2 ← 1 → 4 costs 5.
                assert_eq!(ids(&undirected), (vec![2, 3, 5, 4], vec![11, 12, 14]));
                assert_eq!(undirected.cost, 3.0);
            } else {
                assert_eq!(ids(&undirected), (vec![2, 1, 4], vec![10, 13]));
                assert_eq!(undirected.cost, 5.0);
            }
        }
        let back = g
            .shortest_path(&Access::PUBLIC, &query(5, 1, Direction::In, true))
            .unwrap()
            .unwrap();
        assert_eq!(back.cost, 3.0);
    }

    #[test]
    fn unreachable_trivial_and_parallel() {
        let mut g = fixture();
        for weighted in [false, true] {
            assert!(
                g.shortest_path(&Access::PUBLIC, &query(1, 9, Direction::Both, weighted))
                    .unwrap()
                    .is_none()
            );
            assert!(
                g.shortest_path(&Access::PUBLIC, &query(1, 8, Direction::Both, weighted))
                    .unwrap()
                    .is_none()
            );
            let same = g
                .shortest_path(&Access::PUBLIC, &query(9, 9, Direction::Out, weighted))
                .unwrap()
                .unwrap();
            assert_eq!((same.hops, same.cost, same.nodes.len()), (0, 0.0, 1));
        }
        // A parallel, heavier 7 → 8 edge is named and counted.
        g.upsert_relationship(crate::tests::rel_kind(
            18,
            7,
            8,
            crate::RelationshipKind::Supports,
            1.0,
        ))
        .unwrap();
        for weighted in [false, true] {
            let p = g
                .shortest_path(&Access::PUBLIC, &query(7, 8, Direction::Out, weighted))
                .unwrap()
                .unwrap();
            assert_eq!(ids(&p), (vec![7, 8], vec![18]));
            assert_eq!(p.cost, 1.0);
        }
    }

    #[test]
    fn long_chain_meets_in_the_middle() {
        let mut g = KnowledgeGraph::new();
        let c = id(1);
        g.upsert_convergence(c, Visibility::Public);
        for n in 0..50 {
            g.upsert_artifact(art(1000 + n, c, "chain"));
        }
        for n in 0..49 {
            g.upsert_relationship(rel(5000 + n, 1000 + n, 1001 + n, 0.5))
                .unwrap();
        }
        // A shortcut that costs more than the chain it skips only for the weighted search.
        g.upsert_relationship(rel(6000, 1000, 1040, 0.01)).unwrap();
        let hops = g
            .shortest_path(&Access::PUBLIC, &query(1000, 1049, Direction::Out, false))
            .unwrap()
            .unwrap();
        assert_eq!((hops.hops, hops.cost), (10, 100.0 + 9.0 * 2.0));
        let cheap = g
            .shortest_path(&Access::PUBLIC, &query(1000, 1049, Direction::Out, true))
            .unwrap()
            .unwrap();
        assert_eq!((cheap.hops, cheap.cost), (49, 98.0));
        let nodes: Vec<u128> = cheap.nodes.iter().map(|n| n.id.as_u128()).collect();
        assert_eq!(nodes, (1000..1050).collect::<Vec<_>>());
    }
}
