//! The audit log: every administrative and moderation action appends a row, in the transaction
//! of the action, so that a row exists exactly when the action took effect.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Caller, Principal};
use crate::db::schema::{audit_log, convergences};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// A participant account was made by an administrator.
    ParticipantCreated,
    /// A participant's role in a convergence was set.
    MemberRoleSet,
    /// A participant was removed from a convergence.
    MemberRemoved,
    /// An invite code was made.
    InviteCreated,
    /// An invite code was revoked.
    InviteRevoked,
    /// A service token was made.
    TokenCreated,
    /// A service token was revoked.
    TokenRevoked,
    /// A convergence was created.
    ConvergenceCreated,
    /// A convergence's settings were changed.
    ConvergenceUpdated,
    /// A moderator edited someone else's artifact.
    ArtifactModerated,
    /// A moderator deleted someone else's artifact.
    ArtifactDeletedByModerator,
    /// A moderator deleted someone else's relationship.
    RelationshipDeletedByModerator,
    /// An export file was imported.
    Imported,
    /// A remote convergence was followed.
    FollowAdded,
    /// A remote convergence was unfollowed.
    FollowRemoved,
    /// An instance was blocked.
    BlockAdded,
    /// An instance was unblocked.
    BlockRemoved,
    /// A parked delivery was queued again.
    ParkedRetried,
    /// A parked delivery was discarded.
    ParkedDiscarded,
    /// A job was queued again.
    JobRetried,
    /// A job was discarded.
    JobDiscarded,
}

impl AuditAction {
    /// The stored name, `noun.verb`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ParticipantCreated => "participant.create",
            AuditAction::MemberRoleSet => "member.set_role",
            AuditAction::MemberRemoved => "member.remove",
            AuditAction::InviteCreated => "invite.create",
            AuditAction::InviteRevoked => "invite.revoke",
            AuditAction::TokenCreated => "token.create",
            AuditAction::TokenRevoked => "token.revoke",
            AuditAction::ConvergenceCreated => "convergence.create",
            AuditAction::ConvergenceUpdated => "convergence.update",
            AuditAction::ArtifactModerated => "artifact.moderate",
            AuditAction::ArtifactDeletedByModerator => "artifact.moderate_delete",
            AuditAction::RelationshipDeletedByModerator => "relationship.moderate_delete",
            AuditAction::Imported => "import",
            AuditAction::FollowAdded => "follow.add",
            AuditAction::FollowRemoved => "follow.remove",
            AuditAction::BlockAdded => "block.add",
            AuditAction::BlockRemoved => "block.remove",
            AuditAction::ParkedRetried => "parked.retry",
            AuditAction::ParkedDiscarded => "parked.discard",
            AuditAction::JobRetried => "job.retry",
            AuditAction::JobDiscarded => "job.discard",
        }
    }
}

/// One action to record.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// What was done.
    pub action: AuditAction,
    /// To what: an id, a username, a host.
    pub target: String,
    /// The convergence it concerns, if one.
    pub convergence: Option<Uuid>,
    /// Anything else worth keeping (a role, a count).
    pub detail: Value,
}

impl AuditEvent {
    /// An event without convergence or detail.
    pub fn new(action: AuditAction, target: impl ToString) -> Self {
        Self {
            action,
            target: target.to_string(),
            convergence: None,
            detail: Value::Object(Default::default()),
        }
    }

    /// The event, concerning `convergence`.
    pub fn in_convergence(mut self, convergence: Uuid) -> Self {
        self.convergence = Some(convergence);
        self
    }

    /// The event, with `detail`.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Appends `event`, done by `caller`, in the caller's transaction.
pub async fn record(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    event: AuditEvent,
) -> QueryResult<()> {
    let (kind, id, name) = match caller.principal() {
        Principal::Anonymous => ("anonymous", None, String::new()),
        Principal::Token { id, .. } => ("token", Some(*id), format!("token {id}")),
        Principal::Participant { id, username, .. } => ("participant", Some(*id), username.clone()),
        Principal::System => ("cli", None, "kgnode".to_owned()),
    };
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor_kind.eq(kind),
            audit_log::actor_id.eq(id),
            audit_log::actor_name.eq(name),
            audit_log::action.eq(event.action.as_str()),
            audit_log::target.eq(event.target),
            audit_log::convergence_id.eq(event.convergence),
            audit_log::request_id.eq(caller.request_id()),
            audit_log::detail.eq(event.detail),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A row of the audit log, as listed.
#[derive(Debug, Clone, Serialize, Queryable, ToSchema)]
pub struct AuditEntry {
    /// Its position in the log (increasing).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `participant`, `token` or `cli`.
    pub actor_kind: String,
    /// The participant's or token's id.
    pub actor_id: Option<Uuid>,
    /// The participant's username, or `token <id>`, or `kgnode`.
    pub actor_name: String,
    /// What was done, e.g. `member.set_role`.
    pub action: String,
    /// To what.
    pub target: String,
    /// The slug of the convergence it concerns, if one (and it still exists).
    pub convergence: Option<String>,
    /// The request's `X-Request-Id`, to find it in the logs.
    pub request_id: Option<String>,
    /// Anything else recorded.
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// Which rows to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor (username, `token <id>` or `kgnode`).
    pub actor: Option<String>,
    /// Only this convergence.
    pub convergence: Option<Uuid>,
}

/// The newest `limit` rows matching `filter` before row `before`, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table
        .left_join(convergences::table)
        .select((
            audit_log::id,
            audit_log::at,
            audit_log::actor_kind,
            audit_log::actor_id,
            audit_log::actor_name,
            audit_log::action,
            audit_log::target,
            convergences::slug.nullable(),
            audit_log::request_id,
            audit_log::detail,
        ))
        .order(audit_log::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(audit_log::id.lt(before));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_log::actor_name.eq(actor.clone()));
    }
    if let Some(convergence) = filter.convergence {
        query = query.filter(audit_log::convergence_id.eq(convergence));
    }
    query.load(conn).await
}
