use super::{GlobalArgs, Outcome};
#[derive(Debug, clap::Args)]
pub struct Args {}
pub fn run(_g: &GlobalArgs, _a: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("todo")
}
