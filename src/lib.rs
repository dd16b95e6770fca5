//! cc-fingerprint: offline fingerprints of Claude Code sessions.
//!
//! Data flows one way: files -> [`source`] (parsed records) -> [`store`]
//! (SQLite) -> [`features`] -> [`analysis`] -> [`report`]. [`cli`] wires the
//! commands; [`simulate`] writes synthetic corpora with a known ground truth.
#![deny(unsafe_code)]

pub mod analysis;
pub mod cli;
pub mod features;
pub mod ingest;
pub mod report;
pub mod simulate;
pub mod source;
pub mod store;
pub mod util;
