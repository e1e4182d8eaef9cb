//! The `eigenformer` command-line tool: argument parsing and one library call per subcommand.

use anyhow::{Context, Result};
use clap::Parser;
use eigenformer_experiments::{audit, eval, report, reproduce, theory, train};
use eigenformer_io::stdout::{is_broken_pipe, BROKEN_PIPE_EXIT};
use std::io::Write as _;
use std::process::ExitCode;

mod commands;

/// Measure, predict and control oversmoothing in Transformers.
#[derive(Parser, Debug)]
#[command(name = "eigenformer", version, about)]
enum Cli {
    /// Per-layer spectra and token smoothing of a pre-trained text Transformer on real sentences.
    Audit(audit::command::AuditArgs),
    /// Time full training steps of a ViT preset on random data (images per second).
    BenchStep(train::bench_step::BenchStepArgs),
    /// Spectra of A and H, the dominating pair of X + A X H and the regime it predicts.
    Spectrum(commands::spectrum::SpectrumArgs),
    /// Iterate X + A X H for L layers and write the smoothing metrics per layer (CSV).
    Simulate(commands::simulate::SimulateArgs),
    /// The theory report: regime examples, prediction vs simulation on random instances, claim checks.
    Theory(theory::TheoryArgs),
    /// Resolve, verify and cache a data set (official URL, then registry fallbacks); print its directory.
    Fetch(commands::fetch::FetchArgs),
    /// Train a ViT on an image dataset: metrics, diagnostics and checkpoints after every epoch.
    Train(Box<train::command::TrainArgs>),
    /// Test accuracy of a `train` checkpoint.
    Eval(eval::EvalArgs),
    /// The paper's training experiments of a profile (experiments/*.toml): cached runs, tables, figures, claims.
    Experiments(reproduce::command::ExperimentsArgs),
    /// The whole reproduction of a profile: theory, pre-trained audits and training in-process, then REPORT.md and REPORT.html.
    Reproduce(report::ReproduceArgs),
}

/// Exit status and message of a finished command: 0; [`BROKEN_PIPE_EXIT`] without a message when
/// standard output was closed (`eigenformer spectrum --json | head -1`); otherwise the error
/// chain on stderr (as `fn main() -> Result` prints it) and 1.
fn main() -> ExitCode {
    eigenformer_tensor::memory::retain_freed_memory();
    eigenformer_linalg::use_sequential_factorisations();
    quiet_on_closed_pipes();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.chain().any(is_broken_pipe) => ExitCode::from(BROKEN_PIPE_EXIT),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "Error: {e:?}");
            ExitCode::FAILURE
        }
    }
}

/// The last resort for a closed pipe that a print outside [`eigenformer_io::outln!`] meets (an
/// `eprintln!` of a warning into a closed `2>&1 | head`, a progress line): std's print macros
/// panic with "failed printing to stdout: Broken pipe", which would print a panic message and
/// exit 101. Such a panic ends the process quietly with [`BROKEN_PIPE_EXIT`], as `SIGPIPE` ends
/// a C tool; every other panic goes to the default hook.
fn quiet_on_closed_pipes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(i32::from(BROKEN_PIPE_EXIT));
        }
        default(info);
    }));
}

fn run(cli: Cli) -> Result<()> {
    match cli {
        Cli::Audit(args) => audit::command::run(&args),
        Cli::BenchStep(args) => train::bench_step::run(&args),
        Cli::Spectrum(args) => commands::spectrum::run(&args),
        Cli::Simulate(args) => commands::simulate::run(&args),
        Cli::Theory(args) => theory::run(&args),
        Cli::Fetch(args) => commands::fetch::run(&args),
        Cli::Train(args) => train::command::run(&args),
        Cli::Eval(args) => eval::run(&args),
        Cli::Experiments(args) => reproduce::command::run(&args),
        Cli::Reproduce(args) if args.plan => report::plan::run(&args),
        Cli::Reproduce(args) => report::run(&args)
            .map(|_| ())
            .with_context(|| format!("eigenformer reproduce --profile {}", args.profile)),
    }
}
