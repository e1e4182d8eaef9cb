//! Arbitrary text through the experiment-file loader of `eigenformer experiments`
//! (`eigenformer_experiments::reproduce::spec`): `profiles.toml` and one experiment file,
//! expanded for each profile. Every input must give experiments or a `ReproError` naming the
//! file, never a panic, and never a grid too large to hold.
//!
//! Input layout: with a NUL byte, the text before it is `profiles.toml` and the text after it
//! the experiment; without one, the input is the experiment and the repository's
//! `experiments/profiles.toml` the base.

#![no_main]

use eigenformer_experiments::reproduce::spec::{
    base_from_str, experiment_from_str, Profile, MAX_GRID_RUNS,
};
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

const PROFILES: &str = include_str!("../../experiments/profiles.toml");

/// The repository's base settings per profile, parsed once (most inputs have no NUL and use
/// them; parsing them again for every input would triple the cost of an execution).
fn repository_bases() -> &'static [Option<toml::Table>; 3] {
    static BASES: OnceLock<[Option<toml::Table>; 3]> = OnceLock::new();
    BASES.get_or_init(|| {
        [Profile::Smoke, Profile::Quick, Profile::Full]
            .map(|p| base_from_str(Path::new("profiles.toml"), PROFILES, p).ok())
    })
}

fuzz_target!(|data: &[u8]| {
    let (profiles, experiment) = match data.iter().position(|&b| b == 0) {
        Some(cut) => (
            Some(String::from_utf8_lossy(&data[..cut]).into_owned()),
            String::from_utf8_lossy(&data[cut + 1..]).into_owned(),
        ),
        None => (None, String::from_utf8_lossy(data).into_owned()),
    };
    for (i, profile) in [Profile::Smoke, Profile::Quick, Profile::Full]
        .into_iter()
        .enumerate()
    {
        let base = match &profiles {
            Some(text) => base_from_str(Path::new("profiles.toml"), text, profile).ok(),
            None => repository_bases()[i].clone(),
        };
        let Some(base) = base else {
            continue;
        };
        if let Ok(Some(e)) =
            experiment_from_str("fuzz", Path::new("fuzz.toml"), &experiment, &base, profile)
        {
            assert!(!e.runs.is_empty() && e.runs.len() <= MAX_GRID_RUNS);
            for run in &e.runs {
                let _ = (run.hash(), run.label(), run.image_steps());
            }
        }
    }
});
