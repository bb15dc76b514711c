//! Who belongs to a convergence: its members' roles and its invite codes. Managed by the
//! convergence's admins; every change is audited.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::auth::{Caller, Role, credentials_changed, generate_secret, hash_secret};
use crate::db::schema::{invites, memberships, participants};
use crate::db::{DbConvergence, now};
use crate::domain::Username;
use crate::error::{Error, Result};

use super::accounts::set_membership;
use super::convergences as convergence_service;
use crate::audit::{self, AuditAction, AuditEvent};

/// Prefix of invite codes.
const INVITE_PREFIX: &str = "kgi_";

/// Longest an invite may stay valid, in hours (a year).
pub const MAX_INVITE_HOURS: u32 = 24 * 366;

/// An invite to make.
#[derive(Debug, Clone, Copy)]
pub struct NewInvite {
    /// The role it gives.
    pub role: Role,
    /// How many accounts may use it.
    pub max_uses: u32,
    /// Hours until it expires.
    pub expires_in_hours: u32,
}

/// A stored invite (its code is shown once, when made).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invites, check_for_backend(diesel::pg::Pg))]
pub struct InviteRow {
    /// Its id.
    pub id: Uuid,
    /// The role it gives.
    pub role: String,
    /// How many accounts may use it.
    pub max_uses: i32,
    /// How many have.
    pub uses: i32,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The convergence `slug`, if the caller administers it.
async fn administered(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
) -> Result<DbConvergence> {
    let convergence = convergence_service::find_readable(conn, caller, slug).await?;
    caller.require_role(&convergence, Role::Admin)?;
    Ok(convergence)
}

/// Makes an invite code to convergence `slug`; returns it with its code.
pub async fn create_invite(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    new: NewInvite,
) -> Result<(InviteRow, String)> {
    let convergence = administered(conn, caller, slug).await?;
    let code = generate_secret(INVITE_PREFIX).map_err(|e| Error::Internal(e.to_string()))?;
    let expires_at = now() + chrono::Duration::hours(i64::from(new.expires_in_hours));
    conn.transaction(async |conn| {
        let row: InviteRow = diesel::insert_into(invites::table)
            .values((
                invites::id.eq(Uuid::now_v7()),
                invites::code_hash.eq(hash_secret(&code)),
                invites::convergence_id.eq(convergence.id),
                invites::role.eq(new.role.as_str()),
                invites::max_uses.eq(i32::try_from(new.max_uses).unwrap_or(i32::MAX)),
                invites::expires_at.eq(expires_at),
            ))
            .returning(InviteRow::as_returning())
            .get_result(conn)
            .await?;
        let event = AuditEvent::new(AuditAction::InviteCreated, row.id)
            .in_convergence(convergence.id)
            .with_detail(json!({ "role": new.role, "max_uses": new.max_uses }));
        audit::record(conn, caller, event).await?;
        Ok((row, code))
    })
    .await
}

/// The invites of convergence `slug`, newest first.
pub async fn list_invites(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
) -> Result<Vec<InviteRow>> {
    let convergence = administered(conn, caller, slug).await?;
    Ok(invites::table
        .filter(invites::convergence_id.eq(convergence.id))
        .select(InviteRow::as_select())
        .order(invites::created_at.desc())
        .load(conn)
        .await?)
}

/// Revokes invite `id` of convergence `slug`: it cannot be used any more.
pub async fn revoke_invite(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    id: Uuid,
) -> Result<()> {
    let convergence = administered(conn, caller, slug).await?;
    conn.transaction(async |conn| {
        let revoked = diesel::update(invites::table.find(id))
            .filter(invites::convergence_id.eq(convergence.id))
            .filter(invites::revoked_at.is_null())
            .set(invites::revoked_at.eq(now()))
            .execute(conn)
            .await?;
        if revoked == 0 {
            return Err(Error::not_found("invite", id));
        }
        let event = AuditEvent::new(AuditAction::InviteRevoked, id).in_convergence(convergence.id);
        audit::record(conn, caller, event).await?;
        Ok(())
    })
    .await
}

/// A member of a convergence.
#[derive(Debug, Clone, Queryable)]
pub struct MemberRow {
    /// Their username.
    pub username: String,
    /// Their display name.
    pub display_name: String,
    /// Their role.
    pub role: String,
    /// Since when they are a member.
    pub since: DateTime<Utc>,
}

/// The members of convergence `slug`, by username.
pub async fn list_members(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
) -> Result<Vec<MemberRow>> {
    let convergence = administered(conn, caller, slug).await?;
    Ok(memberships::table
        .inner_join(participants::table)
        .filter(memberships::convergence_id.eq(convergence.id))
        .select((
            participants::username,
            participants::display_name,
            memberships::role,
            memberships::created_at,
        ))
        .order(participants::username)
        .load(conn)
        .await?)
}

async fn participant_id(conn: &mut AsyncPgConnection, username: &Username) -> Result<Uuid> {
    participants::table
        .filter(participants::username.eq(username.as_str()))
        .select(participants::id)
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::not_found("participant", username))
}

/// Gives participant `username` `role` in convergence `slug`.
pub async fn set_role(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    username: &Username,
    role: Role,
) -> Result<()> {
    let convergence = administered(conn, caller, slug).await?;
    conn.transaction(async |conn| {
        let participant = participant_id(conn, username).await?;
        set_membership(conn, convergence.id, participant, role).await?;
        credentials_changed(conn).await?;
        let event = AuditEvent::new(AuditAction::MemberRoleSet, username)
            .in_convergence(convergence.id)
            .with_detail(json!({ "role": role }));
        audit::record(conn, caller, event).await?;
        Ok(())
    })
    .await
}

/// Removes participant `username` from convergence `slug`.
pub async fn remove(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    slug: &str,
    username: &Username,
) -> Result<()> {
    let convergence = administered(conn, caller, slug).await?;
    conn.transaction(async |conn| {
        let participant = participant_id(conn, username).await?;
        let removed = diesel::delete(memberships::table.find((convergence.id, participant)))
            .execute(conn)
            .await?;
        if removed == 0 {
            return Err(Error::not_found("member", username));
        }
        credentials_changed(conn).await?;
        let event =
            AuditEvent::new(AuditAction::MemberRemoved, username).in_convergence(convergence.id);
        audit::record(conn, caller, event).await?;
        Ok(())
    })
    .await
}
