//! Integration tests for kgnode. One test binary; every test starts real nodes on random ports,
//! each with a fresh PostgreSQL database of its own that is dropped afterwards.
//!
//! `DATABASE_URL` names the PostgreSQL *server* to create throwaway databases on (default
//! `postgres://postgres@localhost:5432/postgres`). `TEST_LOG=1` shows the nodes' logs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod access;
mod accounts;
mod artifacts;
mod bad_input;
mod batch;
mod change_log;
mod cli;
mod cluster;
mod contributions;
mod convergences;
mod dimensions;
mod explorer;
mod fake_mastodon;
mod fake_openai;
mod federation;
mod graph;
mod harness;
mod health;
mod limits;
mod metrics;
mod migrations;
mod openai_extraction;
mod portability;
mod realtime;
mod relationships;
mod replica_server;
mod replicas;
mod roles;
mod schema_keys;
mod search;
mod shutdown;
mod transport;
