//! The reproduction report's shared types: the one claim row and verdict every section decides
//! its claims with.

pub mod claim;

pub use claim::{Claim, Verdict};
