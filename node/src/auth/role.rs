//! Roles: what a participant is in a convergence, and what a service token may do.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A participant's role in one convergence. Each role may do what the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the convergence, even when it is private.
    Viewer,
    /// Posts contributions, artifacts and relationships, and edits and deletes their own.
    Contributor,
    /// Edits and deletes anyone's artifacts and relationships in the convergence.
    Moderator,
    /// Manages the convergence: its settings, members and invites.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [
        Role::Viewer,
        Role::Contributor,
        Role::Moderator,
        Role::Admin,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Contributor => "contributor",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }

    /// The role stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

/// What a service token may do within its scope (the node or one convergence).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    /// Reads, private convergences of its scope included.
    Read,
    /// Reads and writes anything in its scope (a token has no "own" artifacts: it edits all).
    Write,
    /// Everything in its scope; node-wide, the node's administration too.
    Admin,
}

impl TokenRole {
    /// Every token role, weakest first.
    pub const ALL: [TokenRole; 3] = [TokenRole::Read, TokenRole::Write, TokenRole::Admin];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Read => "read",
            TokenRole::Write => "write",
            TokenRole::Admin => "admin",
        }
    }

    /// The role stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == name)
    }

    /// The convergence role this token acts with in its scope.
    pub fn as_role(self) -> Role {
        match self {
            TokenRole::Read => Role::Viewer,
            TokenRole::Write => Role::Moderator,
            TokenRole::Admin => Role::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_roles_are_ordered() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for role in TokenRole::ALL {
            assert_eq!(TokenRole::parse(role.as_str()), Some(role));
        }
        assert!(Role::Viewer < Role::Contributor && Role::Moderator < Role::Admin);
        assert_eq!(Role::parse("owner"), None);
    }
}
