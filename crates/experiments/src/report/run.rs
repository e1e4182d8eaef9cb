//! `eigenformer reproduce`: run the sections of a profile in-process, write each one's
//! `section.json`, then `REPORT.md` and `REPORT.html` (see [`crate::report`] for the data flow).
//!
//! A section that fails does not stop the others: the report says it failed, with the error, and
//! the command fails after writing the report. Adding a section means adding a [`SectionId`]
//! variant, its sizes in the profile file and its function in [`run_section`].

use super::environment::{environment, RunFacts};
use super::markdown::{render, SectionStatus};
use super::section::{body_without_title, SectionId, SectionResult, Seeds, SCHEMA_VERSION};
use super::{html, ReportError};
use crate::audit::command::AuditArgs;
use crate::profile::{Profile, ProfileSettings, ProfilesFile};
use crate::reproduce::exec::ChildExecutor;
use crate::theory::{TheoryArgs, DEFAULT_RANDOM_LAYERS};
use anyhow::Context as _;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `eigenformer reproduce`.
#[derive(Args, Debug, Clone)]
pub struct ReproduceArgs {
    /// Compute profile; the sizes of every section come from its tables in
    /// `<experiments-dir>/profiles.toml`.
    #[arg(long, value_enum, default_value_t = Profile::Quick)]
    pub profile: Profile,
    /// Run only this section (repeatable); the others are listed as not run.
    #[arg(long = "only", value_enum, value_name = "SECTION")]
    pub only: Vec<SectionId>,
    /// Output directory of REPORT.md, REPORT.html and the sections' directories [default:
    /// reports/<profile>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Directory of the experiment files and of `profiles.toml`.
    #[arg(long, value_name = "DIR", default_value = "experiments")]
    pub experiments_dir: PathBuf,
    /// Print every profile's runs and estimated time (from a throughput probe on this machine)
    /// and exit without running anything.
    #[arg(long)]
    pub plan: bool,
    #[command(flatten)]
    pub jobs: crate::reproduce::parallel::JobsFlag,
}

impl ReproduceArgs {
    /// The output directory: `--out`, or `reports/<profile>`.
    pub fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| Path::new("reports").join(self.profile.name()))
    }

    /// The command line these arguments stand for, for the environment table.
    pub fn command_line(&self) -> String {
        let mut s = format!("eigenformer reproduce --profile {}", self.profile.name());
        for id in &self.only {
            s.push_str(&format!(" --only {}", id.name()));
        }
        s.push_str(&format!(
            " --out {} --experiments-dir {}",
            self.out_dir().display(),
            self.experiments_dir.display()
        ));
        s
    }
}

/// What a reproduction wrote.
#[derive(Debug, Clone)]
pub struct Reproduction {
    /// `<out>/REPORT.md`.
    pub report: PathBuf,
    /// `<out>/REPORT.html`.
    pub html: PathBuf,
    /// Each section's status, in report order.
    pub statuses: Vec<(SectionId, SectionStatus)>,
}

/// What a section function gets.
struct SectionCtx<'a> {
    profile: Profile,
    /// The profile's sizes.
    settings: &'a ProfileSettings,
    /// `<out>/<section>/`, absolute, created before the section runs.
    dir: PathBuf,
    /// The experiments directory, absolute.
    experiments_dir: PathBuf,
    /// Training runs at a time (`--jobs`).
    jobs: usize,
}

