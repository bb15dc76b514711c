//! Weakly connected components.

use uuid::Uuid;

use crate::access::Access;
use crate::graph::KnowledgeGraph;
use crate::snapshot::GraphSnapshot;

/// The weakly connected components of a snapshot, in a deterministic order: largest first, ties
/// by smallest member id; members sorted by id. An isolated artifact is a component of one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Components {
    /// Every member, component after component.
    members: Vec<Uuid>,
    /// `starts[i]..starts[i + 1]` is component `i`'s range in `members`.
    starts: Vec<usize>,
}

impl Components {
    /// Number of components.
    pub fn count(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Number of artifacts over all components.
    pub fn artifact_count(&self) -> usize {
        self.members.len()
    }

    /// Component sizes, in component order (non-increasing).
    pub fn sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.starts.windows(2).map(|pair| pair[1] - pair[0])
    }

    /// Members of component `index` (sorted by id), if there is such a component.
    pub fn members(&self, index: usize) -> Option<&[Uuid]> {
        let (start, end) = (*self.starts.get(index)?, *self.starts.get(index + 1)?);
        self.members.get(start..end)
    }

    /// Components `offset..offset + limit` (fewer at the end), each as its sorted members.
    pub fn page(&self, offset: usize, limit: usize) -> impl Iterator<Item = &[Uuid]> + '_ {
        let end = offset.saturating_add(limit).min(self.count());
        (offset..end).filter_map(|index| self.members(index))
    }

    /// Members `offset..offset + limit` of component `index` (fewer at the end; empty when
    /// there is no such component).
    pub fn members_page(&self, index: usize, offset: usize, limit: usize) -> &[Uuid] {
        let members = self.members(index).unwrap_or_default();
        let start = offset.min(members.len());
        let end = offset.saturating_add(limit).min(members.len());
        &members[start..end]
    }
}

/// Union–find with path halving and union by size.
struct DisjointSets {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        DisjointSets {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grandparent = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grandparent;
            x = grandparent;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
    }
}

impl GraphSnapshot {
    /// Weakly connected components (relationships taken as undirected), by union–find over
    /// the edge list: O(m α(n) + n log n) with the final sorting.
    pub fn weakly_connected_components(&self) -> Components {
        let n = self.ids.len();
        let mut sets = DisjointSets::new(n);
        for &(a, b) in &self.edges {
            sets.union(a, b);
        }
        // Group members by root (counting sort), then sort each group and order the groups.
        let roots: Vec<u32> = (0..n as u32).map(|x| sets.find(x)).collect();
        let mut group_start = vec![0usize; n + 1];
        for &root in &roots {
            group_start[root as usize + 1] += 1;
        }
        for i in 0..n {
            group_start[i + 1] += group_start[i];
        }
        let mut cursor = group_start.clone();
        let mut grouped = vec![Uuid::nil(); n];
        for (x, &root) in roots.iter().enumerate() {
            grouped[cursor[root as usize]] = self.ids[x];
            cursor[root as usize] += 1;
        }
        let mut groups: Vec<(usize, usize)> = (0..n)
            .filter(|&root| group_start[root + 1] > group_start[root])
            .map(|root| (group_start[root], group_start[root + 1]))
            .collect();
        for &(start, end) in &groups {
            grouped[start..end].sort_unstable();
        }
        groups.sort_unstable_by(|&(a_start, a_end), &(b_start, b_end)| {
            (b_end - b_start)
                .cmp(&(a_end - a_start))
                .then_with(|| grouped[a_start].cmp(&grouped[b_start]))
        });
        let mut members = Vec::with_capacity(n);
        let mut starts = Vec::with_capacity(groups.len() + 1);
        starts.push(0);
        for (start, end) in groups {
            members.extend_from_slice(&grouped[start..end]);
            starts.push(members.len());
        }
        Components { members, starts }
    }
}

impl KnowledgeGraph {
    /// Weakly connected components of the subgraph induced by the artifacts `access` may see
    /// (only `convergence`'s, when given).
    pub fn weakly_connected_components(
        &self,
        access: &Access<'_>,
        convergence: Option<Uuid>,
    ) -> Components {
        self.snapshot_with(access, convergence, false)
            .weakly_connected_components()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::kinds::Visibility;
    use crate::tests::{art, id, rel};

    fn as_ids(members: &[Uuid]) -> Vec<u128> {
        members.iter().map(|m| m.as_u128()).collect()
    }

    #[test]
    fn components_are_ordered_and_paginated() {
        let mut g = KnowledgeGraph::new();
        let (public, private) = (id(100), id(200));
        g.upsert_convergence(public, Visibility::Public);
        g.upsert_convergence(private, Visibility::Private);
        for n in 1..=9 {
            g.upsert_artifact(art(n, public, "x"));
        }
        g.upsert_artifact(art(10, private, "x"));
        // {1, 2, 3} via 3 → 1 and 2 → 3; {4, 5}; {6, 7} joined only through private 10;
        // 8, 9 isolated.
        for (edge, a, b) in [(20, 3, 1), (21, 2, 3), (22, 5, 4), (23, 6, 10), (24, 10, 7)] {
            g.upsert_relationship(rel(edge, a, b, 1.0)).unwrap();
        }
        let public_view = g.weakly_connected_components(&Access::PUBLIC, None);
        assert_eq!(public_view.count(), 6);
        assert_eq!(public_view.artifact_count(), 9);
        assert_eq!(
            public_view.sizes().collect::<Vec<_>>(),
            vec![3, 2, 1, 1, 1, 1]
        );
        assert_eq!(as_ids(public_view.members(0).unwrap()), vec![1, 2, 3]);
        assert_eq!(as_ids(public_view.members(1).unwrap()), vec![4, 5]);
        assert_eq!(
            public_view
                .page(2, 10)
                .map(|c| as_ids(c)[0])
                .collect::<Vec<_>>(),
            vec![6, 7, 8, 9]
        );
        assert_eq!(public_view.page(5, 3).count(), 1);
        assert_eq!(public_view.page(9, 3).count(), 0);
        assert!(public_view.members(6).is_none());
        assert_eq!(as_ids(public_view.members_page(0, 1, 5)), vec![2, 3]);
        assert!(public_view.members_page(0, 7, 5).is_empty());
        assert!(public_view.members_page(42, 0, 5).is_empty());

        let everything = g.weakly_connected_components(&Access::All, None);
        assert_eq!(everything.sizes().collect::<Vec<_>>(), vec![3, 3, 2, 1, 1]);
        // Equal sizes: the smaller first member first.
        assert_eq!(as_ids(everything.members(0).unwrap()), vec![1, 2, 3]);
        assert_eq!(as_ids(everything.members(1).unwrap()), vec![6, 7, 10]);

        let empty = g.weakly_connected_components(&Access::PUBLIC, Some(private));
        assert_eq!((empty.count(), empty.sizes().count()), (0, 0));
    }
}
