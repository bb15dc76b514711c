//! Deterministic synthetic data.
