//! `kgnode token ...` and `kgnode participant ...`: credentials made on the node's own machine,
//! audited as done by the command line.

use std::io::{BufRead, Write};

use clap::Subcommand;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::{
    Caller, PasswordHashing, TokenError, TokenRequest, TokenRole, create_token, list_tokens,
    revoke_token,
};
use crate::config::Settings;
use crate::db::{self, ConnectError};
use crate::domain::{InvalidValue, Password, Slug, Username};
use crate::service::accounts;

use super::CliError;

/// Token actions.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token and print it (alone, on the last line). It is stored hashed and cannot be
    /// shown again.
    Create {
        /// Limit the token to this convergence; node-wide when omitted.
        #[arg(long, value_name = "SLUG")]
        convergence: Option<String>,
        /// `read`, `write` or `admin`; admin for node-wide tokens and write for convergence
        /// tokens when omitted.
        #[arg(long, value_parser = parse_role)]
        role: Option<TokenRole>,
        /// Days until it expires; never when omitted.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// A note to recognise the token by.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (ids, scopes, roles, labels; never secrets).
    List,
    /// Revoke a token by id.
    Revoke {
        /// The token's id, as printed by `token create` or `token list`.
        id: uuid::Uuid,
    },
}

/// Participant actions.
#[derive(Debug, Subcommand)]
pub enum ParticipantAction {
    /// Make an account, whatever `accounts.registration` says. The password is read from the
    /// first line of standard input (never from the command line, where others could see it).
    Create {
        /// The username (2 to 32 of a-z, 0-9, _).
        username: String,
        /// Make them a node administrator (every role in every convergence).
        #[arg(long)]
        admin: bool,
    },
}

fn parse_role(value: &str) -> Result<TokenRole, String> {
    TokenRole::parse(value).ok_or_else(|| format!("'{value}' is not read, write or admin"))
}

async fn connect(settings: &Settings) -> Result<AsyncPgConnection, CliError> {
    use secrecy::ExposeSecret;
    Ok(db::establish(settings.database.url.expose_secret())
        .await
        .map_err(ConnectError::from)?)
}

/// Runs a `kgnode token` action.
pub async fn token(
    settings: &Settings,
    action: TokenAction,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let mut conn = connect(settings).await?;
    let cli = Caller::system();
    match action {
        TokenAction::Create {
            convergence,
            role,
            expires_in_days,
            label,
        } => {
            let slug = convergence.map(Slug::try_from).transpose()?;
            let default_role = if slug.is_some() {
                TokenRole::Write
            } else {
                TokenRole::Admin
            };
            let request = TokenRequest {
                convergence: slug.clone(),
                role: role.unwrap_or(default_role),
                label,
                expires_at: expires_in_days
                    .map(|days| db::now() + chrono::Duration::days(i64::from(days))),
            };
            let (id, secret) = conn
                .transaction(async |conn| {
                    let made = create_token(conn, &request).await?;
                    let event = AuditEvent::new(AuditAction::TokenCreated, made.0).with_detail(
                        serde_json::json!({
                            "role": request.role,
                            "convergence": request.convergence,
                        }),
                    );
                    audit::record(conn, &cli, event).await?;
                    Ok::<_, TokenError>(made)
                })
                .await?;
            let scope = slug.map_or("node-wide".to_owned(), |s| format!("convergence '{s}'"));
            writeln!(
                out,
                "created {scope} {} token {id}; store it now, it cannot be shown again:",
                request.role.as_str()
            )?;
            writeln!(out, "{secret}")?;
        }
        TokenAction::List => {
            for token in list_tokens(&mut conn).await? {
                let scope = token.convergence.unwrap_or_else(|| "node-wide".to_owned());
                let state = match (token.revoked_at, token.expires_at) {
                    (Some(at), _) => format!("revoked {}", at.to_rfc3339()),
                    (None, Some(at)) => format!("expires {}", at.to_rfc3339()),
                    (None, None) => "live".to_owned(),
                };
                writeln!(
                    out,
                    "{}  {scope}  {}  {}  created {}  {state}",
                    token.id,
                    token.role,
                    token.label,
                    token.created_at.to_rfc3339()
                )?;
            }
        }
        TokenAction::Revoke { id } => {
            conn.transaction(async |conn| {
                revoke_token(conn, id).await?;
                audit::record(conn, &cli, AuditEvent::new(AuditAction::TokenRevoked, id)).await?;
                Ok::<_, TokenError>(())
            })
            .await?;
            writeln!(out, "revoked token {id}")?;
        }
    }
    Ok(())
}

/// Runs a `kgnode participant` action, reading a password from `input`.
pub async fn participant(
    settings: &Settings,
    action: ParticipantAction,
    input: &mut dyn BufRead,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let ParticipantAction::Create { username, admin } = action;
    let username = Username::try_from(username)?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    let password = Password::try_from(line.trim_end_matches(['\r', '\n']).to_owned())?;
    password.require_length(settings.accounts.min_password_chars)?;
    let hashing =
        PasswordHashing::new(&settings.accounts).map_err(|e| InvalidValue(e.to_string()))?;
    let mut conn = connect(settings).await?;
    let row = accounts::create_by_admin(
        &mut conn,
        &Caller::system(),
        &hashing,
        &username,
        &password,
        admin,
    )
    .await?;
    let role = if admin {
        "node administrator"
    } else {
        "participant"
    };
    writeln!(out, "created {role} '{}' ({})", row.username, row.id)?;
    Ok(())
}
