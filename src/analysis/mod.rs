//! analysis: statistics over the per-session feature vectors (arms,
//! audits, mechanisms). [`stats`] is the pure, I/O-free toolkit the commands
//! call.

pub mod audit;
pub mod stats;
