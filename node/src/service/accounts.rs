//! Participants' accounts: registration (with invites), login, and accounts made by
//! administrators.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::{Caller, NewSession, PasswordHashing, Role, hash_secret, start_session};
use crate::config::{AccountSettings, Registration};
use crate::db::now;
use crate::db::schema::{convergences, invites, memberships, participants};
use crate::domain::{Password, Username};
use crate::error::{Error, Result};

use crate::audit::{self, AuditAction, AuditEvent};

/// A participant as shown to them and to administrators.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = participants, check_for_backend(diesel::pg::Pg))]
pub struct ParticipantRow {
    /// Their id.
    pub id: Uuid,
    /// Their username.
    pub username: String,
    /// Their display name.
    pub display_name: String,
    /// Whether they administer the node.
    pub node_admin: bool,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
}

/// An account to make.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The username.
    pub username: Username,
    /// The password.
    pub password: Password,
    /// The display name (the username when empty).
    pub display_name: Option<String>,
    /// An invite code, giving a role in its convergence.
    pub invite: Option<String>,
}

/// Longest display name, in characters.
const MAX_DISPLAY_NAME_CHARS: usize = 100;

fn display_name(account: &NewAccount) -> Result<String> {
    let name = account
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(account.username.as_str());
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(Error::InvalidBody {
            field: "display_name".into(),
            message: format!("at most {MAX_DISPLAY_NAME_CHARS} characters"),
        });
    }
    Ok(name.to_owned())
}

fn check_password(settings: &AccountSettings, password: &Password) -> Result<()> {
    password
        .require_length(settings.min_password_chars)
        .map_err(|e| Error::InvalidBody {
            field: "password".into(),
            message: e.0,
        })
}

/// Registers an account as `accounts.registration` allows: with a valid invite its holder
/// becomes a member of the invite's convergence with the invite's role.
pub async fn register(
    conn: &mut AsyncPgConnection,
    settings: &AccountSettings,
    hashing: &PasswordHashing,
    account: NewAccount,
) -> Result<(ParticipantRow, Option<(String, Role)>)> {
    match (settings.registration, &account.invite) {
        (Registration::Closed, _) => {
            return Err(Error::Forbidden(
                "registration is closed on this node; ask an administrator for an account".into(),
            ));
        }
        (Registration::Invite, None) => {
            return Err(Error::Forbidden(
                "registration on this node needs an invite code (\"invite\")".into(),
            ));
        }
        _ => {}
    }
    let name = display_name(&account)?;
    check_password(settings, &account.password)?;
    let hash = hashing
        .hash(account.password.expose().to_owned())
        .await
        .map_err(password_failure)?;
    conn.transaction(async |conn| {
        let joined = match &account.invite {
            Some(code) => Some(redeem(conn, code).await?),
            None => None,
        };
        let row = insert_participant(conn, &account.username, &name, &hash, false).await?;
        let membership = match joined {
            Some((convergence, slug, role)) => {
                set_membership(conn, convergence, row.id, role).await?;
                Some((slug, role))
            }
            None => None,
        };
        Ok((row, membership))
    })
    .await
}

/// Makes an account for an administrator (`kgnode participant create`), whatever
/// `accounts.registration` says.
pub async fn create_by_admin(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    hashing: &PasswordHashing,
    username: &Username,
    password: &Password,
    node_admin: bool,
) -> Result<ParticipantRow> {
    caller.require_node_admin("making accounts")?;
    let hash = hashing
        .hash(password.expose().to_owned())
        .await
        .map_err(password_failure)?;
    conn.transaction(async |conn| {
        let row = insert_participant(conn, username, username.as_str(), &hash, node_admin).await?;
        let event = AuditEvent::new(AuditAction::ParticipantCreated, username)
            .with_detail(serde_json::json!({ "node_admin": node_admin }));
        audit::record(conn, caller, event).await?;
        Ok(row)
    })
    .await
}

fn password_failure(error: crate::auth::PasswordError) -> Error {
    Error::Internal(error.to_string())
}

