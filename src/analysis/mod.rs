//! analysis: statistics over the per-session feature vectors. [`stats`] is
//! the pure, I/O-free toolkit; [`cluster`] finds hidden experiment arms;
//! [`audit`] compares a window of sessions with a baseline.

pub mod arms;
pub mod audit;
pub mod classify;
pub mod cluster;
pub mod mechanisms;
pub mod stats;
