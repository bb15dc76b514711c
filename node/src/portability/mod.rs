//! The export file format and its reading: a convergence as JSON-LD (one document, or NDJSON
//! lines), in the node's served context. Writing an export and applying an import are use
//! cases ([`crate::service::export`], [`crate::service::import`]).

pub mod format;
pub mod read;
