//! analysis: statistics over the stored feature vectors ([`cluster`]: hidden experiment arms).
pub mod cluster;
