//! Degree centrality.

use serde::Serialize;
use uuid::Uuid;

use crate::access::Access;
use crate::graph::KnowledgeGraph;
use crate::kinds::vocabulary;
use crate::pagerank::top_k;
use crate::snapshot::GraphSnapshot;

vocabulary! {
    /// Which degree ranks artifacts in [`Degrees::top`].
    DegreeOrder, "degree order" {
        /// Incoming relationships.
        In => "in",
        /// Outgoing relationships.
        Out => "out",
        /// Both.
        Total => "total",
    }
}

/// An artifact's degrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DegreeScore {
    /// The artifact.
    pub id: Uuid,
    /// Visible relationships pointing to it.
    pub in_degree: u32,
    /// Visible relationships leaving it.
    pub out_degree: u32,
    /// `in_degree + out_degree` (a self-loop counts twice).
    pub total: u32,
}

/// Degrees of every artifact of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degrees {
    ids: Vec<Uuid>,
    in_degree: Vec<u32>,
    out_degree: Vec<u32>,
}

impl Degrees {
    /// Number of artifacts.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is no artifact.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every artifact's degrees, in the snapshot's (unsorted) order.
    pub fn iter(&self) -> impl Iterator<Item = DegreeScore> + '_ {
        (0..self.ids.len()).map(|index| self.score(index))
    }

    /// The `k` artifacts with the highest degree of the given kind (ties: higher total, then
    /// smallest id first).
    pub fn top(&self, k: usize, order: DegreeOrder) -> Vec<DegreeScore> {
        let key = |index: usize| {
            let (i, o) = (self.in_degree[index], self.out_degree[index]);
            let total = i + o;
            match order {
                DegreeOrder::In => (i, total),
                DegreeOrder::Out => (o, total),
                DegreeOrder::Total => (total, total),
            }
        };
        let compare = |a: &u32, b: &u32| {
            let (a, b) = (*a as usize, *b as usize);
            key(b)
                .cmp(&key(a))
                .then_with(|| self.ids[a].cmp(&self.ids[b]))
        };
        top_k(self.ids.len(), k, compare)
            .into_iter()
            .map(|index| self.score(index as usize))
            .collect()
    }

    fn score(&self, index: usize) -> DegreeScore {
        DegreeScore {
            id: self.ids[index],
            in_degree: self.in_degree[index],
            out_degree: self.out_degree[index],
            total: self.in_degree[index] + self.out_degree[index],
        }
    }
}

impl GraphSnapshot {
    /// In-, out- and total degree of each artifact, counting every relationship (parallel
    /// relationships of different kinds each count, as networkx counts a `MultiDiGraph`'s
    /// edges).
    pub fn degree_centrality(&self) -> Degrees {
        let n = self.ids.len();
        let mut in_degree = vec![0u32; n];
        let mut out_degree = vec![0u32; n];
        for &(source, target) in &self.edges {
            out_degree[source as usize] += 1;
            in_degree[target as usize] += 1;
        }
        Degrees {
            ids: self.ids.clone(),
            in_degree,
            out_degree,
        }
    }
}

impl KnowledgeGraph {
    /// Degrees over the subgraph induced by the artifacts `access` may see (only
    /// `convergence`'s, when given). See [`GraphSnapshot::degree_centrality`].
    pub fn degree_centrality(&self, access: &Access<'_>, convergence: Option<Uuid>) -> Degrees {
        self.snapshot_with(access, convergence, false)
            .degree_centrality()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::kinds::{RelationshipKind, Visibility};
    use crate::tests::{art, id, rel, rel_kind};

    #[test]
    fn counts_every_visible_relationship() {
        let mut g = KnowledgeGraph::new();
        let (public, private) = (id(100), id(200));
        g.upsert_convergence(public, Visibility::Public);
        g.upsert_convergence(private, Visibility::Private);
        for n in 1..=4 {
            g.upsert_artifact(art(n, public, "x"));
        }
        g.upsert_artifact(art(5, private, "x"));
        g.upsert_relationship(rel(10, 1, 2, 1.0)).unwrap();
        g.upsert_relationship(rel_kind(11, 1, 2, RelationshipKind::Supports, 1.0))
            .unwrap();
        g.upsert_relationship(rel(12, 3, 2, 1.0)).unwrap();
        g.upsert_relationship(rel(13, 2, 4, 1.0)).unwrap();
        g.upsert_relationship(rel(14, 5, 2, 1.0)).unwrap();
        g.upsert_relationship(rel(15, 4, 4, 1.0)).unwrap();

        let degrees = g.degree_centrality(&Access::PUBLIC, None);
        assert_eq!(degrees.len(), 4);
        let top = degrees.top(2, DegreeOrder::In);
        assert_eq!(
            top[0],
            DegreeScore {
                id: id(2),
                in_degree: 3,
                out_degree: 1,
                total: 4
            }
        );
        assert_eq!(top[1].id, id(4));
        assert_eq!((top[1].in_degree, top[1].out_degree), (2, 1));
        let out: Vec<u128> = degrees
            .top(4, DegreeOrder::Out)
            .iter()
            .map(|d| d.id.as_u128())
            .collect();
        // 1 has 2 out (total 2); 2 and 4 one out, but 2's total is higher; then 3.
        assert_eq!(out, vec![1, 2, 4, 3]);
        let all = g.degree_centrality(&Access::All, None);
        assert_eq!(all.top(1, DegreeOrder::Total)[0].in_degree, 4);
        assert_eq!(all.iter().map(|d| d.total).sum::<u32>(), 12);
        assert!(
            g.degree_centrality(&Access::PUBLIC, Some(private))
                .is_empty()
        );
        assert_eq!("total".parse::<DegreeOrder>().unwrap(), DegreeOrder::Total);
    }
}