async fn insert_participant(
    conn: &mut AsyncPgConnection,
    username: &Username,
    display_name: &str,
    hash: &str,
    node_admin: bool,
) -> Result<ParticipantRow> {
    diesel::insert_into(participants::table)
        .values((
            participants::id.eq(Uuid::now_v7()),
            participants::username.eq(username.as_str()),
            participants::display_name.eq(display_name),
            participants::password_hash.eq(hash),
            participants::node_admin.eq(node_admin),
        ))
        .on_conflict(participants::username)
        .do_nothing()
        .returning(ParticipantRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
        .ok_or_else(|| Error::Conflict(format!("the username '{username}' is taken")))
}

/// Uses one use of the live invite `code` (locking it against concurrent use) and returns its
/// convergence (id, slug) and role; 422 when it is unknown, used up, revoked or expired.
async fn redeem(conn: &mut AsyncPgConnection, code: &str) -> Result<(Uuid, String, Role)> {
    let invite: Option<(Uuid, Uuid, String)> = invites::table
        .filter(invites::code_hash.eq(hash_secret(code.trim())))
        .filter(invites::revoked_at.is_null())
        .filter(invites::expires_at.gt(now()))
        .filter(invites::uses.lt(invites::max_uses))
        .select((invites::id, invites::convergence_id, invites::role))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    let (id, convergence, role) = invite.ok_or_else(|| Error::InvalidBody {
        field: "invite".into(),
        message: "this invite code is unknown, used up, revoked or expired".into(),
    })?;
    diesel::update(invites::table.find(id))
        .set(invites::uses.eq(invites::uses + 1))
        .execute(conn)
        .await?;
    let slug = convergences::table
        .find(convergence)
        .select(convergences::slug)
        .first(conn)
        .await?;
    let role =
        Role::parse(&role).ok_or_else(|| Error::Internal(format!("stored role '{role}'")))?;
    Ok((convergence, slug, role))
}

/// Gives `participant` `role` in `convergence`, replacing the role they had.
pub(crate) async fn set_membership(
    conn: &mut AsyncPgConnection,
    convergence: Uuid,
    participant: Uuid,
    role: Role,
) -> QueryResult<()> {
    diesel::insert_into(memberships::table)
        .values((
            memberships::convergence_id.eq(convergence),
            memberships::participant_id.eq(participant),
            memberships::role.eq(role.as_str()),
        ))
        .on_conflict((memberships::convergence_id, memberships::participant_id))
        .do_update()
        .set(memberships::role.eq(role.as_str()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Checks `username` and `password` and starts a session lasting `accounts.session_days`; 401
/// for an unknown username or a wrong password alike, in the same time.
pub async fn login(
    conn: &mut AsyncPgConnection,
    settings: &AccountSettings,
    hashing: &PasswordHashing,
    username: &str,
    password: &Password,
) -> Result<(ParticipantRow, NewSession)> {
    let found: Option<(ParticipantRow, String)> = participants::table
        .filter(participants::username.eq(username))
        .select((ParticipantRow::as_select(), participants::password_hash))
        .first(conn)
        .await
        .optional()?;
    let (row, stored) = match found {
        Some((row, stored)) => (Some(row), Some(stored)),
        None => (None, None),
    };
    let matches = hashing
        .verify(password.expose().to_owned(), stored)
        .await
        .map_err(password_failure)?;
    let row = row.filter(|_| matches).ok_or(Error::InvalidCredentials)?;
    let lifetime = chrono::Duration::days(i64::try_from(settings.session_days).unwrap_or(30));
    let session = start_session(conn, row.id, lifetime)
        .await
        .map_err(|error| match error {
            crate::auth::SessionError::Database(error) => Error::from(error),
            crate::auth::SessionError::Randomness(error) => Error::Internal(error.to_string()),
        })?;
    Ok((row, session))
}

/// The participant `id`, with their memberships (convergence slug, role), slug order.
pub async fn profile(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<(ParticipantRow, Vec<(String, String)>)> {
    let row = participants::table
        .find(id)
        .select(ParticipantRow::as_select())
        .first(conn)
        .await?;
    let roles = memberships::table
        .inner_join(convergences::table)
        .filter(memberships::participant_id.eq(id))
        .select((convergences::slug, memberships::role))
        .order(convergences::slug)
        .load(conn)
        .await?;
    Ok((row, roles))
}