fn absolute(path: &Path) -> Result<PathBuf, ReportError> {
    std::path::absolute(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A section's files split into figures (SVG) and tables (CSV); other files are neither.
fn split_by_extension(files: Vec<String>) -> (Vec<String>, Vec<String>) {
    let figures = files
        .iter()
        .filter(|f| f.ends_with(".svg"))
        .cloned()
        .collect();
    let tables = files.into_iter().filter(|f| f.ends_with(".csv")).collect();
    (figures, tables)
}

/// `eigenformer theory` at the profile's number of random instances (seed 0, the default
/// depth), as `cargo xtask reproduce` always ran it.
fn theory(ctx: &SectionCtx<'_>) -> anyhow::Result<SectionResult> {
    let args = TheoryArgs {
        out: ctx.dir.clone(),
        profile: ctx.profile,
        instances: Some(ctx.settings.theory.instances),
        experiments_dir: ctx.experiments_dir.clone(),
        layers: DEFAULT_RANDOM_LAYERS,
        seed: 0,
    };
    let report = crate::theory::execute(&args)?;
    crate::theory::print_summary(&report)?;
    let mut figures = Vec::new();
    let mut tables = Vec::new();
    for e in &report.examples {
        figures.extend([e.plot.clone(), e.spectrum_plot.clone()]);
        tables.push(e.csv.clone());
    }
    tables.push("instances.csv".into());
    let markdown = crate::theory::markdown(&report, report.agreement.instances);
    Ok(SectionResult {
        schema_version: SCHEMA_VERSION,
        section: SectionId::Theory,
        title: SectionId::Theory.title().into(),
        profile: ctx.profile,
        markdown: body_without_title(&markdown),
        claims: report.claims.iter().map(|c| c.claim()).collect(),
        figures,
        tables,
        seeds: Some(Seeds {
            values: vec![report.seed],
            of: "random instances".into(),
        }),
        seconds: 0.0,
    })
}

/// The first `n` test images of the CIFAR-10 JPEG copy as PNG files in `dir` (`00000.png`, …),
/// for the vision audits: a directory of files is what `audit --images` reads.
fn write_test_images(dir: &Path, n: usize) -> anyhow::Result<()> {
    use eigenformer_data::{DatasetKind, Split};
    let test = DatasetKind::Cifar10Jpeg
        .load(Split::Test, None)
        .context("the CIFAR-10 JPEG test images for the vision audits")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let [c, h, w] = test.image_shape();
    if c != 3 {
        anyhow::bail!("expected RGB test images, got {c} channels");
    }
    for i in 0..n.min(test.len()) {
        let px = test.image(i);
        let img = image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let at = |ch: usize| px[ch * h * w + y as usize * w + x as usize];
            image::Rgb([at(0), at(1), at(2)])
        });
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .context("encoding a test image as PNG")?;
        eigenformer_io::write_atomic(&dir.join(format!("{i:05}.png")), &png)?;
    }
    Ok(())
}

/// `eigenformer audit --compare` on the profile's models and sentences of the Brown sample: the
/// side-by-side page `comparison.md` and the verdicts on theory.md §7's claims about pre-trained
/// models.
fn pretrained(ctx: &SectionCtx<'_>) -> anyhow::Result<SectionResult> {
    let sizes = &ctx.settings.pretrained;
    let args = AuditArgs {
        model: sizes.models.clone(),
        text: None,
        sentences: sizes.sentences,
        out: ctx.dir.clone(),
        compare: true,
        control: sizes
            .controls
            .then_some(crate::audit::command::Control::RandomInit),
        ..AuditArgs::default()
    };
    let outcome = crate::audit::command::execute(&args)?;
    let (mut markdown, mut claims) = outcome
        .comparison
        .context("internal: `audit --compare` wrote no comparison")?;
    let mut all_files = outcome.files;
    if !sizes.vision_models.is_empty() && sizes.images > 0 {
        let images = ctx.dir.join("images");
        write_test_images(&images, sizes.images)?;
        let vision_dir = ctx.dir.join("vision");
        let vision = crate::audit::command::execute(&AuditArgs {
            model: sizes.vision_models.clone(),
            images: Some(images),
            sentences: sizes.images,
            out: vision_dir,
            ..args.clone()
        })?;
        let (vision_md, _) = vision
            .comparison
            .context("internal: `audit --compare` wrote no comparison")?;
        all_files.extend(vision.files.iter().map(|f| format!("vision/{f}")));
        // The claims are about every audited model at once (P1 is existential, P2 pools the
        // layers of all of them, P3 needs the pre-LN ones).
        let reports: Vec<&crate::audit::AuditReport> =
            outcome.reports.iter().chain(&vision.reports).collect();
        let controls: Vec<&crate::audit::AuditReport> =
            outcome.controls.iter().chain(&vision.controls).collect();
        claims = crate::audit::claims::check_claims_with_controls(&reports, &controls);
        let vision_body = body_without_title(&vision_md).replace("](", "](vision/");
        markdown.push_str(&format!(
            "\n\n# Vision models on {} CIFAR-10 test images (JPEG q75 copy)\n\n{vision_body}",
            sizes.images
        ));
    }
    let (figures, tables) = split_by_extension(all_files);
    Ok(SectionResult {
        schema_version: SCHEMA_VERSION,
        section: SectionId::Pretrained,
        title: SectionId::Pretrained.title().into(),
        profile: ctx.profile,
        markdown: body_without_title(&markdown),
        claims,
        figures,
        tables,
        seeds: None,
        seconds: 0.0,
    })
}

