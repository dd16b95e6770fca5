//! `cc-fingerprint simulate`: synthetic corpora with a ground truth (see `crate::simulate`).

use std::path::PathBuf;

use super::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write `projects/` and `truth.json` into.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(_args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("simulate is not implemented yet")
}
