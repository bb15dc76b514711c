//! Memory estimates.

use serde::Serialize;

/// An estimate of the heap memory a [`KnowledgeGraph`](crate::KnowledgeGraph) holds, from the
/// capacities of its containers (not from the allocator).
///
/// * `node_bytes`: petgraph node slots (`Option<attributes>` + two edge-list heads), the
///   artifact-id → index hash map, and the titles' heap blocks (rounded as glibc's malloc does:
///   16-byte granules plus an 8-byte header, 32 bytes at least).
/// * `edge_bytes`: petgraph edge slots (`Option<attributes>` + two list links + two endpoints)
///   and the relationship-id → index hash map.
/// * Hash maps count `buckets × (entry + 1 control byte)`, buckets being the capacity rounded
///   up as hashbrown does (load factor 7/8, power of two).
/// * Vacant slots left by removals are counted (they are reused by later inserts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryUsage {
    /// Artifacts stored.
    pub artifacts: usize,
    /// Relationships stored.
    pub relationships: usize,
    /// Bytes held for artifacts.
    pub node_bytes: usize,
    /// Bytes held for relationships.
    pub edge_bytes: usize,
    /// Bytes held for the convergence table.
    pub convergence_bytes: usize,
}

impl MemoryUsage {
    /// All bytes held.
    pub fn total_bytes(&self) -> usize {
        self.node_bytes + self.edge_bytes + self.convergence_bytes
    }

    /// Bytes per artifact (0 for an empty graph).
    pub fn bytes_per_node(&self) -> f64 {
        per(self.node_bytes, self.artifacts)
    }

    /// Bytes per relationship (0 for a graph without relationships).
    pub fn bytes_per_edge(&self) -> f64 {
        per(self.edge_bytes, self.relationships)
    }
}

fn per(bytes: usize, count: usize) -> f64 {
    if count == 0 {
        0.0
    } else {
        bytes as f64 / count as f64
    }
}

/// The size of the heap block a `len`-byte allocation takes (0 for none).
pub(crate) fn heap_block(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len + 8).next_multiple_of(16).max(32)
    }
}

/// The bytes a `HashMap<K, V>` with this capacity holds.
pub(crate) fn map_bytes<K, V>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        capacity.next_power_of_two().max(4)
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    buckets * (std::mem::size_of::<(K, V)>() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_and_map_estimates() {
        assert_eq!(heap_block(0), 0);
        assert_eq!(heap_block(1), 32);
        assert_eq!(heap_block(24), 32);
        assert_eq!(heap_block(25), 48);
        assert_eq!(map_bytes::<u64, u64>(0), 0);
        // 14 entries fit 16 buckets at load factor 7/8.
        assert_eq!(map_bytes::<u64, u64>(14), 16 * 17);
        let usage = MemoryUsage {
            artifacts: 2,
            relationships: 0,
            node_bytes: 100,
            edge_bytes: 0,
            convergence_bytes: 10,
        };
        assert_eq!(usage.bytes_per_node(), 50.0);
        assert_eq!(usage.bytes_per_edge(), 0.0);
        assert_eq!(usage.total_bytes(), 110);
    }
}