/// `eigenformer experiments` on the grids of `experiments/*.toml` for the profile (trained runs
/// are cached by configuration hash under the default run cache, so a rerun only trains what is
/// missing).
fn training(ctx: &SectionCtx<'_>) -> anyhow::Result<SectionResult> {
    let opts = crate::reproduce::run::Options {
        profile: ctx.profile,
        experiments_dir: ctx.experiments_dir.clone(),
        out: ctx.dir.clone(),
        runs_dir: crate::reproduce::command::default_runs_dir()?,
        only: Vec::new(),
        progress: true,
        jobs: ctx.jobs,
    };
    let mut exec = ChildExecutor::current()?;
    let section = crate::reproduce::run::run(&opts, &mut exec)
        .with_context(|| format!("the {} experiments", ctx.profile.name()))?;
    crate::reproduce::command::print_summary(&section, &ctx.dir)?;
    let markdown = crate::reproduce::render::markdown(&section);
    let (figures, tables) = split_by_extension(section.files.clone());
    Ok(SectionResult {
        schema_version: SCHEMA_VERSION,
        section: SectionId::Training,
        title: SectionId::Training.title().into(),
        profile: ctx.profile,
        markdown: body_without_title(&markdown),
        claims: section.claims.into_iter().map(|c| c.claim).collect(),
        figures,
        tables,
        seeds: Some(Seeds {
            values: section.seeds,
            of: "each training configuration".into(),
        }),
        seconds: 0.0,
    })
}

/// Run one section into `ctx.dir`.
fn run_section(id: SectionId, ctx: &SectionCtx<'_>) -> anyhow::Result<SectionResult> {
    match id {
        SectionId::Theory => theory(ctx),
        SectionId::Pretrained => pretrained(ctx),
        SectionId::Training => training(ctx),
    }
}

