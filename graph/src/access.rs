//! Who may see what: every query runs on the subgraph induced by the artifacts its caller may read.

use std::fmt;

use uuid::Uuid;

use crate::kinds::Visibility;

/// Which convergences a query may see. A query answers as if the artifacts of every other
/// convergence, and every relationship touching one of them, did not exist.
///
/// The node maps its caller's grant onto this: a node-wide token is [`Access::All`], a token for
/// convergence `c` is `Access::PublicAnd(&[c])`, an anonymous caller is [`Access::PUBLIC`].
/// Visibility is the one the graph was told with
/// [`upsert_convergence`](crate::KnowledgeGraph::upsert_convergence); a convergence the graph has
/// not been told about counts as private (fail closed).
#[derive(Clone, Copy)]
pub enum Access<'a> {
    /// Every convergence.
    All,
    /// Public convergences and the listed ones.
    PublicAnd(&'a [Uuid]),
    /// Exactly the convergences for which the predicate answers `true`. It is called once per
    /// known convergence per query, not once per artifact.
    Predicate(&'a dyn Fn(Uuid) -> bool),
}

impl Access<'static> {
    /// Public convergences only (an anonymous caller).
    pub const PUBLIC: Access<'static> = Access::PublicAnd(&[]);
}

impl Access<'_> {
    /// Whether a convergence with this id and (known) visibility may be read.
    pub fn allows(&self, convergence: Uuid, visibility: Option<Visibility>) -> bool {
        match self {
            Access::All => true,
            Access::PublicAnd(granted) => {
                visibility == Some(Visibility::Public) || granted.contains(&convergence)
            }
            Access::Predicate(predicate) => predicate(convergence),
        }
    }
}

impl fmt::Debug for Access<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::All => f.write_str("All"),
            Access::PublicAnd(granted) => f.debug_tuple("PublicAnd").field(granted).finish(),
            Access::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules() {
        let c = Uuid::from_u128(7);
        let other = Uuid::from_u128(8);
        assert!(Access::All.allows(c, None));
        assert!(Access::PUBLIC.allows(c, Some(Visibility::Public)));
        assert!(!Access::PUBLIC.allows(c, Some(Visibility::Private)));
        assert!(!Access::PUBLIC.allows(c, None), "unknown counts as private");
        assert!(Access::PublicAnd(&[c]).allows(c, Some(Visibility::Private)));
        assert!(!Access::PublicAnd(&[c]).allows(other, Some(Visibility::Private)));
        let only_c = |id: Uuid| id == c;
        assert!(Access::Predicate(&only_c).allows(c, Some(Visibility::Private)));
        assert!(!Access::Predicate(&only_c).allows(other, Some(Visibility::Public)));
        assert_eq!(format!("{:?}", Access::Predicate(&only_c)), "Predicate(..)");
    }
}
