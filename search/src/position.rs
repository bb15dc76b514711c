//! The commit payload that carries the change-log position an index has applied, written by
//! the writer and read when the index is opened.

use std::path::Path;

use crate::error::{Error, Result};

/// The commit payload recording `position`.
pub(crate) fn payload(position: i64) -> String {
    serde_json::json!({ "position": position }).to_string()
}

pub(crate) fn parse_payload(path: &Path, payload: String) -> Result<i64> {
    serde_json::from_str::<serde_json::Value>(&payload)
        .ok()
        .and_then(|value| value.get("position")?.as_i64())
        .ok_or_else(|| Error::CorruptPayload {
            path: path.to_path_buf(),
            payload,
        })
}
