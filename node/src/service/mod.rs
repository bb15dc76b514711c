//! Use cases: each public function is one API operation, run against one connection and, when
//! it writes, inside one transaction that also appends to the change log.

pub mod accounts;
pub mod artifacts;
pub mod batch;
pub mod contributions;
pub mod convergences;
pub mod dimensions;
pub mod export;
pub mod import;
pub mod jobs;
pub mod members;
pub mod relationships;
pub mod remote;
mod visibility;

pub use artifacts::ArtifactWithDimensions;
