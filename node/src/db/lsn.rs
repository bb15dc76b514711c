//! Positions in PostgreSQL's write-ahead log: what a write's answer tells its client, and what
//! a replica has replayed.

use std::fmt;
use std::str::FromStr;

use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// A WAL position (`pg_lsn`), written as PostgreSQL writes it: two hexadecimal halves, `16/B374D848`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(u64);

/// A text that is not a WAL position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is not a WAL position such as 16/B374D848")]
pub struct InvalidLsn(String);

impl FromStr for Lsn {
    type Err = InvalidLsn;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidLsn(text.chars().take(40).collect());
        let (high, low) = text.trim().split_once('/').ok_or_else(invalid)?;
        let half = |part: &str| {
            (!part.is_empty() && part.len() <= 8)
                .then(|| u32::from_str_radix(part, 16).ok())
                .flatten()
                .ok_or_else(invalid)
        };
        Ok(Self((u64::from(half(high)?) << 32) | u64::from(half(low)?)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = Text)]
    lsn: String,
}

/// Runs `statement`, which selects one `pg_lsn` as text named `lsn` (NULL: `None`).
pub(crate) async fn query_lsn(
    conn: &mut AsyncPgConnection,
    statement: &'static str,
) -> diesel::QueryResult<Option<Lsn>> {
    let rows: Vec<Position> = diesel::sql_query(statement).load(conn).await?;
    rows.into_iter()
        .next()
        .map(|row| row.lsn.parse())
        .transpose()
        .map_err(|error: InvalidLsn| diesel::result::Error::DeserializationError(Box::new(error)))
}

/// How far the primary has written its WAL: asked after a write has committed, a position at
/// or past the commit, which a replica has applied once it has replayed that far.
pub async fn write_position(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Lsn> {
    query_lsn(conn, "SELECT pg_current_wal_lsn()::text AS lsn")
        .await?
        .ok_or(diesel::result::Error::NotFound)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_and_print_as_postgresql_writes_them_and_order_numerically() {
        let lsn: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Lsn>().unwrap().to_string(), "0/0");
        assert!("0/FF".parse::<Lsn>().unwrap() < "1/0".parse::<Lsn>().unwrap());
        assert!("0/A".parse::<Lsn>().unwrap() < "0/10".parse::<Lsn>().unwrap());
        for bad in ["", "16", "/1", "1/", "G/0", "1/2/3", "123456789/0"] {
            assert!(bad.parse::<Lsn>().is_err(), "{bad} accepted");
        }
    }
}
