//! The SQL form of [`Caller::can_read`] for list queries.

use diesel::dsl::sql;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::auth::{Caller, Grant};
use crate::db::schema::convergences;
use crate::domain::Visibility;

/// A boxed boolean SQL expression over `convergences`.
pub(crate) type ConvergenceFilter =
    Box<dyn BoxableExpression<convergences::table, Pg, SqlType = Bool>>;

/// True for the convergences `caller` may read.
pub(crate) fn readable_by(caller: &Caller) -> ConvergenceFilter {
    let public = convergences::visibility.eq(Visibility::Public.as_str());
    match caller.grant() {
        Some(Grant::Node) => Box::new(sql::<Bool>("TRUE")),
        Some(Grant::Convergence(id)) => Box::new(public.or(convergences::id.eq(id))),
        None => Box::new(public),
    }
}
