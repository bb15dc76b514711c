//! The caller of a request and the one place that decides what it may do.
//!
//! Every check a handler or service makes goes through a method here, so the route × role
//! table in the README is this file's behaviour. Reads of a private convergence that the caller
//! may not see answer 404 (its existence is not revealed); other refusals answer 401 without
//! credentials and 403 with credentials that are not enough.

use uuid::Uuid;

use crate::db::DbConvergence;
use crate::domain::Visibility;
use crate::error::Error;

use super::role::{Role, TokenRole};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A service token, node-wide (`scope: None`) or for one convergence.
    Token {
        /// The token's id.
        id: Uuid,
        /// The convergence it is limited to.
        scope: Option<Uuid>,
        /// What it may do there.
        role: TokenRole,
    },
    /// A participant signed in with a session.
    Participant {
        /// The participant's id.
        id: Uuid,
        /// Their username.
        username: String,
        /// The session the request came with.
        session: Uuid,
    },
    /// The node itself: the command line and the extraction jobs.
    System,
}

/// Which convergences a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readable {
    /// Every convergence.
    All,
    /// Public convergences and these (sorted).
    PublicAnd(Vec<Uuid>),
}

impl Readable {
    /// The private convergences readable besides the public ones (empty for [`Readable::All`]).
    pub fn granted(&self) -> &[Uuid] {
        match self {
            Readable::All => &[],
            Readable::PublicAnd(ids) => ids,
        }
    }

    /// True when every convergence is readable.
    pub fn is_all(&self) -> bool {
        matches!(self, Readable::All)
    }
}

/// The authenticated (or anonymous) caller of a request, with its roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    principal: Principal,
    /// The role it has in every convergence (node administrators, node-wide tokens).
    everywhere: Option<Role>,
    /// Its roles in single convergences, sorted by convergence id.
    roles: Vec<(Uuid, Role)>,
    /// The id of the request it made, for the audit log.
    request: Option<String>,
}

impl Caller {
    /// A caller without credentials.
    pub fn anonymous() -> Self {
        Self {
            principal: Principal::Anonymous,
            everywhere: None,
            roles: Vec::new(),
            request: None,
        }
    }

    /// The node itself, which may do everything.
    pub fn system() -> Self {
        Self {
            principal: Principal::System,
            everywhere: Some(Role::Admin),
            roles: Vec::new(),
            request: None,
        }
    }

    /// The holder of token `id`.
    pub fn token(id: Uuid, scope: Option<Uuid>, role: TokenRole) -> Self {
        let (everywhere, roles) = match scope {
            None => (Some(role.as_role()), Vec::new()),
            Some(convergence) => (None, vec![(convergence, role.as_role())]),
        };
        Self {
            principal: Principal::Token { id, scope, role },
            everywhere,
            roles,
            request: None,
        }
    }

    /// A signed-in participant with their memberships.
    pub fn participant(
        id: Uuid,
        username: String,
        session: Uuid,
        node_admin: bool,
        mut roles: Vec<(Uuid, Role)>,
    ) -> Self {
        roles.sort_unstable();
        Self {
            principal: Principal::Participant {
                id,
                username,
                session,
            },
            everywhere: node_admin.then_some(Role::Admin),
            roles,
            request: None,
        }
    }

    /// The caller, making request `id`.
    pub fn in_request(mut self, id: String) -> Self {
        self.request = Some(id);
        self
    }

    /// The id of the request the caller is making, if known.
    pub fn request_id(&self) -> Option<&str> {
        self.request.as_deref()
    }

