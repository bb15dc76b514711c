//! Keyset pagination: opaque cursors and page limits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::error::Error;

/// Page size used when the client gives none.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 500;

/// A page of a list: `next_cursor` is null on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null when there is none.
    pub next_cursor: Option<String>,
}

/// Checks a requested page size.
pub fn page_limit(requested: Option<i64>) -> Result<i64, Error> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(limit) => Err(Error::InvalidParameter(format!(
            "limit {limit} is out of range: use 1 to {MAX_LIMIT}"
        ))),
    }
}

/// Encodes a position in a list as an opaque cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, Error> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| Error::InvalidParameter(format!("invalid cursor '{cursor}'")))
}

/// Builds a page from rows fetched with `limit + 1`: the extra row only signals a next page.
pub fn paginate<R, T, K: Serialize>(
    mut rows: Vec<R>,
    limit: i64,
    key: impl Fn(&R) -> K,
    render: impl FnMut(R) -> T,
) -> Page<T> {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if has_more {
        rows.last().map(|row| encode_cursor(&key(row)))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(render).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = encode_cursor(&(3_i64, "food"));
        let decoded: Option<(i64, String)> = decode_cursor(Some(&cursor)).unwrap_or_default();
        assert_eq!(decoded, Some((3, "food".to_owned())));
        assert!(decode_cursor::<(i64, String)>(Some("!!")).is_err());
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(501)).is_err());
    }

    #[test]
    fn extra_row_signals_next_page() {
        let page = paginate(vec![1, 2, 3], 2, |n| *n, |n| n * 10);
        assert_eq!(page.items, vec![10, 20]);
        assert!(page.next_cursor.is_some());
        let last = paginate(vec![1, 2], 2, |n| *n, |n| n);
        assert!(last.next_cursor.is_none());
    }
}
