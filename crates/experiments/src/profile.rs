//! The compute profiles (`smoke`, `quick`, `extended`, `gpu`) and the one file that sizes them,
//! `experiments/profiles.toml`.
//!
//! Why one type and one file: every section of the report (theory, pre-trained audits, training)
//! runs at the size its profile asks for, and those sizes used to live in three places (Rust
//! constants in two crates and a TOML file), so a change to one profile could silently leave the
//! others behind. Now `[<profile>.theory]`, `[<profile>.pretrained]` and `[<profile>.training]`
//! sit side by side in one file, each read into a typed table here; the training table stays an
//! untyped [`toml::Table`] because its keys are the flags of `eigenformer train` and its arrays are
//! grid axes, which [`crate::reproduce::spec`] expands.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// How much compute the experiments get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Minimal sizes that exercise the whole pipeline in a few minutes on 2 cores (CI); the
    /// numbers mean nothing.
    Smoke,
    /// Reduced sizes for one workstation: Fashion-MNIST, small ViTs, ≤ 90 minutes on 2 cores.
    Quick,
    /// Overnight on a CPU: the full 60k images, more depths and seeds, the ablations, CIFAR-10.
    Extended,
    /// CIFAR-10 at DeiT-Ti size with the DeiT augmentations, for the CUDA backend.
    Gpu,
}

impl Profile {
    /// Every profile, in the order of the profile file.
    pub const ALL: [Profile; 4] = [
        Profile::Smoke,
        Profile::Quick,
        Profile::Extended,
        Profile::Gpu,
    ];

    /// The profile's name (also its table name in the profile file).
    pub fn name(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Quick => "quick",
            Profile::Extended => "extended",
            Profile::Gpu => "gpu",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The file name of the profile file inside the experiments directory.
pub const PROFILES_FILE: &str = "profiles.toml";

/// Sizes of the theory section (`eigenformer theory`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheorySizes {
    /// Random instances of the agreement table and of each claim check.
    pub instances: usize,
}

/// Sizes of the pre-trained section (`eigenformer audit --compare`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainedSizes {
    /// The models audited side by side (built-in names or model directories).
    pub models: Vec<String>,
    /// The first N sentences of the text.
    pub sentences: usize,
    /// Audit a random-init twin of every model beside it (`audit --control random-init`), the
    /// control of claim P2.
    #[serde(default)]
    pub controls: bool,
    /// Vision models audited on images (`audit --images`) beside the text models; their
    /// claims are checked together with the text models'.
    #[serde(default)]
    pub vision_models: Vec<String>,
    /// The first N test images of the CIFAR-10 JPEG copy, written as PNG files and upscaled by
    /// each model's own preprocessing (for the vision models).
    #[serde(default)]
    pub images: usize,
}

/// Everything one profile sets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSettings {
    /// `[<profile>.theory]`.
    pub theory: TheorySizes,
    /// `[<profile>.pretrained]`.
    pub pretrained: PretrainedSizes,
    /// `[<profile>.training]`: the base settings every training experiment starts from (keys are
    /// flags of `eigenformer train`, arrays are grid axes).
    pub training: toml::Table,
}

/// `experiments/profiles.toml` as written: one table per profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesFile {
    pub smoke: ProfileSettings,
    pub quick: ProfileSettings,
    pub extended: ProfileSettings,
    pub gpu: ProfileSettings,
}

/// Why the profile file could not be used; every variant names the file.
#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Toml {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{}: [{profile}.{section}]: {message}", .path.display())]
    Invalid {
        path: PathBuf,
        profile: Profile,
        section: &'static str,
        message: String,
    },
}

impl ProfilesFile {
    /// Parse the text of a profile file (`path` only names it in errors) and check the sizes.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProfileError> {
        let file: ProfilesFile = toml::from_str(text).map_err(|source| ProfileError::Toml {
            path: path.to_path_buf(),
            source,
        })?;
        for profile in Profile::ALL {
            let s = file.get(profile);
            let invalid = |section, message: &str| ProfileError::Invalid {
                path: path.to_path_buf(),
                profile,
                section,
                message: message.to_string(),
            };
            if s.theory.instances == 0 {
                return Err(invalid("theory", "instances must be at least 1"));
            }
            if s.pretrained.models.is_empty() {
                return Err(invalid("pretrained", "models is empty"));
            }
            if s.pretrained.sentences == 0 {
                return Err(invalid("pretrained", "sentences must be at least 1"));
            }
        }
        Ok(file)
    }

    /// Read and parse the profile file at `path`.
    pub fn read(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// The profile file of an experiments directory (`<dir>/profiles.toml`).
    pub fn in_dir(experiments_dir: &Path) -> Result<Self, ProfileError> {
        Self::read(&experiments_dir.join(PROFILES_FILE))
    }

    /// The settings of `profile`.
    pub fn get(&self, profile: Profile) -> &ProfileSettings {
        match profile {
            Profile::Smoke => &self.smoke,
            Profile::Quick => &self.quick,
            Profile::Extended => &self.extended,
            Profile::Gpu => &self.gpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "[theory]\ninstances = 10\n[pretrained]\nmodels = [\"minilm\"]\n\
                       sentences = 5\n[training]\nseed = [0, 1]\n";

    fn file(smoke: &str) -> String {
        let mut s = String::new();
        for (name, body) in [
            ("smoke", smoke),
            ("quick", ONE),
            ("extended", ONE),
            ("gpu", ONE),
        ] {
            for line in body.lines() {
                match line.strip_prefix('[') {
                    Some(rest) => s.push_str(&format!("[{name}.{rest}\n")),
                    None => s.push_str(&format!("{line}\n")),
                }
            }
        }
        s
    }

    #[test]
    fn every_profile_has_its_three_sections() {
        let f = ProfilesFile::parse(Path::new("p.toml"), &file(ONE)).unwrap();
        let s = f.get(Profile::Smoke);
        assert_eq!(s.theory.instances, 10);
        assert_eq!(s.pretrained.models, ["minilm"]);
        assert_eq!(s.pretrained.sentences, 5);
        assert!(s.training["seed"].is_array());
    }

    #[test]
    fn bad_files_are_errors_naming_the_file_and_table() {
        let err = |text: &str| {
            ProfilesFile::parse(Path::new("p.toml"), text)
                .unwrap_err()
                .to_string()
        };
        let e = err(&file(&ONE.replace("instances = 10", "instances = 0")));
        assert!(e.contains("p.toml") && e.contains("[smoke.theory]"), "{e}");
        let e = err(&file(&ONE.replace("models = [\"minilm\"]", "models = []")));
        assert!(e.contains("[smoke.pretrained]"), "{e}");
        // A missing section, an unknown key and garbage are TOML errors naming the file.
        let e = err(&file(&ONE.replace("[theory]\ninstances = 10\n", "")));
        assert!(e.contains("p.toml") && e.contains("theory"), "{e}");
        let e = err(&file(
            &ONE.replace("sentences = 5", "sentences = 5\nsentenses = 5"),
        ));
        assert!(e.contains("sentenses"), "{e}");
        assert!(err("not toml [").contains("p.toml"));
    }

    #[test]
    fn the_committed_file_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments");
        let f = ProfilesFile::in_dir(&dir).unwrap();
        assert_eq!(f.get(Profile::Smoke).theory.instances, 100);
        assert_eq!(f.get(Profile::Smoke).pretrained.models, ["minilm"]);
        assert_eq!(f.get(Profile::Extended).pretrained.sentences, 1811);
    }
}