    /// Who is asking.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The participant asking, if one is.
    pub fn participant_id(&self) -> Option<Uuid> {
        match &self.principal {
            Principal::Participant { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// True when the caller has no credentials.
    pub fn is_anonymous(&self) -> bool {
        self.principal == Principal::Anonymous
    }

    /// True for node administrators, node-wide admin tokens and the node itself.
    pub fn is_node_admin(&self) -> bool {
        self.everywhere == Some(Role::Admin)
    }

    /// The caller's role in convergence `id`, if it has one.
    pub fn role_in(&self, id: Uuid) -> Option<Role> {
        let own = self
            .roles
            .binary_search_by_key(&id, |(convergence, _)| *convergence)
            .ok()
            .map(|at| self.roles[at].1);
        own.max(self.everywhere)
    }

    /// Which convergences the caller may read.
    pub fn readable(&self) -> Readable {
        if self.everywhere.is_some() {
            Readable::All
        } else {
            Readable::PublicAnd(self.roles.iter().map(|(id, _)| *id).collect())
        }
    }

    /// True when the caller may see the convergence `id` of the given visibility.
    pub fn can_read(&self, id: Uuid, visibility: &str) -> bool {
        visibility == Visibility::Public.as_str() || self.role_in(id).is_some()
    }

    /// Fails with 404 (not 403: its existence is not revealed) when the caller may not read it.
    pub fn require_read(&self, convergence: &DbConvergence) -> Result<(), Error> {
        if self.can_read(convergence.id, &convergence.visibility) {
            Ok(())
        } else {
            Err(Error::not_found("convergence", &convergence.slug))
        }
    }

    /// Fails unless the caller has at least `role` in the convergence. Convergences mirrored
    /// from another node are read-only for everyone (403).
    pub fn require_role(&self, convergence: &DbConvergence, role: Role) -> Result<(), Error> {
        self.require_read(convergence)?;
        if let Some(origin) = &convergence.origin_url {
            return Err(Error::Forbidden(format!(
                "convergence '{}' mirrors {origin}; only its origin node changes it",
                convergence.slug
            )));
        }
        if self.is_anonymous() {
            return Err(Error::Unauthenticated);
        }
        match self.role_in(convergence.id) {
            Some(held) if held >= role => Ok(()),
            _ => Err(Error::Forbidden(format!(
                "this needs the {} role in convergence '{}'",
                role.as_str(),
                convergence.slug
            ))),
        }
    }

    /// Fails unless the caller may add to the convergence (contributor or more).
    pub fn require_write(&self, convergence: &DbConvergence) -> Result<(), Error> {
        self.require_role(convergence, Role::Contributor)
    }

    /// Fails unless the caller may change or delete something made by `creator` in the
    /// convergence: moderators and more may change anything, contributors what they made.
    pub fn require_change(
        &self,
        convergence: &DbConvergence,
        creator: Option<Uuid>,
    ) -> Result<(), Error> {
        self.require_write(convergence)?;
        if self.moderates(convergence.id, creator) || !self.is_foreign(creator) {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "only its creator or a moderator of convergence '{}' may change it",
            convergence.slug
        )))
    }

    /// True when a change by this caller to something made by `creator` is a moderator's
    /// action on someone else's work (and so goes to the audit log).
    pub fn moderates(&self, convergence: Uuid, creator: Option<Uuid>) -> bool {
        self.is_foreign(creator)
            && self
                .role_in(convergence)
                .is_some_and(|role| role >= Role::Moderator)
    }

    /// True for a participant acting on what they did not make.
    fn is_foreign(&self, creator: Option<Uuid>) -> bool {
        self.participant_id()
            .is_some_and(|participant| creator != Some(participant))
    }

    /// Fails unless the caller may create convergences: node administrators and node-wide
    /// write tokens.
    pub fn require_node_write(&self, action: &str) -> Result<(), Error> {
        match self.everywhere {
            _ if self.is_anonymous() => Err(Error::Unauthenticated),
            Some(role) if role >= Role::Moderator => Ok(()),
            _ => Err(Error::Forbidden(format!(
                "{action} needs a node administrator or a node-wide write token"
            ))),
        }
    }

    /// Fails unless the caller administers the node.
    pub fn require_node_admin(&self, action: &str) -> Result<(), Error> {
        if self.is_anonymous() {
            Err(Error::Unauthenticated)
        } else if self.is_node_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{action} needs a node administrator"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convergence(id: Uuid, visibility: &str) -> DbConvergence {
        DbConvergence {
            id,
            slug: "c".into(),
            name: "C".into(),
            description: String::new(),
            visibility: visibility.into(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            origin_url: None,
        }
    }

    #[test]
    fn contributors_change_their_own_and_moderators_anything() {
        let space = convergence(Uuid::now_v7(), "private");
        let me = Uuid::now_v7();
        let someone = Some(Uuid::now_v7());
        let contributor =
            |role| Caller::participant(me, "me".into(), Uuid::nil(), false, vec![(space.id, role)]);
        assert!(
            contributor(Role::Contributor)
                .require_change(&space, Some(me))
                .is_ok()
        );
        assert!(
            contributor(Role::Contributor)
                .require_change(&space, someone)
                .is_err()
        );
        assert!(
            contributor(Role::Viewer)
                .require_change(&space, Some(me))
                .is_err()
        );
        assert!(
            contributor(Role::Moderator)
                .require_change(&space, someone)
                .is_ok()
        );
        assert!(contributor(Role::Moderator).moderates(space.id, someone));
        assert!(!contributor(Role::Moderator).moderates(space.id, Some(me)));
    }

    #[test]
    fn tokens_act_with_their_role_in_their_scope_only() {
        let space = convergence(Uuid::now_v7(), "private");
        let other = convergence(Uuid::now_v7(), "private");
        let reader = Caller::token(Uuid::nil(), Some(space.id), TokenRole::Read);
        assert!(reader.require_read(&space).is_ok());
        assert!(reader.require_read(&other).is_err());
        assert!(reader.require_write(&space).is_err());
        let writer = Caller::token(Uuid::nil(), Some(space.id), TokenRole::Write);
        assert!(writer.require_change(&space, Some(Uuid::now_v7())).is_ok());
        assert!(writer.require_node_admin("x").is_err());
        let node = Caller::token(Uuid::nil(), None, TokenRole::Admin);
        assert!(node.require_node_admin("x").is_ok());
        assert_eq!(node.readable(), Readable::All);
        assert!(Caller::anonymous().require_write(&space).is_err());
    }
}
