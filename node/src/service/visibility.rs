//! The SQL form of [`Caller::can_read`] for list queries.

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::auth::{Caller, Readable};
use crate::db::schema::convergences;
use crate::domain::Visibility;

/// A boxed boolean SQL expression over `convergences`.
pub(crate) type ConvergenceFilter =
    Box<dyn BoxableExpression<convergences::table, Pg, SqlType = Bool>>;

/// True for the convergences `caller` may read.
pub(crate) fn readable_by(caller: &Caller) -> ConvergenceFilter {
    let public = convergences::visibility.eq(Visibility::Public.as_str());
    match caller.readable() {
        Readable::All => Box::new(sql::<Bool>("TRUE")),
        Readable::PublicAnd(ids) if ids.is_empty() => Box::new(public),
        Readable::PublicAnd(ids) => Box::new(public.or(convergences::id.eq_any(ids))),
    }
}
