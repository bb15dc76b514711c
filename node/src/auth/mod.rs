//! Bearer tokens and what they allow.
//!
//! A node-wide token may do everything. A convergence token may read and write in its own
//! convergence only. Without a token, public convergences can be read and nothing written.
//! Private convergences are invisible (404) to callers who may not read them.

mod caller;
mod token;

pub use caller::{Caller, Grant, Writer, bearer_secret};
pub use token::{
    TokenError, TokenInfo, create_token, generate_secret, hash_secret, list_tokens, revoke_token,
};