/// Run the sections of `args.profile` (all, or those of `--only`), write each one's
/// `section.json`, then `REPORT.md` and `REPORT.html` from them. Errors when the profile file is
/// unusable, when the report cannot be written, and, after writing it, when a section failed.
pub fn run(args: &ReproduceArgs) -> Result<Reproduction, ReportError> {
    let start = Instant::now();
    let out = absolute(&args.out_dir())?;
    std::fs::create_dir_all(&out).map_err(|source| ReportError::Io {
        path: out.clone(),
        source,
    })?;
    let experiments_dir = absolute(&args.experiments_dir)?;
    // Read once, before anything runs: a broken profile file fails at once, naming the file.
    let profiles = ProfilesFile::in_dir(&experiments_dir)?;
    let settings = profiles.get(args.profile);

    let mut statuses: Vec<(SectionId, SectionStatus)> = Vec::new();
    let mut facts = RunFacts {
        command_line: args.command_line(),
        repository: experiments_dir.clone(),
        ..RunFacts::default()
    };
    let selected: Vec<SectionId> = SectionId::ALL
        .into_iter()
        .filter(|id| args.only.is_empty() || args.only.contains(id))
        .collect();
    for id in SectionId::ALL {
        if !selected.contains(&id) {
            statuses.push((id, SectionStatus::Excluded));
            continue;
        }
        let n = selected.iter().position(|s| *s == id).map_or(0, |i| i + 1);
        eprintln!(
            "reproduce: section {n} of {} `{id}` starts ({} elapsed)",
            selected.len(),
            crate::progress::clock(start.elapsed())
        );
        let ctx = SectionCtx {
            profile: args.profile,
            settings,
            dir: out.join(id.name()),
            experiments_dir: experiments_dir.clone(),
            jobs: args.jobs.jobs(),
        };
        let section_start = Instant::now();
        let result = (|| -> anyhow::Result<()> {
            std::fs::create_dir_all(&ctx.dir)
                .with_context(|| format!("could not create {}", ctx.dir.display()))?;
            // A result left by an earlier run must never stand for this one.
            let stale = ctx.dir.join(super::SECTION_FILE);
            if stale.exists() {
                std::fs::remove_file(&stale)
                    .with_context(|| format!("could not remove {}", stale.display()))?;
            }
            let mut result = run_section(id, &ctx)?;
            result.seconds = section_start.elapsed().as_secs_f64();
            result.write(&ctx.dir)?;
            Ok(())
        })();
        let seconds = section_start.elapsed().as_secs_f64();
        // The report is assembled from what the section wrote, not from what it returned.
        let status = match result
            .and_then(|()| SectionResult::read(&ctx.dir).map_err(anyhow::Error::from))
        {
            Ok(r) => SectionStatus::Done(Box::new(r)),
            Err(e) => {
                eprintln!("reproduce: section `{id}` failed: {e:#}");
                SectionStatus::Failed(format!("{e:#}"))
            }
        };
        // A section that wrote nothing leaves no empty directory behind.
        let _ = std::fs::remove_dir(&ctx.dir);
        facts.parts.push((id.name(), seconds));
        if let SectionStatus::Done(r) = &status {
            if let Some(seeds) = &r.seeds {
                facts.seeds.push((id.name(), seeds.describe()));
            }
        }
        eprintln!(
            "reproduce: section {n} of {} `{id}` finished in {} ({} elapsed): {}",
            selected.len(),
            crate::progress::clock(std::time::Duration::from_secs_f64(seconds)),
            crate::progress::clock(start.elapsed()),
            status.line().replace("**", "")
        );
        statuses.push((id, status));
    }

    facts.wall_seconds = start.elapsed().as_secs_f64();
    let md = render(args.profile, &statuses, &environment(&facts));
    let report = out.join("REPORT.md");
    eigenformer_io::write_atomic(&report, md.as_bytes())?;
    let page = html::page(
        &format!("Eigenformer reproduction report ({})", args.profile.name()),
        &md,
        &out,
    );
    let html_path = out.join("REPORT.html");
    eigenformer_io::write_atomic(&html_path, page.as_bytes())?;
    eigenformer_io::outln!(
        "Report written to {} (and {})",
        report.display(),
        html_path.display()
    )?;

    let failed: Vec<&'static str> = statuses
        .iter()
        .filter(|(_, s)| matches!(s, SectionStatus::Failed(_)))
        .map(|(id, _)| id.name())
        .collect();
    if !failed.is_empty() {
        return Err(ReportError::SectionsFailed {
            sections: failed,
            report,
        });
    }
    Ok(Reproduction {
        report,
        html: html_path,
        statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_profile_file_fails_before_any_section_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("profiles.toml"), "[smoke\n").unwrap();
        let args = ReproduceArgs {
            profile: Profile::Smoke,
            only: vec![SectionId::Theory],
            out: Some(dir.path().join("out")),
            experiments_dir: dir.path().to_path_buf(),
            plan: false,
            jobs: Default::default(),
        };
        let e = run(&args).unwrap_err().to_string();
        assert!(e.contains("profiles.toml"), "{e}");
        assert!(!dir.path().join("out/theory").exists());
    }
}
