//! # kgnode
//!
//! A federated knowledge-graph node. Communities contribute **artifacts** (ideas, questions,
//! proposals, ...) into a **convergence**; artifacts carry weighted **dimension** tags and are
//! linked by typed, weighted **relationships**. The node stores them in PostgreSQL and serves
//! them over an HTTP API; every write also appends to a **change log** that followers (search,
//! graph, federation) tail.
//!
//! Data flows one way: HTTP ([`api`]) → use cases ([`service`]) → one PostgreSQL transaction
//! that writes rows and the change log ([`db`]) → followers. Several processes may serve one
//! database, reading from its streaming replicas ([`db::ReadRouter`]), with one owner per
//! singleton ([`cluster`]).
//!
//! ```no_run
//! use kgnode::config::{Overrides, Settings};
//! use kgnode::startup::Application;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings::load(None, &Overrides::default())?;
//! let app = Application::build(settings).await?;
//! println!("listening on port {}", app.port());
//! app.run_until_stopped().await?;
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod explorer;
pub mod extraction;
pub mod federating;
pub mod graphing;
pub mod indexing;
pub mod input;
pub mod jobs;
pub mod limits;
pub mod metrics;
pub mod portability;
pub mod realtime;
pub mod service;
pub mod startup;
pub mod telemetry;
pub mod urls;
pub mod workers;
