//! Who is asking and what they may do: service tokens, participant sessions, roles.
//!
//! Participants have a role per convergence (viewer < contributor < moderator < admin); node
//! administrators have every role everywhere. Service tokens act with their role (read, write,
//! admin) in their scope, the node or one convergence. Without credentials, public convergences
//! can be read and nothing written. Private convergences are invisible (404) to callers who may
//! not read them. [`Caller`] holds every rule.

mod authenticate;
mod cache;
mod caller;
mod password;
mod role;
mod secret;
mod session;
mod token;

pub use authenticate::{Writer, authenticate, bearer_secret, caller_from_secret};
pub use cache::{CredentialCache, credentials_changed};
pub use caller::{Caller, Principal, Readable};
pub use password::{PasswordError, PasswordHashing};
pub use role::{Role, TokenRole};
pub use secret::{RandomnessError, generate_secret, hash_secret};
pub use session::{NewSession, SESSION_PREFIX, SessionError, end_session, start_session};
pub use token::{
    TOKEN_PREFIX, TokenError, TokenInfo, TokenRequest, create_token, list_tokens, revoke_token,
};
