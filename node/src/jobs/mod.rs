//! A durable job queue in PostgreSQL, small and general: jobs are rows, claimed with
//! `FOR UPDATE SKIP LOCKED` under a renewed lease, retried with exponential backoff and jitter,
//! and their effects commit in the transaction that marks them succeeded. Several node
//! processes on one database share it. (No crate fits diesel-async; this is the part of
//! graphile-worker or River the node needs.)

mod queue;
mod runner;

pub use queue::{
    DbJob, Failure, JobKind, JobState, LeaseLost, discard, enqueue, fail, renew, retry, succeed,
};
pub use runner::{Attempt, JobError, JobHandler, start_jobs};
