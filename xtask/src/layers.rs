//! The layering check: no crate may depend on a crate above it.

use anyhow::Result;

pub fn run() -> Result<()> {
    Ok(())
}
